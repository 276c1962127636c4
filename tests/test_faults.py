"""Faults: the MLflow server stops in the middle of traffic and comes back. A dedicated MLflow server
(same PostgreSQL and S3 stand-in as the session's) is stopped and restarted on the same port."""

from __future__ import annotations

import time

import grpc
import pytest

import app_pb2
import app_pb2_grpc
from app import create_app
from errors import Unavailable
from grpc_server import build_server
from models import ModelService
from tests.conftest import (
    ARTIFACT_BUCKET,
    AUTH_HEADERS,
    ENTRYPOINT,
    S3_KEY,
    ManagedProcess,
    base_env,
    free_port,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_mlflow(postgres_uri, s3_endpoint, log_dir):
    """A second MLflow server that this test may stop and start; yields a restartable handle."""
    port = free_port()
    env = base_env(
        MLFLOW_BACKEND_STORE_URI=postgres_uri,
        MLFLOW_ARTIFACTS_DESTINATION=f"s3://{ARTIFACT_BUCKET}",
        MLFLOW_S3_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY,
        AWS_SECRET_ACCESS_KEY=S3_KEY,
        MLSERVICE_MLFLOW_PORT=str(port),
        MLFLOW_WORKERS="1",
    )
    server = ManagedProcess("mlflow-faults", [ENTRYPOINT, "mlflow"], env, log_dir)
    url = f"http://127.0.0.1:{port}"

    def start():
        server.start()
        wait_until(http_ok(url + "/health"), 90, "MLflow server", server.process)

    start()
    yield url, server, start
    server.stop()


def test_mlflow_down_gives_clear_errors_cached_models_keep_serving_and_all_recovers(own_mlflow, settings, iris):
    url, server, start = own_mlflow
    X, y = iris
    faulty = settings.model_copy(
        update={"mlflow_tracking_uri": url, "registry_ttl_seconds": 0.5, "mlflow_timeout_seconds": 3}
    )
    service = ModelService(faulty)
    rest = create_app(faulty, service=service).test_client()
    rest.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    grpc_server, port = build_server(faulty.model_copy(update={"grpc_port": free_port()}), service)
    grpc_server.start()
    model_id = rest.post("/models/train", json={"model_type": "knn", "X": X, "y": y}).json["model_id"]
    try:
        expected = rest.post(f"/models/{model_id}/predict", json={"X": X[:3]}).json["predictions"]
        server.stop()

        # the loaded model keeps answering while the registry is away (its known version is served)
        time.sleep(0.6)  # let the registry view go stale, so the next request really asks MLflow
        assert rest.post(f"/models/{model_id}/predict", json={"X": X[:3]}).json["predictions"] == expected

        started = time.monotonic()
        down = rest.post("/models/train", json={"model_type": "knn", "X": X, "y": y})
        assert down.status_code == 503 and "unavailable" in down.json["message"].lower()
        assert "127.0.0.1" not in down.json["message"] and "Traceback" not in down.get_data(as_text=True)
        assert time.monotonic() - started < 60  # bounded by the configured timeout, no hang
        assert rest.get("/models").status_code == 503
        assert rest.get("/health").json["status"] == "degraded"
        assert_grpc_unavailable(f"127.0.0.1:{port}")

        start()  # the server comes back on the same port: no restart of the front ends needed
        assert rest.get("/health").json["status"] == "ok"
        assert model_id in {m["id"] for m in rest.get("/models").json}
        again = rest.post("/models/train", json={"model_type": "knn", "X": X, "y": y})
        assert again.status_code == 201
        rest.delete(f"/models/{again.json['model_id']}")
    finally:
        grpc_server.stop(grace=None)
        if server.process.poll() is not None:
            start()
        service.delete_model(model_id)


def assert_grpc_unavailable(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = app_pb2_grpc.MLServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failure:
            stub.ListModels(app_pb2.Empty(), timeout=60)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert stub.HealthCheck(app_pb2.HealthRequest()).status == "degraded"


def test_a_model_never_loaded_cannot_be_served_while_mlflow_is_down(settings):
    unreachable = settings.model_copy(update={"mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}"})
    service = ModelService(unreachable)
    with pytest.raises(Unavailable, match="unavailable"):
        service.predict("some-model", X=[[1.0]])
    client = create_app(unreachable, service=service).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    response = client.post("/models/some-model/predict", json={"X": [[1.0]]})
    assert response.status_code == 503 and "message" in response.json
