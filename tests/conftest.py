"""Shared fixtures: the real parts the service runs on, started by the tests on free ports.

- ``postgres_uri``: a throwaway PostgreSQL cluster from the installed binaries (initdb + pg_ctl).
- ``s3_endpoint``: moto's S3 server as a separate process, standing in for MinIO.
- ``mlflow_server``: ``docker/entrypoint.sh mlflow`` (a real ``mlflow server``) on that Postgres and S3.
- ``service``: the in-process core pointed at that server.
- ``rest_server`` / ``grpc_server_process``: the front ends as real processes via the entrypoint.

Every process is stopped in teardown, by process group.
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

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")
S3_KEY = "minioadmin"
ARTIFACT_BUCKET = "mlflow"
DATASET_BUCKET = "datasets"  # the DVC remote's bucket in deployment (s3://dvc)
API_TOKEN = "test-token"  # a static service token (MLSERVICE_API_TOKENS=tests=test-token) for the tests
AUTH_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}
TEST_SECRET_KEY = "tests-only-secret-key"


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


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    """Where the processes the tests start write their logs."""
    return tmp_path_factory.mktemp("logs")


def _postgres_bindir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    try:
        candidates.insert(0, subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return next((d for d in candidates if os.path.exists(os.path.join(d, "initdb"))), None)


class PostgresCluster:
    """A throwaway PostgreSQL cluster from the installed binaries (initdb + pg_ctl), on a free port."""

    def __init__(self, log_dir: Path):  # pylint: disable=redefined-outer-name
        self.bindir = _postgres_bindir()
        if self.bindir is None:
            pytest.skip("no PostgreSQL server binaries (initdb) installed: run 'make system-deps'")
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


@pytest.fixture(scope="session")
def postgres_uri(log_dir):  # pylint: disable=redefined-outer-name
    """A throwaway PostgreSQL cluster with ``mlflow`` and ``mlservice`` databases; yields the MLflow URI."""
    cluster = PostgresCluster(log_dir).start()
    try:
        yield cluster.create_databases()
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def s3_endpoint(log_dir):  # pylint: disable=redefined-outer-name
    """moto's S3 server (a real HTTP endpoint standing in for MinIO) with the artifact bucket."""
    import boto3  # pylint: disable=import-outside-toplevel

    port = free_port()
    moto = ManagedProcess(
        "moto",
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        dict(os.environ),
        log_dir,
    ).start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(endpoint + "/moto-api/"), 20, "moto S3 server", moto.process)
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY, region_name="us-east-1"
        )
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        yield endpoint
    finally:
        moto.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):  # pylint: disable=redefined-outer-name
    """boto3 client of the S3 stand-in, to look at what landed in the bucket."""
    import boto3  # pylint: disable=import-outside-toplevel

    return boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY, region_name="us-east-1"
    )


