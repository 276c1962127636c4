"""Real processes on free loopback ports: PostgreSQL (throwaway cluster), moto's S3 server, MLflow, the front ends.

Each process runs in its own session, so stopping it stops its children too (gunicorn workers, the
fit forkserver). Nothing here knows pytest: a missing binary raises ``MissingBinaries`` and the
caller decides (the tests skip, the benchmarks stop with the message).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")
S3_KEY = "devstack-s3-key-not-a-credential"  # moto's S3 stand-in accepts any key; never a deployed credential
ARTIFACT_BUCKET = "mlflow"
MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")


class MissingBinaries(RuntimeError):
    """A program the stack needs is not installed (``make system-deps`` installs it)."""


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll check() until it is true; fail with what (and the process's exit) after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        try:
            if check():
                return
        except Exception:  # noqa: S110  # pylint: disable=broad-exception-caught  # not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s")


def wait_for(check, timeout: float = 120, every: float = 0.2):
    """Poll until check() returns something truthy (bounded; not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError("condition not reached")


def http_ok(url: str) -> Callable[[], bool]:
    """A check that url answers 200."""
    return lambda: requests.get(url, timeout=1).status_code == 200


class ManagedProcess:
    """A child process in its own session, so that stopping it stops its children too."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name, self.args, self.env = name, args, env
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        """Start the process (stdout and stderr to its log file)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Signal the whole process group and wait; SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass
        # children that outlived the leader (e.g. gunicorn workers) share the group id
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def log_tail(self, lines: int = 40) -> str:
        """The end of the process's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def grpc_health_ok(target: str) -> Callable[[], bool]:
    """A check that the gRPC server's standard health service says SERVING."""
    import grpc  # pylint: disable=import-outside-toplevel
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # pylint: disable=import-outside-toplevel

    def check() -> bool:
        with grpc.insecure_channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return response.status == health_pb2.HealthCheckResponse.SERVING

    return check


def postgres_bindir() -> str:
    """Directory of the installed PostgreSQL server binaries (initdb, pg_ctl)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    try:
        candidates.insert(0, subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    found = next((d for d in candidates if os.path.exists(os.path.join(d, "initdb"))), None)
    if found is None:
        raise MissingBinaries("no PostgreSQL server binaries (initdb) installed: run 'make system-deps'")
    return found


class PostgresCluster:
    """A throwaway PostgreSQL cluster from the installed binaries (initdb + pg_ctl), on a free port."""

    def __init__(self, log_dir: Path):
        self.bindir = postgres_bindir()
        self.log_dir = log_dir
        self.base = Path(tempfile.mkdtemp(prefix="mlservice-pg-"))
        self.port = free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.base, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.data = self.base / "data"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_postgres, f"{self.bindir}/pg_ctl", "-D", str(self.data), *args],
                       check=check, capture_output=True)  # fmt: skip

    def start(self) -> PostgresCluster:
        """Start the server (initialising the cluster on the first start)."""
        if not self.data.exists():
            subprocess.run(
                [*self.as_postgres, f"{self.bindir}/initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-locale"],
                check=True, capture_output=True,
            )  # fmt: skip
        self._pg_ctl("-l", str(self.base / "log"), "-w", "start",
                     "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server."""
        self._pg_ctl("-m", mode, "-w", "stop", check=False)

    def create_databases(self) -> str:
        """The mlflow user with the mlflow and mlservice databases; returns the mlflow database URI."""
        for statement in (
            "CREATE USER mlflow PASSWORD 'mlflow'",
            "CREATE DATABASE mlflow OWNER mlflow",
            "CREATE DATABASE mlservice OWNER mlflow",  # the service's own database (API tokens, jobs)
        ):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", statement],
                check=True, capture_output=True,
            )  # fmt: skip
        return f"postgresql+psycopg2://mlflow:mlflow@127.0.0.1:{self.port}/mlflow"

    def remove(self) -> None:
        """Stop immediately, keep the log, delete the cluster."""
        self.stop("immediate")
        if (self.base / "log").exists():
            shutil.copy(self.base / "log", self.log_dir / f"postgres-{self.port}.log")
        shutil.rmtree(self.base, ignore_errors=True)


def base_env(**overrides: str) -> dict[str, str]:
    """The environment for child processes: ours minus any MLSERVICE_/MLFLOW_/AWS_ leftovers, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSERVICE_", "MLFLOW_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(overrides)
    return env


def start_moto(name: str, log_dir: Path) -> tuple[ManagedProcess, str, Callable[[], None]]:
    """moto's S3 server on a free port with the artifact bucket: (process, endpoint, a (re)start function)."""
    port = free_port()
    moto = ManagedProcess(name, [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], base_env(), log_dir)
    endpoint = f"http://127.0.0.1:{port}"

    def start() -> None:
        import boto3  # pylint: disable=import-outside-toplevel

        moto.start()
        wait_until(http_ok(endpoint + "/moto-api/"), 30, "moto S3 server", moto.process)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY,
                          region_name="us-east-1")  # fmt: skip
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)

    start()
    return moto, endpoint, start


def mlflow_env(backend: str, s3_endpoint: str, port: int, workers: int = 1) -> dict[str, str]:
    """Environment of ``entrypoint.sh mlflow``: metadata in backend, artifacts proxied to the S3 stand-in."""
    return base_env(
        MLFLOW_BACKEND_STORE_URI=backend,
        MLFLOW_ARTIFACTS_DESTINATION=f"s3://{ARTIFACT_BUCKET}",
        MLFLOW_S3_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY,
        AWS_SECRET_ACCESS_KEY=S3_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        MLSERVICE_MLFLOW_PORT=str(port),
        MLFLOW_WORKERS=str(workers),
    )


def start_mlflow(  # pylint: disable=too-many-arguments
    backend: str, s3_endpoint: str, log_dir: Path, name: str = "mlflow", workers: int = 1
) -> tuple[ManagedProcess, str, Callable[[], None]]:
    """Start a real MLflow server; returns the process, its URL and a function that (re)starts it.

    Raises:
        RuntimeError: it did not answer /health within 90 s (the message ends with its log).
    """
    port = free_port()
    server = ManagedProcess(name, [ENTRYPOINT, "mlflow"], mlflow_env(backend, s3_endpoint, port, workers), log_dir)
    url = f"http://127.0.0.1:{port}"

    def start() -> None:
        server.start()
        try:
            wait_until(http_ok(url + "/health"), 90, name, server.process)
        except (TimeoutError, RuntimeError) as exc:
            server.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n{server.log_tail()}") from None

    start()
    return server, url, start
