"""The dependency audit's verdict (tools/audit.py) on pip-audit's JSON report: a unit test of one unit.

pip-audit itself cannot reach a vulnerability database on these machines (see the README), so these
reports are written in pip-audit 2.10's ``--format json`` shape by hand.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from tools import audit
from tools.audit import judge, load_ignores

CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
VULNERABLE = {
    "name": "werkzeug",
    "version": "3.0.0",
    "vulns": [{"id": "GHSA-aaaa-bbbb-cccc", "fix_versions": ["3.0.6"], "aliases": ["CVE-2024-0001"],
               "description": "..."}],
}  # fmt: skip
SKIPPED = {"name": "mlflow", "skip_reason": "Dependency not found on PyPI and could not be audited: mlflow (3.17.2)"}


def test_a_known_vulnerability_fails_the_audit_and_names_the_fix():
    verdict = judge({"dependencies": [CLEAN, VULNERABLE]}, {})
    assert verdict.vulnerable == ["werkzeug 3.0.0: GHSA-aaaa-bbbb-cccc (fixed in: 3.0.6)"]
    assert verdict.exit_code(require=False) == 1


def test_an_accepted_vulnerability_passes_with_its_reason_by_id_or_alias():
    for key in ("GHSA-aaaa-bbbb-cccc", "CVE-2024-0001"):
        verdict = judge({"dependencies": [CLEAN, VULNERABLE]}, {key: "only the debugger is affected; it is off"})
        assert not verdict.vulnerable and "accepted in audit-ignore.toml: only the debugger" in verdict.ignored[0]
        assert verdict.exit_code(require=True) == 0


def test_a_clean_report_passes():
    verdict = judge({"dependencies": [CLEAN, {**CLEAN, "name": "numpy"}]}, {})
    assert verdict.audited == 2 and verdict.exit_code(require=True) == 0


def test_an_unreachable_database_is_reported_and_fails_only_when_required():
    verdict = judge({"dependencies": [SKIPPED, {**SKIPPED, "name": "numpy"}]}, {})
    assert verdict.database_unreachable
    assert verdict.exit_code(require=False) == 0 and verdict.exit_code(require=True) == 1


def test_packages_not_audited_are_listed_and_fail_only_when_required():
    verdict = judge({"dependencies": [CLEAN, SKIPPED]}, {})
    assert not verdict.database_unreachable and verdict.unaudited == [f"mlflow: {SKIPPED['skip_reason']}"]
    assert verdict.exit_code(require=False) == 0 and verdict.exit_code(require=True) == 1


def test_ignore_entries_need_a_reason(tmp_path: Path):
    ignores = tmp_path / "audit-ignore.toml"
    ignores.write_text('[[ignore]]\nid = "GHSA-1"\nreason = "not reachable from mlservice"\n')
    assert load_ignores(ignores) == {"GHSA-1": "not reachable from mlservice"}
    ignores.write_text('[[ignore]]\nid = "GHSA-1"\nreason = " "\n')
    with pytest.raises(SystemExit, match="needs an id and a reason"):
        load_ignores(ignores)


def test_the_committed_ignore_file_is_valid():
    assert isinstance(load_ignores(), dict)


class ProjectPages(http.server.BaseHTTPRequestHandler):
    """PyPI's JSON API for three projects: one pinned at its latest release with an advisory, one
    pinned at an older release, one with a withdrawn advisory; anything else is 404."""

    PAGES: ClassVar[dict[str, dict]] = {
        "diskcache": {"info": {"version": "5.6.3"}, "vulnerabilities": [
            {"id": "GHSA-w8v5-vhqr-4h9v", "aliases": ["PYSEC-2026-2447"], "fixed_in": [], "withdrawn": None}]},
        "mlflow": {"info": {"version": "3.18.0"}, "vulnerabilities": []},
        "flask": {"info": {"version": "3.1.3"}, "vulnerabilities": [
            {"id": "GHSA-old", "aliases": [], "fixed_in": ["3.1.4"], "withdrawn": "2026-01-01T00:00:00"}]},
    }  # fmt: skip

    def do_GET(self):  # noqa: N802 - the handler protocol's name
        name = self.path.strip("/").split("/")[-2]  # /pypi/<name>/json
        body = json.dumps(self.PAGES[name]).encode() if name in self.PAGES else b"{}"
        self.send_response(200 if name in self.PAGES else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_project_page_fallback_audits_pins_at_the_latest_release(monkeypatch: pytest.MonkeyPatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProjectPages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(audit, "PYPI_JSON", f"http://127.0.0.1:{server.server_port}/pypi")
        pinned = {"diskcache": "5.6.3", "mlflow": "3.17.2", "flask": "3.1.3", "gone": "1.0"}
        verdict = judge(audit.project_page_report(pinned), {})
    finally:
        server.shutdown()
        server.server_close()
    assert verdict.vulnerable == ["diskcache 5.6.3: GHSA-w8v5-vhqr-4h9v (fixed in: none released)"]
    assert verdict.audited == 2  # diskcache and flask (whose only advisory was withdrawn)
    assert sorted(verdict.unaudited) == [
        "gone: its PyPI project page cannot be read",
        "mlflow: pinned 3.17.2, not the latest release (3.18.0)",
    ]
    assert verdict.exit_code(require=False) == 1


def test_pins_are_read_from_the_exported_lock(tmp_path: Path):
    exported = tmp_path / "requirements.txt"
    exported.write_text(
        'Flask==3.1.3 ; python_version >= "3.11" \\\n    --hash=sha256:00\nnumpy==2.4.6 \\\n    --hash=sha256:11\n'
    )
    assert audit.pins(exported) == {"flask": "3.1.3", "numpy": "2.4.6"}
