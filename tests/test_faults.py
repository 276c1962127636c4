"""Faults: the MLflow server stops in the middle of traffic and comes back. A dedicated MLflow server
(same PostgreSQL and S3 stand-in as the session's) is stopped and restarted on the same port."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import boto3
import grpc
import pytest

import app_pb2
import app_pb2_grpc
from mlservice.core.resolution import STALE_FACTOR
from mlservice.errors import ModelNotFound, Unavailable
from mlservice.grpc.server import build_server
from mlservice.rest.app import create_app
from models import ModelService
from tests.conftest import (
    ARTIFACT_BUCKET,
    AUTH_HEADERS,
    S3_KEY,
    ManagedProcess,
    PostgresCluster,
    base_env,
    free_port,
    http_ok,
    predict,
    retrain,
    start_mlflow,
    train,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")


@pytest.fixture
def own_mlflow(postgres_uri, s3_endpoint, log_dir):
    """A second MLflow server that this test may stop and start; yields a restartable handle."""
    server, url, start = start_mlflow(postgres_uri, s3_endpoint, log_dir, "mlflow-faults", workers=1)
    yield url, server, start
    server.stop()


def test_mlflow_down_gives_clear_errors_cached_models_keep_serving_and_all_recovers(own_mlflow, settings, iris, caplog):
    url, server, start = own_mlflow
    X, y = iris
    ttl = 0.2  # a registry view older than ttl x STALE_FACTOR is refreshed on the request path
    faulty = settings.model_copy(update={"mlflow_tracking_uri": url, "registry_ttl_seconds": ttl})
    service = ModelService(faulty)
    rest = create_app(faulty, service=service).test_client()
    rest.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    grpc_server, port = build_server(faulty.model_copy(update={"grpc_port": free_port()}), service)
    grpc_server.start()
    model_id = rest.post("/models/train", json={"model_type": "knn", "X": X, "y": y}).json["model_id"]
    try:
        expected = rest.post(f"/models/{model_id}/predict", json={"X": X[:3]}).json["predictions"]
        server.stop()

        # the loaded model keeps answering while the registry is away (its known version is served):
        # past ttl x STALE_FACTOR the request itself asks MLflow, fails, and falls back to what it knew
        time.sleep(ttl * STALE_FACTOR + 0.5)
        with caplog.at_level(logging.WARNING, logger="mlservice.core.resolution"):
            assert rest.post(f"/models/{model_id}/predict", json={"X": X[:3]}).json["predictions"] == expected
        assert "Registry unreachable; serving" in caplog.text  # the fallback ran, not a still-fresh cache

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
        predict(service, "some-model", X=[[1.0]])
    client = create_app(unreachable, service=service).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    response = client.post("/models/some-model/predict", json={"X": [[1.0]]})
    assert response.status_code == 503 and "message" in response.json


def test_postgres_restart_is_survived_by_mlflow_and_the_service(settings, s3_endpoint, log_dir, iris):
    X, y = iris
    cluster = PostgresCluster(log_dir).start()
    server = None
    try:
        backend = cluster.create_databases()
        server, url, _ = start_mlflow(backend, s3_endpoint, log_dir, "mlflow-pg-restart", workers=1)
        own = settings.model_copy(
            update={"mlflow_tracking_uri": url, "database_url": backend.rsplit("/", 1)[0] + "/mlservice"}
        )
        client = create_app(own, service=ModelService(own)).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
        first = client.post("/models/train", json={"model_type": "knn", "X": X, "y": y}).json["model_id"]
        assert client.get("/tokens").status_code == 200  # the service's own database answers

        cluster.stop("fast")
        cluster.start()  # same port, same data: connections in every pool are now dead

        assert client.get("/tokens").status_code == 200  # pre-ping: a fresh connection, no error
        assert first in {m["id"] for m in client.get("/models").json}
        second = client.post("/models/train", json={"model_type": "knn", "X": X, "y": y})
        assert second.status_code == 201, second.json
    finally:
        if server is not None:
            server.stop()
        cluster.remove()


def test_s3_outage_fails_training_cleanly_and_leaves_no_half_registered_model(settings, postgres_uri, log_dir, iris):
    X, _ = iris
    s3_port = free_port()
    moto = ManagedProcess("moto-faults", [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(s3_port)], base_env(), log_dir)
    s3_url = f"http://127.0.0.1:{s3_port}"

    def start_s3():
        moto.start()
        wait_until(http_ok(s3_url + "/moto-api/"), 30, "moto", moto.process)
        boto3.client("s3", endpoint_url=s3_url, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY,
                     region_name="us-east-1").create_bucket(Bucket=ARTIFACT_BUCKET)  # fmt: skip

    start_s3()
    server, url, _ = start_mlflow(postgres_uri, s3_url, log_dir, "mlflow-s3-faults", workers=1)
    try:
        service = ModelService(settings.model_copy(update={"mlflow_tracking_uri": url}))
        healthy = train(service, "ridge", X, [row[0] for row in X])
        moto.stop()
        with pytest.raises(Unavailable):
            train(service, "ridge", X, [row[0] for row in X], model_id="s3-down")
        with pytest.raises(ModelNotFound):
            service.get_model("s3-down")  # rolled back: no registered name without a usable version
        with pytest.raises(Unavailable):
            retrain(service, healthy["model_id"], X, [row[0] for row in X])
        assert [v["version"] for v in service.get_model(healthy["model_id"])["versions"]] == [1]  # nothing added
        start_s3()
        assert train(service, "ridge", X, [row[0] for row in X], model_id="s3-back")["version"] == 1
        service.delete_model("s3-back")
        service.delete_model(healthy["model_id"])
    finally:
        server.stop()
        moto.stop()
