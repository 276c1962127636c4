"""The front ends as real processes (entrypoint roles rest and grpc) on the real MLflow/Postgres/S3:
cross-protocol agreement, survival across restarts, and the two end-to-end scripts."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest
import requests

import app_pb2
import app_pb2_grpc
from tests.conftest import API_TOKEN, AUTH_HEADERS, ROOT, authenticated

pytestmark = pytest.mark.integration


@pytest.fixture
def http():
    """A requests session that authenticates as the tests' service token."""
    with requests.Session() as session:
        session.headers.update(AUTH_HEADERS)
        yield session


@pytest.fixture
def grpc_stub(grpc_server_process):
    """A stub that authenticates as the same principal as ``http`` (the tests' service token)."""
    with grpc.insecure_channel(grpc_server_process.url) as channel:
        yield app_pb2_grpc.MLServiceStub(authenticated(channel))


def rows(X):
    return [app_pb2.FeatureArray(features=row) for row in X]


def test_trained_over_rest_is_served_over_grpc_and_the_reverse(rest_server, grpc_stub, iris, http):
    X, y = iris
    api = rest_server.url
    over_rest = http.post(f"{api}/models/train", json={"model_type": "svc", "X": X, "y": y}, timeout=60).json()
    over_grpc = grpc_stub.TrainModel(app_pb2.TrainRequest(model_type="gradient_boosting", X=rows(X), y=y)).model_id
    try:
        grpc_ids = {m.id for m in grpc_stub.ListModels(app_pb2.Empty()).models}
        rest_ids = {m["id"] for m in http.get(f"{api}/models", timeout=30).json()}
        assert {over_rest["model_id"], over_grpc} <= grpc_ids & rest_ids

        for model_id in (over_rest["model_id"], over_grpc):
            from_grpc = grpc_stub.Predict(app_pb2.PredictRequest(model_id=model_id, X=rows(X[::10])))
            from_rest = http.post(f"{api}/models/{model_id}/predict", json={"X": X[::10]}, timeout=30).json()
            assert list(from_grpc.predictions) == from_rest["predictions"]
            # the reference FeatureArray carries float32, so probabilities agree to float32 precision
            for grpc_row, rest_row in zip(from_grpc.probabilities, from_rest["probabilities"], strict=True):
                assert list(grpc_row.values) == pytest.approx(rest_row, abs=1e-5)

        retrained = http.post(f"{api}/models/{over_grpc}/retrain", json={"X": X, "y": y}, timeout=60).json()
        assert retrained["version"] == 2
        assert grpc_stub.Predict(app_pb2.PredictRequest(model_id=over_grpc, X=rows(X[:1]))).version == 2
        assert grpc_stub.GetMetrics(app_pb2.ModelId(model_id=over_grpc)).version == 2
    finally:
        http.delete(f"{api}/models/{over_rest['model_id']}", timeout=30)
        grpc_stub.DeleteModel(app_pb2.ModelId(model_id=over_grpc))
    assert over_grpc not in {m["id"] for m in http.get(f"{api}/models", timeout=30).json()}


def test_models_survive_a_restart_of_both_front_ends(rest_server, grpc_server_process, iris, http):
    X, y = iris
    api = rest_server.url
    trained = http.post(
        f"{api}/models/train",
        json={"model_type": "random_forest", "X": X, "y": y, "params": {"n_estimators": 8}},
        timeout=60,
    ).json()
    before = http.post(f"{api}/models/{trained['model_id']}/predict", json={"X": X[:10]}, timeout=30).json()
    try:
        for process in (rest_server, grpc_server_process):
            process.stop()
            process.start_and_wait()
        after = http.post(f"{api}/models/{trained['model_id']}/predict", json={"X": X[:10]}, timeout=30).json()
        assert after["predictions"] == before["predictions"] and after["version"] == 1
        with grpc.insecure_channel(grpc_server_process.url) as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            record = stub.GetModel(app_pb2.ModelId(model_id=trained["model_id"]))
            assert record.params["n_estimators"] == "8"
    finally:
        http.delete(f"{api}/models/{trained['model_id']}", timeout=30)


def test_grpc_client_script_passes_against_the_live_server(grpc_server_process):
    port = grpc_server_process.url.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "grpc_client_test.py", "--host", "127.0.0.1", "--port", port],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9. DeleteModel: success=True" in result.stdout


def test_flask_api_script_passes_against_the_live_server(rest_server):
    env = {**os.environ, "API_URL": rest_server.url, "API_TOKEN": API_TOKEN}
    result = subprocess.run(
        ["bash", "test_flask_api.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all REST steps passed" in result.stdout


def test_scripts_fail_when_the_server_is_not_there():
    env = {**os.environ, "API_URL": "http://127.0.0.1:9"}
    rest = subprocess.run(
        ["bash", "test_flask_api.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert rest.returncode != 0 and "FAILED" in rest.stderr
    grpc_run = subprocess.run(
        [sys.executable, "grpc_client_test.py", "--port", "9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert grpc_run.returncode != 0 and "FAILED" in grpc_run.stderr


def test_tokens_never_reach_the_logs(rest_server, http, iris):
    X, y = iris
    http.post(f"{rest_server.url}/models/train", json={"model_type": "nope", "X": X, "y": y}, timeout=30)
    http.get(f"{rest_server.url}/models/no-such-model", timeout=30)
    requests.get(f"{rest_server.url}/models", headers={"Authorization": "Bearer wrong-secret-token"}, timeout=30)
    log = rest_server.log_path.read_text(errors="replace")
    assert "GET /models" in log  # the access log is there and was written
    assert API_TOKEN not in log and "wrong-secret-token" not in log
