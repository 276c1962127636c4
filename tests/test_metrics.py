"""Prometheus metrics of the real processes: the REST server (two granian worker processes, multiprocess
mode) at ``/metrics`` and the gRPC server on its metrics port. Counters must move by exactly what the
requests did, whichever worker answered, and no label may carry what a caller typed beyond model ids.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris

import app_pb2
import app_pb2_grpc
import inference_pb2
import inference_pb2_grpc
from tests.conftest import AUTH_HEADERS, FrontEnd, authenticated, free_port, http_ok, service_env, wait_until

pytestmark = pytest.mark.integration

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
FAMILIES = {
    "mlservice_requests",
    "mlservice_request_duration_seconds",
    "mlservice_predicted_rows",
    "mlservice_trainings",
    "mlservice_training_duration_seconds",
    "mlservice_jobs",
    "mlservice_model_cache_entries",
    "mlservice_model_cache_bytes",
    "mlservice_model_cache_loads",
    "mlservice_model_cache_evictions",
}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one scrape (text exposition, parsed by prometheus_client)."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def families(url: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(requests.get(url, timeout=10).text)}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def trained(rest_server):
    """A model trained over REST (the REST server's trainings counter moves with it)."""
    X, y = load_iris(return_X_y=True)
    answer = requests.post(f"{rest_server.url}/models/train", headers=AUTH_HEADERS, timeout=120,
                           json={"model_type": "logistic_regression", "X": X.tolist(), "y": y.tolist()})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()["model_id"]


def test_rest_metrics_add_up_every_worker_process(rest_server, trained):
    metrics_url = f"{rest_server.url}/metrics"
    assert requests.get(metrics_url, timeout=10).status_code == 200  # public, like /health: no token
    before = scrape(metrics_url)
    requests_made = 40  # several keep-alive-less connections: both worker processes answer some
    for _ in range(requests_made // 2):
        native = requests.post(f"{rest_server.url}/models/{trained}/predict", headers=AUTH_HEADERS,
                               json={"X": ROWS}, timeout=30)  # fmt: skip
        assert native.status_code == 200, native.text
        v2 = requests.post(f"{rest_server.url}/v2/models/{trained}/infer", headers=AUTH_HEADERS, timeout=30,
                           json={"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 4],
                                             "data": ROWS}]})  # fmt: skip
        assert v2.status_code == 200, v2.text
    unknown = f"no-such-model-{uuid.uuid4().hex}"
    assert requests.post(f"{rest_server.url}/models/{unknown}/predict", headers=AUTH_HEADERS, json={"X": ROWS},
                         timeout=30).status_code == 404  # fmt: skip
    stray = f"/stray-{uuid.uuid4().hex}"
    assert requests.get(rest_server.url + stray, headers=AUTH_HEADERS, timeout=10).status_code == 404
    after = scrape(metrics_url)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    native = {"protocol": "rest", "operation": "models_predict"}  # the Flask endpoint: a fixed name
    assert moved("mlservice_requests_total", status="200", **native) == requests_made // 2
    assert moved("mlservice_requests_total", status="404", **native) == 1
    assert moved("mlservice_requests_total", protocol="v2-rest", operation="v2.infer", status="200") == 20
    assert moved("mlservice_request_duration_seconds_count", **native) == requests_made // 2 + 1
    assert moved("mlservice_predicted_rows_total", model_id=trained) == requests_made * len(ROWS)
    assert value(after, "mlservice_trainings_total", kind="train", outcome="succeeded") >= 1
    assert value(after, "mlservice_model_cache_loads_total") >= 1
    assert value(after, "mlservice_model_cache_entries") >= 1 and value(after, "mlservice_model_cache_bytes") > 0
    assert FAMILIES <= families(metrics_url)
    text = requests.get(metrics_url, timeout=10).text
    assert unknown not in text and stray not in text  # neither an unknown id nor a path becomes a label


@pytest.fixture(scope="module")
def grpc_with_metrics(settings, log_dir):
    """A gRPC server (entrypoint role ``grpc``) with its Prometheus port."""
    port, metrics_port = free_port(), free_port()
    env = service_env(settings, MLSERVICE_GRPC_PORT=str(port), MLSERVICE_GRPC_METRICS_PORT=str(metrics_port))
    process = FrontEnd("grpc", port, env, log_dir).start_and_wait()
    wait_until(http_ok(f"http://127.0.0.1:{metrics_port}/metrics"), 30, "gRPC metrics port", process.process)
    yield process, f"http://127.0.0.1:{metrics_port}/metrics"
    process.stop()


def test_grpc_metrics_port_counts_both_services(grpc_with_metrics, trained):
    process, metrics_url = grpc_with_metrics
    before = scrape(metrics_url)
    with grpc.insecure_channel(process.url) as channel:
        own = app_pb2_grpc.MLServiceStub(authenticated(channel))
        inference = inference_pb2_grpc.GRPCInferenceServiceStub(authenticated(channel))
        rows = [app_pb2.FeatureArray(values=row) for row in ROWS]
        for _ in range(3):
            assert len(own.Predict(app_pb2.PredictRequest(model_id=trained, X=rows)).predictions) == 2
        tensor = inference_pb2.ModelInferRequest.InferInputTensor(
            name="input-0", datatype="FP64", shape=[2, 4],
            contents=inference_pb2.InferTensorContents(fp64_contents=[v for row in ROWS for v in row]),
        )  # fmt: skip
        for _ in range(2):
            inference.ModelInfer(inference_pb2.ModelInferRequest(model_name=trained, inputs=[tensor]))
        with pytest.raises(grpc.RpcError) as refused:
            inference.ModelInfer(
                inference_pb2.ModelInferRequest(model_name=f"nope-{uuid.uuid4().hex}", inputs=[tensor])
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    after = scrape(metrics_url)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("mlservice_requests_total", protocol="grpc", operation="Predict", status="OK") == 3
    assert moved("mlservice_requests_total", protocol="v2-grpc", operation="ModelInfer", status="OK") == 2
    assert moved("mlservice_requests_total", protocol="v2-grpc", operation="ModelInfer", status="NOT_FOUND") == 1
    assert moved("mlservice_predicted_rows_total", model_id=trained) == 5 * len(ROWS)
    assert FAMILIES - {"mlservice_trainings", "mlservice_training_duration_seconds"} <= families(metrics_url)
