"""``make run``: the whole service natively on the embedded default, no Docker.

Starts, through ``docker/entrypoint.sh`` (the image's own entrypoint):
  - an MLflow tracking server on 5002 with a SQLite backend and a local artifact folder under the
    git-ignored state directory (``.state/``) - skipped when MLFLOW_TRACKING_URI points elsewhere;
  - the REST API on 5000 (granian), the gRPC server on 50051, and the dashboard on 8501.
Each process's output is prefixed with its name; Ctrl-C (or any process dying) stops them all.
A second ``make run`` reuses ``.state/``, so models persist. Run: ``python -m mlservice.launcher``.
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

from mlservice.identity.tokens import ensure_local_token
from mlservice.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")
COLOURS = {"mlflow": "35", "rest": "32", "grpc": "36", "dashboard": "33"}
START_SECONDS = 120


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


class Launcher:
    """The processes of the embedded default: their environment, start, readiness and supervision."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = settings.state_dir.resolve()
        self.embedded_mlflow = "MLFLOW_TRACKING_URI" not in os.environ
        self.roles = (["mlflow"] if self.embedded_mlflow else []) + ["rest", "grpc", "dashboard"]
        self.ports = {"mlflow": settings.mlflow_port, "rest": settings.rest_port, "grpc": settings.grpc_port,
                      "dashboard": settings.dashboard_port}  # fmt: skip
        self.health = {
            "mlflow": f"http://127.0.0.1:{settings.mlflow_port}/health",
            "rest": f"http://127.0.0.1:{settings.rest_port}/health",
            "dashboard": f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health",
        }
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("MLSERVICE_HOST", self.settings.host)
        env.setdefault("API_URL", f"http://127.0.0.1:{self.settings.rest_port}")  # the dashboard's REST API
        env.setdefault("DASHBOARD_URL", f"http://127.0.0.1:{self.settings.dashboard_port}")
        if self.embedded_mlflow:
            env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{self.settings.mlflow_port}"
            env["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{self.state / 'mlflow.db'}"
            env["MLFLOW_ARTIFACTS_DESTINATION"] = str(self.state / "artifacts")
            env.setdefault("MLFLOW_WORKERS", "1")
            env.setdefault("MLFLOW_UI_URL", env["MLFLOW_TRACKING_URI"])
        return env

    def prepare(self) -> str | None:
        """The state folder and the DVC-tracked sample; a message when a port is taken."""
        train_csv = ROOT / "data" / "train.csv"
        if not train_csv.exists() and (ROOT / "data" / "make_train_csv.py").exists():
            # the DVC-tracked sample dataset; the script writes exactly the bytes data/train.csv.dvc records
            subprocess.run([sys.executable, "data/make_train_csv.py"], cwd=ROOT, check=True)
        (self.state / "artifacts").mkdir(parents=True, exist_ok=True)
        busy = [f"{role} ({self.ports[role]})" for role in self.roles if port_in_use("127.0.0.1", self.ports[role])]
        if busy:
            return (f"Ports already in use: {', '.join(busy)}. Stop what holds them (./stop_all.sh for Docker mode) "
                    "or set MLSERVICE_*_PORT.")  # fmt: skip
        return None

    def start(self, role: str) -> None:
        """Start one role through the entrypoint, its output prefixed with its name."""
        child = subprocess.Popen(  # pylint: disable=consider-using-with
            [ENTRYPOINT, role], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.children[role] = child
        threading.Thread(target=pump, args=(role, child.stdout), daemon=True).start()

    def wait_ready(self, roles: list[str]) -> bool:
        """Until each role with a health URL answers; False when one exits or time runs out."""
        deadline = time.monotonic() + START_SECONDS
        waiting = [role for role in roles if role in self.health]
        while waiting and not self.stopping.is_set():
            if any(child.poll() is not None for child in self.children.values()) or time.monotonic() > deadline:
                return False
            waiting = [role for role in waiting if not ready(self.health[role])]
            time.sleep(0.3)
        return not self.stopping.is_set()

    def banner(self) -> str:
        """What to open and how to authenticate, printed once everything answers."""
        settings = self.settings
        if settings.github_enabled:
            sign_in = f"  Sign in                http://127.0.0.1:{settings.rest_port}/login (GitHub)\n"
        else:
            token = ensure_local_token(settings)
            sign_in = (
                f"  Local API token        {token}  (kept in {settings.local_token_path})\n"
                f"  Try it                 curl -H 'Authorization: Bearer {token}' "
                f"http://127.0.0.1:{settings.rest_port}/models\n"
            )
        return (
            "\nmlservice is up (Ctrl-C stops everything):\n"
            f"  Swagger UI / REST API  http://127.0.0.1:{settings.rest_port}/\n"
            f"  gRPC                   127.0.0.1:{settings.grpc_port}\n"
            f"  MLflow UI              {self.env['MLFLOW_TRACKING_URI']}\n"
            f"  Dashboard              http://127.0.0.1:{settings.dashboard_port}/\n"
            f"{sign_in}  State                  {self.state}\n"
        )

    def supervise(self) -> int:
        """Until Ctrl-C (0) or a child exits (1)."""
        while not self.stopping.is_set():
            dead = [role for role, child in self.children.items() if child.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} exited; stopping everything.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0

    def stop_all(self) -> None:
        """SIGTERM every child's process group; SIGKILL what is left after 15 s."""
        self.stopping.set()
        for child in self.children.values():
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    def run(self) -> int:
        """Start everything (MLflow first), wait until it answers, print the URLs, supervise."""
        problem = self.prepare()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        try:
            if self.embedded_mlflow:
                self.start("mlflow")
                if not self.wait_ready(["mlflow"]):
                    print("MLflow server did not start; see its output above.", file=sys.stderr)
                    return 1
            for role in self.roles:
                if role != "mlflow":
                    self.start(role)
            if self.wait_ready(self.roles):
                print(self.banner(), flush=True)
            return self.supervise()
        finally:
            self.stop_all()


def main() -> int:
    """Command line entry point (``make run``)."""
    return Launcher(Settings()).run()


if __name__ == "__main__":
    sys.exit(main())
