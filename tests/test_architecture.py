"""The layout's promises (docs/ARCHITECTURE.md) that import-linter cannot check: the top-level entry
points' imports, the size of modules and functions, and that importing the REST app stays light.

The rules between the package's parts are import-linter contracts in pyproject.toml (``make lint``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GENERATED = {"app_pb2.py", "app_pb2_grpc.py", "inference_pb2.py", "inference_pb2_grpc.py"}
MAX_MODULE_LINES = 400  # the dashboard page is exempt: one Streamlit script per page is how Streamlit reads
MAX_FUNCTION_LINES = 60
ENTRY_POINTS = ("app.py", "grpc_server.py", "dashboard.py", "models.py")


def service_sources() -> list[Path]:
    """The service's own Python: the package and the top-level entry points (not tests, bench or tools)."""
    top = [path for path in ROOT.glob("*.py") if path.name not in GENERATED]
    return sorted(top + list((ROOT / "mlservice").rglob("*.py")))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("path", service_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path: Path):
    if path.name == "dashboard.py" and path.parent == ROOT:
        pytest.skip("the Streamlit page is one script by design")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by job"


@pytest.mark.parametrize("path", service_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_stay_short(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_the_dashboard_page_imports_only_its_client():
    forbidden = ("mlservice.core", "mlservice.rest", "mlservice.grpc", "mlservice.identity", "mlservice.jobs",
                 "models", "app", "grpc_server", "sklearn", "mlflow")  # fmt: skip
    wrong = sorted(name for name in imported_modules(ROOT / "dashboard.py") if _under(name, forbidden))
    assert not wrong, f"dashboard.py imports {wrong}; it talks to the REST API through mlservice.dashboard only"


def test_the_core_facade_imports_no_front_end():
    forbidden = ("mlservice.rest", "mlservice.grpc", "mlservice.dashboard", "mlservice.identity.flask_adapter",
                 "mlservice.identity.grpc_adapter", "app", "grpc_server", "dashboard", "flask", "grpc",
                 "streamlit")  # fmt: skip
    wrong = sorted(name for name in imported_modules(ROOT / "models.py") if _under(name, forbidden))
    assert not wrong, f"models.py imports {wrong}"


@pytest.mark.parametrize(("entry", "other"), [("app.py", "grpc_server"), ("grpc_server.py", "app")])
def test_the_rest_and_grpc_entry_points_do_not_import_each_other(entry: str, other: str):
    names = imported_modules(ROOT / entry)
    assert not any(_under(name, (other, "mlservice.rest" if other == "app" else "mlservice.grpc")) for name in names)


def test_entry_points_stay_thin():
    for entry in ENTRY_POINTS[:2]:
        lines = len((ROOT / entry).read_text(encoding="utf-8").splitlines())
        assert lines <= 80, f"{entry} is an entry point: its logic belongs in the mlservice package"


@pytest.mark.integration  # a fresh interpreter: the test session itself has long imported scikit-learn
def test_importing_and_creating_the_rest_app_loads_neither_sklearn_nor_mlflow(tmp_path: Path):
    script = (
        "import sys\n"
        "import app\n"
        "from mlservice.settings import Settings\n"
        f"application = app.create_app(Settings(state_dir={str(tmp_path)!r}, "
        f"database_url='sqlite:///{tmp_path}/db.sqlite'))\n"
        "application.test_client().get('/swagger.json')\n"
        "print(sorted(m for m in ('sklearn', 'mlflow', 'models') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=True)  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
