"""Shared fixtures: the real parts the service runs on, started by the tests on free ports.

- ``postgres_uri``: a throwaway PostgreSQL cluster from the installed binaries (initdb + pg_ctl).
- ``s3_endpoint``: moto's S3 server as a separate process, standing in for MinIO.
- ``mlflow_server``: ``docker/entrypoint.sh mlflow`` (a real ``mlflow server``) on that Postgres and S3.
- ``service``: the in-process core pointed at that server.
- ``rest_server`` / ``grpc_server_process``: the front ends as real processes via the entrypoint.

Every process is stopped in teardown, by process group. The processes themselves come from
``mlservice.devstack``, which the benchmarks use too.

Test tiers: a test that starts a process (a server, a CLI, a fit process) is marked ``integration``:
by hand, or here when it uses a fixture that starts one. ``make test-unit`` (``pytest --unit``) runs
the others, and there any attempt to start a process fails the test, so a missing mark cannot hide.
"""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
from pathlib import Path

import grpc
import pytest

from mlservice.devstack.processes import (  # noqa: F401  # pylint: disable=unused-import  # the tests import these from here
    ARTIFACT_BUCKET,
    ENTRYPOINT,
    ROOT,
    S3_KEY,
    ManagedProcess,
    MissingBinaries,
    PostgresCluster,
    base_env,
    free_port,
    grpc_health_ok,
    http_ok,
    mlflow_env,
    start_mlflow,
    start_moto,
    wait_for,
    wait_until,
)

DATASET_BUCKET = "datasets"  # the DVC remote's bucket in deployment (s3://dvc)
API_TOKEN = "tests-static-service-token-0123456789"  # a static service token (MLSERVICE_API_TOKENS=tests=...)
AUTH_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}
TEST_SECRET_KEY = "tests-only-secret-key-of-at-least-32-characters"
MLFLOW_TIMEOUT_SECONDS = 5
# fixtures that start processes: a test using any of them (directly or through another) is integration
PROCESS_FIXTURES = frozenset({"postgres_uri", "s3_endpoint", "mlflow_server", "rest_server", "grpc_server_process"})


# --- test tiers ---------------------------------------------------------------------------------------


def pytest_addoption(parser):
    parser.addoption("--unit", action="store_true", help="only tests that start no process (make test-unit)")


def pytest_configure(config):
    if config.getoption("unit"):
        chosen = config.option.markexpr
        config.option.markexpr = f"({chosen}) and not integration" if chosen else "not integration"


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def _no_process(*_args, **_kwargs):
    raise AssertionError("a unit test started a process: mark the test (or its module) pytest.mark.integration")


@pytest.fixture(autouse=True)
def unit_tests_start_no_process(request):
    """In the unit tier (--unit), starting any process (subprocess, fork, multiprocessing) fails the test."""
    if not request.config.getoption("unit"):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_posixsubprocess, "fork_exec", _no_process)
        patch.setattr(subprocess, "_fork_exec", _no_process)
        patch.setattr(os, "fork", _no_process)
        patch.setattr(os, "posix_spawn", _no_process)
        patch.setattr(os, "posix_spawnp", _no_process)
        yield


# --- the real stack ------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def mlflow_client_process_settings():
    """What the entry points do at process start (mlservice.process), once for the whole test session: every
    in-process core talks to MLflow with a 5 s timeout and no retries (the front-end processes the tests
    start get the same values from their environment)."""
    from mlservice.process import mlflow_client_environment  # pylint: disable=import-outside-toplevel
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel

    with pytest.MonkeyPatch.context() as patch:
        for name, value in mlflow_client_environment(
            Settings(mlflow_timeout_seconds=MLFLOW_TIMEOUT_SECONDS, mlflow_max_retries=0)
        ).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    """Where the processes the tests start write their logs."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def postgres_uri(log_dir):  # pylint: disable=redefined-outer-name
    """A throwaway PostgreSQL cluster with ``mlflow`` and ``mlservice`` databases; yields the MLflow URI."""
    try:
        cluster = PostgresCluster(log_dir).start()
    except MissingBinaries as exc:
        pytest.skip(str(exc))
    try:
        yield cluster.create_databases()
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def s3_endpoint(log_dir):  # pylint: disable=redefined-outer-name
    """moto's S3 server (a real HTTP endpoint standing in for MinIO) with the artifact bucket."""
    moto, endpoint, _ = start_moto("moto", log_dir)
    yield endpoint
    moto.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):  # pylint: disable=redefined-outer-name
    """boto3 client of the S3 stand-in, to look at what landed in the bucket."""
    import boto3  # pylint: disable=import-outside-toplevel

    return boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY, region_name="us-east-1"
    )


