"""``make run``: the whole service natively on the embedded default, no Docker.

Starts, through ``docker/entrypoint.sh`` (the image's own entrypoint):
  - an MLflow tracking server on 5002 with a SQLite backend and a local artifact folder under the
    git-ignored state directory (``.state/``) - skipped when MLFLOW_TRACKING_URI points elsewhere;
  - the REST API on 5000 (gunicorn), the gRPC server on 50051, and the dashboard on 8501 when present.
Each process's output is prefixed with its name; Ctrl-C (or any process dying) stops them all.
A second ``make run`` reuses ``.state/``, so models persist.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from mlservice.identity.auth import ensure_local_token
from mlservice.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")
COLOURS = {"mlflow": "35", "rest": "32", "grpc": "36", "dashboard": "33"}


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pump(name: str, stream) -> None:
    """Copy a child's output to ours, each line prefixed with the child's name."""
    prefix = f"\033[{COLOURS.get(name, '0')}m{name:>9} |\033[0m " if sys.stdout.isatty() else f"{name:>9} | "
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


def ready(url: str) -> bool:
    """Whether url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  # local health URLs
            return response.status == 200
    except OSError:
        return False


def main() -> int:  # pylint: disable=too-many-locals,too-many-branches,too-many-statements  # one linear script
    """Start everything, wait until it answers, print the URLs, supervise until Ctrl-C."""
    settings = Settings()
    state = settings.state_dir.resolve()
    train_csv = ROOT / "data" / "train.csv"
    if not train_csv.exists() and (ROOT / "data" / "make_train_csv.py").exists():
        # the DVC-tracked sample dataset; the script writes exactly the bytes data/train.csv.dvc records
        subprocess.run([sys.executable, "data/make_train_csv.py"], cwd=ROOT, check=True)
    (state / "artifacts").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("MLSERVICE_HOST", settings.host)
    env.setdefault("API_URL", f"http://127.0.0.1:{settings.rest_port}")  # the dashboard's REST API
    env.setdefault("DASHBOARD_URL", f"http://127.0.0.1:{settings.dashboard_port}")
    embedded_mlflow = "MLFLOW_TRACKING_URI" not in os.environ
    if embedded_mlflow:
        env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{settings.mlflow_port}"
        env["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{state / 'mlflow.db'}"
        env["MLFLOW_ARTIFACTS_DESTINATION"] = str(state / "artifacts")
        env.setdefault("MLFLOW_WORKERS", "1")
        env.setdefault("MLFLOW_UI_URL", env["MLFLOW_TRACKING_URI"])

    roles = (["mlflow"] if embedded_mlflow else []) + ["rest", "grpc"]
    if (ROOT / "dashboard.py").exists():
        roles.append("dashboard")
    ports = {
        "mlflow": settings.mlflow_port,
        "rest": settings.rest_port,
        "grpc": settings.grpc_port,
        "dashboard": settings.dashboard_port,
    }
    busy = [f"{role} ({ports[role]})" for role in roles if port_in_use("127.0.0.1", ports[role])]
    if busy:
        print(
            f"Ports already in use: {', '.join(busy)}. Stop what holds them (./stop_all.sh for Docker mode) "
            "or set MLSERVICE_*_PORT.",
            file=sys.stderr,
        )
        return 1

    children: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def stop_all(*_args) -> None:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    def start(role: str) -> None:
        child = subprocess.Popen(  # pylint: disable=consider-using-with
            [ENTRYPOINT, role],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        children[role] = child
        threading.Thread(target=pump, args=(role, child.stdout), daemon=True).start()

    health = {
        "mlflow": f"http://127.0.0.1:{settings.mlflow_port}/health",
        "rest": f"http://127.0.0.1:{settings.rest_port}/health",
        "dashboard": f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health",
    }
    try:
        if embedded_mlflow:
            start("mlflow")
            deadline = time.monotonic() + 120
            while not ready(health["mlflow"]) and not stopping.is_set():
                if children["mlflow"].poll() is not None or time.monotonic() > deadline:
                    print("MLflow server did not start; see its output above.", file=sys.stderr)
                    return 1
                time.sleep(0.3)
        for role in roles:
            if role != "mlflow":
                start(role)
        deadline = time.monotonic() + 120
        waiting = [r for r in roles if r in health]
        while waiting and not stopping.is_set() and time.monotonic() < deadline:
            waiting = [r for r in waiting if not ready(health[r])]
            if any(c.poll() is not None for c in children.values()):
                break
            time.sleep(0.3)
        if not stopping.is_set() and all(c.poll() is None for c in children.values()):
            if settings.github_enabled:
                sign_in = f"  Sign in                http://127.0.0.1:{settings.rest_port}/login (GitHub)\n"
            else:
                token = ensure_local_token(settings)
                sign_in = (
                    f"  Local API token        {token}  (kept in {settings.local_token_path})\n"
                    f"  Try it                 curl -H 'Authorization: Bearer {token}' "
                    f"http://127.0.0.1:{settings.rest_port}/models\n"
                )
            print(
                "\nmlservice is up (Ctrl-C stops everything):\n"
                f"  Swagger UI / REST API  http://127.0.0.1:{settings.rest_port}/\n"
                f"  gRPC                   127.0.0.1:{settings.grpc_port}\n"
                f"  MLflow UI              {env['MLFLOW_TRACKING_URI']}\n"
                + (
                    f"  Dashboard              http://127.0.0.1:{settings.dashboard_port}/\n"
                    if "dashboard" in roles
                    else ""
                )
                + sign_in
                + f"  State                  {state}\n",
                flush=True,
            )
        while not stopping.is_set():
            dead = [role for role, child in children.items() if child.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} exited; stopping everything.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