def base_env(**overrides: str) -> dict[str, str]:
    """The environment for child processes: ours minus any MLSERVICE_/MLFLOW_ leftovers, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSERVICE_", "MLFLOW_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(overrides)
    return env


def mlflow_env(backend: str, s3_endpoint: str, port: int, workers: int = 2) -> dict[str, str]:
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


def start_mlflow(
    backend: str, s3_endpoint: str, log_dir: Path, name: str = "mlflow", workers: int = 2
) -> tuple[ManagedProcess, str, Callable[[], None]]:  # pylint: disable=redefined-outer-name
    """Start a real MLflow server; returns the process, its URL and a function that (re)starts it."""
    port = free_port()
    server = ManagedProcess(name, [ENTRYPOINT, "mlflow"], mlflow_env(backend, s3_endpoint, port, workers), log_dir)
    url = f"http://127.0.0.1:{port}"

    def start() -> None:
        server.start()
        try:
            wait_until(http_ok(url + "/health"), 90, name, server.process)
        except Exception:  # pylint: disable=broad-exception-caught
            server.stop()
            pytest.fail(f"{name} did not start:\n{server.log_tail()}")

    start()
    return server, url, start


@pytest.fixture(scope="session")
def mlflow_server(postgres_uri, s3_endpoint, log_dir):  # pylint: disable=redefined-outer-name
    """A real ``mlflow server`` (via the image's entrypoint) on PostgreSQL with S3 artifacts."""
    server, url, _ = start_mlflow(postgres_uri, s3_endpoint, log_dir)
    yield url
    server.stop()


@pytest.fixture(scope="session")
def service_database_url(postgres_uri):  # pylint: disable=redefined-outer-name
    """SQLAlchemy URL of the service's own database (API tokens) in the throwaway cluster."""
    return postgres_uri.rsplit("/", 1)[0] + "/mlservice"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    """The state directory the tests' service processes use (secret key, local token)."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def settings(mlflow_server, service_database_url, state_dir, s3_endpoint):  # pylint: disable=redefined-outer-name
    """Settings pointing at the test MLflow server; predictions see other processes' changes at once."""
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel

    return Settings(
        mlflow_tracking_uri=mlflow_server,
        experiment_name="mlservice-tests",
        registry_ttl_seconds=0,
        mlflow_timeout_seconds=5,
        mlflow_max_retries=0,
        api_tokens=f"tests={API_TOKEN}",
        secret_key=TEST_SECRET_KEY,
        # job runners created inside this test process must not beat (and log) after the session's
        # PostgreSQL is gone; the job tests set their own heartbeat
        job_heartbeat_seconds=3600,
        dataset_store_url=f"s3://{DATASET_BUCKET}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id=S3_KEY,
        s3_secret_access_key=S3_KEY,
        database_url=service_database_url,
        state_dir=state_dir,
    )


@pytest.fixture(scope="session")
def service(settings):  # pylint: disable=redefined-outer-name
    """The in-process core, as the front ends build it."""
    from models import ModelService  # pylint: disable=import-outside-toplevel

    return ModelService(settings)


def service_env(settings, **overrides: str) -> dict[str, str]:  # pylint: disable=redefined-outer-name
    """Environment of a REST/gRPC process configured like the tests' settings."""
    return base_env(
        MLFLOW_TRACKING_URI=settings.mlflow_tracking_uri,
        MLSERVICE_API_TOKENS=settings.api_tokens,
        SECRET_KEY=settings.secret_key,
        MLSERVICE_DATABASE_URL=settings.database_url,
        MLSERVICE_STATE_DIR=str(settings.state_dir),
        MLSERVICE_DATASET_STORE_URL=settings.dataset_store_url,
        MLSERVICE_S3_ENDPOINT_URL=settings.s3_endpoint_url,
        AWS_ACCESS_KEY_ID=settings.s3_access_key_id,
        AWS_SECRET_ACCESS_KEY=settings.s3_secret_access_key,
        MLSERVICE_EXPERIMENT_NAME="mlservice-tests",
        MLSERVICE_REGISTRY_TTL_SECONDS="0",
        MLSERVICE_MLFLOW_TIMEOUT_SECONDS="5",
        MLSERVICE_MLFLOW_MAX_RETRIES="0",
        MLSERVICE_HOST="127.0.0.1",
        **overrides,
    )


class FrontEnd(ManagedProcess):
    """A REST or gRPC process started through the entrypoint; restartable on the same port."""

    def __init__(self, role: str, port: int, env: dict[str, str], log_dir: Path):  # pylint: disable=redefined-outer-name
        super().__init__(role, [ENTRYPOINT, role], env, log_dir)
        self.role, self.port = role, port

    @property
    def url(self) -> str:
        """http://host:port (REST) or host:port (gRPC target)."""
        return f"http://127.0.0.1:{self.port}" if self.role == "rest" else f"127.0.0.1:{self.port}"

    def start_and_wait(self) -> FrontEnd:
        """Start and wait until it answers its health check."""
        self.start()
        check = http_ok(self.url + "/health") if self.role == "rest" else grpc_health_ok(self.url)
        try:
            wait_until(check, 60, f"{self.role} server", self.process)
        except Exception:  # pylint: disable=broad-exception-caught
            self.stop()
            pytest.fail(f"{self.role} server did not start:\n{self.log_tail()}")
        return self


def grpc_health_ok(target: str) -> Callable[[], bool]:
    """A check that the gRPC server's standard health service says SERVING."""
    import grpc  # pylint: disable=import-outside-toplevel
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # pylint: disable=import-outside-toplevel

    def check() -> bool:
        with grpc.insecure_channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return response.status == health_pb2.HealthCheckResponse.SERVING

    return check


@pytest.fixture(scope="session")
def rest_server(settings, log_dir):  # pylint: disable=redefined-outer-name
    """The REST API under gunicorn (entrypoint role ``rest``); authenticate with AUTH_HEADERS."""
    port = free_port()
    env = service_env(settings, MLSERVICE_REST_PORT=str(port), MLSERVICE_REST_WORKERS="2")
    process = FrontEnd("rest", port, env, log_dir).start_and_wait()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def grpc_server_process(settings, log_dir):  # pylint: disable=redefined-outer-name
    """The gRPC server (entrypoint role ``grpc``), without GRPC_AUTH_TOKEN (internal by design)."""
    port = free_port()
    env = service_env(settings, MLSERVICE_GRPC_PORT=str(port))
    process = FrontEnd("grpc", port, env, log_dir).start_and_wait()
    yield process
    process.stop()


@pytest.fixture
def iris():
    """The Iris data as plain lists (X rows, integer labels)."""
    from sklearn.datasets import load_iris  # pylint: disable=import-outside-toplevel

    X, y = load_iris(return_X_y=True)
    return X.tolist(), y.tolist()
