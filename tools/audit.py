"""Dependency audit: pip-audit over every package pinned in poetry.lock (``make audit``, part of ``make lint``).

pip-audit asks a vulnerability database about each pinned version (OSV, which includes the PyPA and
GitHub advisory databases, by default; PyPI's per-release JSON with ``--service pypi``)
and reports known vulnerabilities with the versions that fix them. This script turns its JSON report
into a verdict:

- a known vulnerability not listed in ``audit-ignore.toml`` (each entry with the reason it does not
  apply or cannot be fixed yet) fails the audit, naming the package, the advisory and the fix;
- a package no database could answer for is listed as *not audited*; that fails only with
  ``--require`` (``AUDIT_REQUIRE=1``), for machines that must audit everything.

When the per-release database answers for no package at all (this project's development machines
reach PyPI only through a mirror that answers 404 for per-release JSON, and cannot reach OSV), the
audit falls back to PyPI's project pages: a project's page lists the known vulnerabilities of its
*latest* release, so every pin that is its project's latest release is audited exactly; older pins
are listed as not audited.

Usage: python tools/audit.py [--requirements FILE] [--service osv|pypi] [--require]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ROOT / "audit-ignore.toml"
PYPI_JSON = os.environ.get("AUDIT_PYPI_JSON_URL", "https://pypi.org/pypi")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


@dataclass
class Verdict:
    """What an audit report means for the build."""

    vulnerable: list[str] = field(default_factory=list)  # "package version: ID (fix: ...)"
    ignored: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: int = 0

    @property
    def database_unreachable(self) -> bool:
        """Not one package could be looked up."""
        return self.audited == 0 and bool(self.unaudited)

    def exit_code(self, require: bool) -> int:
        """0 when the build may go on: no unaccepted vulnerability (and, if required, nothing unaudited)."""
        return 1 if self.vulnerable or (require and self.unaudited) else 0


def load_ignores(path: Path = IGNORE_FILE) -> dict[str, str]:
    """Advisory id -> why it is accepted; every entry must give a reason."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("ignore", [])
    ignores = {}
    for entry in entries:
        if not entry.get("id") or not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{path.name}: every [[ignore]] entry needs an id and a reason: {entry}")
        ignores[entry["id"]] = entry["reason"]
    return ignores


def judge(report: dict, ignores: dict[str, str]) -> Verdict:
    """Sort pip-audit's JSON report (``--format json``) into vulnerable, ignored and unaudited."""
    verdict = Verdict()
    for dependency in report.get("dependencies", []):
        name, version = dependency.get("name"), dependency.get("version")
        if dependency.get("skip_reason"):
            verdict.unaudited.append(f"{name}: {dependency['skip_reason']}")
            continue
        verdict.audited += 1
        for vuln in dependency.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none released"
            line = f"{name} {version}: {vuln['id']} (fixed in: {fixes})"
            accepted = sorted(ids & ignores.keys())
            if accepted:
                verdict.ignored.append(f"{line} - accepted in {IGNORE_FILE.name}: {ignores[accepted[0]][:60]}...")
            else:
                verdict.vulnerable.append(line)
    return verdict


def run_pip_audit(requirements: Path, service: str) -> dict:
    """pip-audit's JSON report on a hash-pinned requirements file (no resolution, no pip run).

    A database that cannot be connected to at all is reported as every package skipped.
    """
    command = [
        sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps", "--disable-pip",
        "--format", "json", "--progress-spinner", "off", "--vulnerability-service", service, "--timeout", "20",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        if "ConnectionError" in result.stderr:
            reason = f"the {service} vulnerability database cannot be connected to"
            return {"dependencies": [{"name": name, "skip_reason": reason} for name in pins(requirements)]}
        raise SystemExit(f"pip-audit gave no report (exit {result.returncode}):\n{result.stderr[-2000:]}") from None


def pins(requirements: Path) -> dict[str, str]:
    """Package -> pinned version of an exported, hash-pinned requirements file."""
    found = {}
    for line in requirements.read_text().splitlines():
        if match := PIN.match(line):
            found[match.group(1).lower()] = match.group(2)
    return found


def project_page_report(pinned: dict[str, str]) -> dict:
    """A pip-audit-shaped report from PyPI's project pages: exact for pins that are the latest release."""

    def one(item: tuple[str, str]) -> dict:
        name, version = item
        try:
            page = requests.get(f"{PYPI_JSON}/{name}/json", timeout=20)
            page.raise_for_status()
            project = page.json()
        except (requests.RequestException, ValueError):
            return {"name": name, "skip_reason": "its PyPI project page cannot be read"}
        latest = project.get("info", {}).get("version")
        if latest != version:
            return {"name": name, "skip_reason": f"pinned {version}, not the latest release ({latest})"}
        vulns = [
            {"id": v["id"], "fix_versions": v.get("fixed_in") or [], "aliases": v.get("aliases") or []}
            for v in project.get("vulnerabilities") or []
            if not v.get("withdrawn")
        ]
        return {"name": name, "version": version, "vulns": vulns}

    with ThreadPoolExecutor(max_workers=16) as pool:
        return {"dependencies": list(pool.map(one, sorted(pinned.items())))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / ".tools" / "requirements.txt")
    parser.add_argument("--service", choices=("osv", "pypi"), default="osv")
    parser.add_argument("--require", action="store_true", default=os.environ.get("AUDIT_REQUIRE") == "1",
                        help="fail when any pinned package could not be audited")  # fmt: skip
    args = parser.parse_args()
    ignores = load_ignores()
    verdict = judge(run_pip_audit(args.requirements, args.service), ignores)
    source = f"pip-audit ({args.service} database)"
    if verdict.database_unreachable:
        print(f"audit: the {args.service} vulnerability database answered for no package "
              f"({verdict.unaudited[0]}); falling back to PyPI's project pages")  # fmt: skip
        verdict = judge(project_page_report(pins(args.requirements)), ignores)
        source = "PyPI project pages (latest releases only)"
    for line in verdict.ignored:
        print(f"audit: accepted    {line}")
    for line in verdict.unaudited:
        print(f"audit: NOT AUDITED {line}")
    for line in verdict.vulnerable:
        print(f"audit: VULNERABLE  {line}")
    total = verdict.audited + len(verdict.unaudited)
    print(f"audit: {verdict.audited} of {total} pinned packages audited via {source}; "
          f"{len(verdict.vulnerable)} unaccepted and {len(verdict.ignored)} accepted known vulnerabilities"
          + (" (AUDIT_REQUIRE=1: every package must be audited)" if args.require else ""))  # fmt: skip
    return verdict.exit_code(args.require)


if __name__ == "__main__":
    sys.exit(main())