@pytest.fixture(scope="session")
def mlflow_server(postgres_uri, s3_endpoint, log_dir):  # pylint: disable=redefined-outer-name
    """A real ``mlflow server`` (via the image's entrypoint) on PostgreSQL with S3 artifacts."""
    try:
        server, url, _ = start_mlflow(postgres_uri, s3_endpoint, log_dir)
    except RuntimeError as exc:
        pytest.fail(str(exc))
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
        mlflow_timeout_seconds=MLFLOW_TIMEOUT_SECONDS,
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
    """Environment of a REST/gRPC process configured like the tests' settings (overrides win)."""
    return base_env(
        **{
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "MLSERVICE_API_TOKENS": settings.api_tokens,
            "SECRET_KEY": settings.secret_key,
            "MLSERVICE_DATABASE_URL": settings.database_url,
            "MLSERVICE_STATE_DIR": str(settings.state_dir),
            "MLSERVICE_DATASET_STORE_URL": settings.dataset_store_url,
            "MLSERVICE_S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": settings.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
            "MLSERVICE_EXPERIMENT_NAME": "mlservice-tests",
            "MLSERVICE_REGISTRY_TTL_SECONDS": "0",
            "MLSERVICE_MLFLOW_TIMEOUT_SECONDS": str(MLFLOW_TIMEOUT_SECONDS),
            "MLSERVICE_MLFLOW_MAX_RETRIES": "0",
            "MLSERVICE_HOST": "127.0.0.1",
            **overrides,
        }
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
        except (TimeoutError, RuntimeError):
            self.stop()
            pytest.fail(f"{self.role} server did not start:\n{self.log_tail()}")
        return self


@pytest.fixture(scope="session")
def rest_server(settings, log_dir):  # pylint: disable=redefined-outer-name
    """The REST API under granian (2 worker processes) (entrypoint role ``rest``); authenticate with AUTH_HEADERS."""
    port = free_port()
    # with the access log (off by default: it costs CPU per request), so tests can see that tokens never reach it
    env = service_env(
        settings, MLSERVICE_REST_PORT=str(port), MLSERVICE_REST_WORKERS="2", MLSERVICE_REST_ACCESS_LOG="true"
    )
    process = FrontEnd("rest", port, env, log_dir).start_and_wait()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def grpc_server_process(settings, log_dir):  # pylint: disable=redefined-outer-name
    """The gRPC server (entrypoint role ``grpc``); callers send the REST tokens as ``authorization`` metadata."""
    port = free_port()
    env = service_env(settings, MLSERVICE_GRPC_PORT=str(port))
    process = FrontEnd("grpc", port, env, log_dir).start_and_wait()
    yield process
    process.stop()


class _BearerMetadata(grpc.UnaryUnaryClientInterceptor):
    """Adds the tests' token to every call of a channel (as any real client sends its own)."""

    def __init__(self, token: str):
        self.metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        details = client_call_details._replace(metadata=tuple(client_call_details.metadata or ()) + self.metadata)
        return continuation(details, request)


def authenticated(channel, token: str = API_TOKEN):
    """A gRPC channel whose calls carry ``authorization: Bearer <token>`` (default: the tests' service token)."""
    return grpc.intercept_channel(channel, _BearerMetadata(token))


def train(service, model_type: str, X=None, y=None, **options) -> dict:
    """Train a model through the core facade as a front end does (one TrainingRequest); returns the result."""
    from mlservice.core.inputs import TrainingRequest  # pylint: disable=import-outside-toplevel

    caller = options.pop("caller", None)
    return service.train(TrainingRequest(model_type=model_type, X=X, y=y, **options), caller).result


def retrain(service, model_id: str, X=None, y=None, **options) -> dict:
    """Retrain a model through the core facade; returns the result."""
    from mlservice.core.inputs import RETRAIN, TrainingRequest  # pylint: disable=import-outside-toplevel

    caller = options.pop("caller", None)
    return service.train(TrainingRequest(kind=RETRAIN, model_id=model_id, X=X, y=y, **options), caller).result


def predict(service, model_id: str, X=None, **options) -> dict:
    """Predict through the core facade (X rows, or records=...; version=...), arrays as lists as REST shows them."""
    from mlservice.core.inputs import PredictRequest  # pylint: disable=import-outside-toplevel

    result = service.predict(PredictRequest(model_id, X=X, **options))
    return {key: value.tolist() if hasattr(value, "tolist") else value for key, value in result.items()}


@pytest.fixture
def iris():
    """The Iris data as plain lists (X rows, integer labels)."""
    from sklearn.datasets import load_iris  # pylint: disable=import-outside-toplevel

    X, y = load_iris(return_X_y=True)
    return X.tolist(), y.tolist()
