"""Container health check for every role of the mlservice image (Docker ``HEALTHCHECK``, Compose).

The role is, in order: the first argument (``healthcheck.py rest``), the command line of PID 1 (the
server that ``docker/entrypoint.sh`` exec'd into, or the entrypoint itself while it starts), then
``MLSERVICE_ROLE``. Each role is probed on its own port, read from the same variables the
entrypoint uses:

- rest      GET  http://127.0.0.1:$MLSERVICE_REST_PORT/health
- mlflow    GET  http://127.0.0.1:$MLSERVICE_MLFLOW_PORT/health
- dashboard GET  http://127.0.0.1:$MLSERVICE_DASHBOARD_PORT/_stcore/health
- grpc      grpc.health.v1.Health/Check on 127.0.0.1:$MLSERVICE_GRPC_PORT (overall server status)
- worker    no port: the job loop touches $TMPDIR/mlservice-worker.alive every round
            (MLSERVICE_JOB_POLL_SECONDS); healthy while that file is younger than WORKER_STALE_SECONDS

Exit status 0 means healthy, 1 unhealthy, 2 role unknown. Standard library only, except grpc.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROLES = ("rest", "grpc", "dashboard", "mlflow", "worker")
TIMEOUT_SECONDS = 4.0
WORKER_ALIVE_FILE = "mlservice-worker.alive"  # worker.alive_file(); this module imports nothing of the app
WORKER_STALE_SECONDS = 60.0

# role -> (port variable, default port, HTTP path or None for gRPC)
PROBES: dict[str, tuple[str, int, str | None]] = {
    "rest": ("MLSERVICE_REST_PORT", 5000, "/health"),
    "mlflow": ("MLSERVICE_MLFLOW_PORT", 5002, "/health"),
    "dashboard": ("MLSERVICE_DASHBOARD_PORT", 8501, "/_stcore/health"),
    "grpc": ("MLSERVICE_GRPC_PORT", 50051, None),
}


def role_from_cmdline(argv: Sequence[str]) -> str | None:
    """Return the role of the process whose argv is given, or None if it is not one of ours.

    Handles both the entrypoint (``entrypoint.sh rest``) and the servers it execs into.
    """
    names = [Path(arg).name for arg in argv]
    for index, name in enumerate(names[:-1]):
        if name == "entrypoint.sh" and argv[index + 1] in ROLES:
            return argv[index + 1]
    # Order matters: `mlflow server` may itself mention gunicorn/uvicorn in its options.
    if "mlflow" in names and "server" in names:
        return "mlflow"
    for program, role in (("streamlit", "dashboard"), ("grpc_server.py", "grpc"), ("worker.py", "worker"),
                          ("granian", "rest"), ("gunicorn", "rest")):  # fmt: skip
        if program in names:
            return role
    return None


def pid1_argv() -> list[str]:
    """Command line of PID 1 (empty when unreadable, e.g. outside Linux)."""
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def resolve_role(args: Sequence[str]) -> str | None:
    """First argument, else PID 1's command line, else ``MLSERVICE_ROLE``."""
    if args:
        return args[0] if args[0] in ROLES else None
    role = role_from_cmdline(pid1_argv())
    if role is None:
        role = os.environ.get("MLSERVICE_ROLE") or None
    return role if role in ROLES else None


def check_http(port: int, path: str) -> bool:
    """True when GET http://127.0.0.1:<port><path> answers 2xx."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (fixed http URL)
            healthy = 200 <= response.status < 300
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: GET {url}: {exc}", file=sys.stderr)
        return False
    if not healthy:
        print(f"unhealthy: GET {url}: HTTP {response.status}", file=sys.stderr)
    return healthy


def check_grpc(port: int) -> bool:
    """True when the standard gRPC health service reports SERVING for the whole server."""
    # pylint: disable=no-member  # protobuf message classes are created at import time
    # Imported here so HTTP roles do not pay for loading grpc.
    import grpc  # pylint: disable=import-outside-toplevel
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # pylint: disable=import-outside-toplevel

    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as exc:
        print(f"unhealthy: gRPC health {target}: {exc.code().name}", file=sys.stderr)
        return False
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        print(
            f"unhealthy: gRPC health {target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}",
            file=sys.stderr,
        )
        return False
    return True


def check_worker_alive() -> bool:
    """True when the worker loop touched its file recently."""
    path = Path(tempfile.gettempdir()) / WORKER_ALIVE_FILE
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        print(f"unhealthy: {path} does not exist (the worker loop has not run yet)", file=sys.stderr)
        return False
    if age > WORKER_STALE_SECONDS:
        print(f"unhealthy: the worker loop last ran {age:.0f} s ago", file=sys.stderr)
        return False
    return True


def main(args: Sequence[str]) -> int:
    """Probe the role's port; return the process exit status."""
    role = resolve_role(args)
    if role is None:
        print(
            f"healthcheck: cannot tell the role; pass one of {', '.join(ROLES)} or set MLSERVICE_ROLE", file=sys.stderr
        )
        return 2
    if role == "worker":
        return 0 if check_worker_alive() else 1
    variable, default_port, path = PROBES[role]
    port = int(os.environ.get(variable) or default_port)
    healthy = check_grpc(port) if path is None else check_http(port, path)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
