"""Resource limits: the predict output cap and deadline, memory-sizing hyperparameters, JSON nesting,
dataset records that cannot point outside the store, and private files of the embedded default.
Each reproduction of issue 13 is a test here; none needs a server."""

from __future__ import annotations

import json
import os
import stat
import threading
from unittest import mock

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from mlservice.core.batching import FIRST_CHUNK_ROWS, check_output_size, predict_in_chunks
from mlservice.core.catalogue import MODEL_CLASSES, coerce_params
from mlservice.core.datasets import DatasetStore
from mlservice.core.model_cache import LoadedModel
from mlservice.core.serving import Predictor
from mlservice.database import create_engine
from mlservice.errors import InvalidInput, PayloadTooLarge, PredictionLimitExceeded, Unavailable
from mlservice.rest.app import create_app
from mlservice.rest.json_body import MAX_JSON_DEPTH
from mlservice.settings import Settings
from tests.conftest import API_TOKEN, AUTH_HEADERS, TEST_SECRET_KEY

# --- predict: output cap and deadline ------------------------------------------------------------------


@pytest.fixture(scope="module")
def thousand_class_tree() -> LoadedModel:
    X, y = np.arange(2000.0).reshape(-1, 1), np.arange(2000) // 2  # two rows per class
    tree = DecisionTreeClassifier(max_depth=12, random_state=0).fit(X, y)
    return LoadedModel(tree, "1", "classification", 1, list(range(1000)))


def test_a_thousand_class_tree_cannot_turn_a_small_request_into_a_huge_answer(thousand_class_tree):
    # the reproduction: a 1,000-class tree turned a 21 KB request into a 15 MB response
    predictor = Predictor(Settings(max_predict_values=1_000_000), None, None, None)
    rows = [[float(i)] for i in range(2_000)]  # about 21 KB of JSON: 2,000 rows x 1,000 probabilities
    with pytest.raises(PayloadTooLarge, match="MLSERVICE_MAX_PREDICT_VALUES"):
        predictor._predict("tree", thousand_class_tree, rows, None)  # pylint: disable=protected-access
    answer = predictor._predict("tree", thousand_class_tree, rows[:500], None)  # pylint: disable=protected-access
    assert answer["probabilities"].shape == (500, 1000)


def test_the_cap_counts_rows_times_classes():
    check_output_size(1_000, 1_000, 1_000_000)
    with pytest.raises(PayloadTooLarge):
        check_output_size(1_001, 1_000, 1_000_000)
    check_output_size(1_000_000, 0, 1_000_000)  # a regressor: one value a row


class SlowModel:
    """A real estimator whose every predicted row costs a fixed time on a fake clock (no wall-clock waits)."""

    def __init__(self, estimator, seconds_per_row: float):
        self.estimator, self.seconds_per_row, self.now, self.calls = estimator, seconds_per_row, 0.0, 0

    def clock(self) -> float:
        return self.now

    def predict(self, rows):
        self.calls += 1
        self.now += len(rows) * self.seconds_per_row
        return self.estimator.predict(rows)

    def predict_proba(self, rows):
        return self.estimator.predict_proba(rows)


@pytest.fixture(scope="module")
def knn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    return KNeighborsClassifier().fit(X, (X[:, 0] > 0).astype(int)), rng.normal(size=(5_000, 4))


def test_a_hopeless_knn_request_stops_after_its_first_chunk(knn):
    # the reproduction: knn predict cost grows with training x predicted rows, seconds per request
    estimator, rows = knn
    slow = SlowModel(estimator, seconds_per_row=0.01)  # 5,000 rows would take 50 s; the limit is 10 s
    with pytest.raises(PredictionLimitExceeded, match="MLSERVICE_PREDICT_TIME_LIMIT_SECONDS"):
        predict_in_chunks(slow, rows, True, time_limit=10.0, clock=slow.clock)
    assert slow.calls == 1 and slow.now == pytest.approx(FIRST_CHUNK_ROWS * 0.01)


def test_a_request_past_the_limit_stops_between_chunks(knn):
    estimator, rows = knn

    class Slower(SlowModel):
        """Fast at first, then every chunk slower: the elapsed time stops it, not the first chunk's estimate."""

        def predict(self, rows):
            self.seconds_per_row *= 4
            return super().predict(rows)

    slow = Slower(estimator, seconds_per_row=0.00001)
    with pytest.raises(PredictionLimitExceeded, match="stopped after"):
        predict_in_chunks(slow, rows, False, time_limit=1.0, clock=slow.clock)
    assert 1 < slow.calls


def test_chunked_predictions_equal_one_call(knn):
    estimator, rows = knn
    slow = SlowModel(estimator, seconds_per_row=0.0001)  # 0.5 s for all: within the limit, several chunks
    predictions, probabilities = predict_in_chunks(slow, rows, True, time_limit=1.0, clock=slow.clock)
    assert slow.calls > 1
    assert np.array_equal(predictions, estimator.predict(rows))
    assert np.allclose(probabilities, estimator.predict_proba(rows))


# --- memory-sizing hyperparameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_type", "params"),
    [
        ("svc", {"cache_size": 1e9}),  # the reproduction: cache_size=1e9 (MB) was accepted
        ("decision_tree", {"max_leaf_nodes": 1_000_000}),
        ("gradient_boosting", {"max_leaf_nodes": 1_000_000}),
        ("svc", {"degree": 1_000}),
    ],
)
def test_memory_sizing_hyperparameters_are_capped(model_type, params):
    with pytest.raises(InvalidInput, match="above this service's limit"):
        coerce_params(MODEL_CLASSES[model_type], params)


def test_reasonable_sizes_pass():
    assert coerce_params(MODEL_CLASSES["svc"], {"cache_size": 500})["cache_size"] == 500


# --- JSON nesting ------------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path):
    settings = Settings(state_dir=tmp_path, secret_key=TEST_SECRET_KEY, database_url="sqlite://",
                        api_tokens=f"tests={API_TOKEN}", mlflow_tracking_uri="http://127.0.0.1:9")  # fmt: skip
    return create_app(settings, service=mock.Mock()).test_client()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_a_deeply_nested_body_is_a_400_not_a_500(client, depth):
    # the reproduction: a deeply nested JSON body answered 500
    body = '{"model_type": "knn", "X": ' + "[" * depth + "]" * depth + ', "y": [1]}'
    answer = client.post("/models/train", data=body, headers={**AUTH_HEADERS, "Content-Type": "application/json"})
    assert answer.status_code == 400 and "levels deep" in answer.get_json()["message"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
@pytest.mark.parametrize("path", ["/models/m/predict", "/v2/models/m/infer"])
def test_the_lean_predict_paths_keep_the_nesting_limit(client, path, depth):
    """Both prediction routes are parsed with orjson in front of Flask (rest/fast_path.py): same limit, 400."""
    nested = "[" * depth + "]" * depth
    body = f'{{"X": {nested}}}' if "v2" not in path else f'{{"inputs": [{{"name": "x", "data": {nested}}}]}}'
    answer = client.post(path, data=body, headers={**AUTH_HEADERS, "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    payload = answer.get_json()
    assert "levels deep" in (payload.get("message") or payload.get("error") or "")


def test_ordinary_bodies_still_parse(client):
    answer = client.post("/tokens", data=json.dumps({"name": "x" * 300}),
                         headers={**AUTH_HEADERS, "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 400 and "levels deep" not in answer.get_json()["message"]


# --- datasets: paths only from the md5 ----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return DatasetStore(str(tmp_path / "store"))


def plant(store_root, name: str, md5: str, record: dict) -> None:
    folder = store_root / "mlservice" / "datasets" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{md5}.json").write_text(json.dumps(record))


def test_a_planted_record_cannot_read_or_delete_outside_the_store(tmp_path, store):
    # the reproduction: a planted metadata record with path ../../.. made preview read, and delete
    # remove, a file outside the store
    victim = tmp_path / "victim.csv"
    victim.write_text("a,b\n1,2\n")
    uploaded = store.upload("iris", b"x,y\n1,2\n3,4\n")
    md5 = "0" * 32
    planted = {**uploaded, "md5": md5, "version": md5, "path": "../victim.csv", "name": "iris"}
    plant(tmp_path / "store", "iris", md5, planted)
    with pytest.raises(Unavailable):  # its bytes are looked for at files/md5/00/..., never at ../victim.csv
        store.get("iris", md5)
    store.delete("iris", md5, lambda *_: [])
    assert victim.read_text() == "a,b\n1,2\n"
    assert store.get("iris", uploaded["md5"])["preview"] == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


def test_records_that_disagree_with_their_path_are_ignored(tmp_path, store):
    uploaded = store.upload("iris", b"x,y\n1,2\n")
    plant(tmp_path / "store", "other", uploaded["md5"], uploaded)  # claims to be "iris" in other's folder
    assert [d["name"] for d in store.list()] == ["iris"]
    assert store.versions("iris")[0]["path"] == f"files/md5/{uploaded['md5'][:2]}/{uploaded['md5'][2:]}"


def test_the_md5_is_verified_when_previewing(tmp_path, store):
    uploaded = store.upload("iris", b"x,y\n1,2\n")
    (tmp_path / "store" / uploaded["path"]).write_bytes(b"x,y\n6,6\n")  # the bytes changed under the store
    with pytest.raises(Unavailable, match="md5"):
        store.get("iris")


# --- private files of the embedded default ------------------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_embedded_database_and_secret_files_are_private(tmp_path):
    # the reproduction: the embedded SQLite database was world-readable
    create_app(Settings(state_dir=tmp_path, mlflow_tracking_uri="http://127.0.0.1:9"), service=mock.Mock())
    assert mode(tmp_path / "mlservice.db") == 0o600
    assert mode(tmp_path / "secret_key") == 0o600 and mode(tmp_path / "local_api_token") == 0o600
    loose = tmp_path / "old" / "mlservice.db"
    loose.parent.mkdir()
    loose.write_bytes(b"")
    loose.chmod(0o644)  # made by an older release
    create_engine(f"sqlite:///{loose}")
    assert mode(loose) == 0o600


# --- gRPC: deeply nested Struct records ---------------------------------------------------------------------


def _varint(number: int) -> bytes:
    out = b""
    while True:
        low, number = number & 0x7F, number >> 7
        if not number:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def nested_records_request(depth: int) -> bytes:
    """A PredictRequest whose one record nests {"a": {"a": ... 1.0}} depth levels, encoded by hand (protobuf's
    own encoder refuses to build what its decoder would refuse)."""

    def struct_of(value: bytes) -> bytes:  # Struct{fields: {"a": value}}
        return _field(1, _field(1, b"a") + _field(2, value))

    value = b"\x11" + bytes(8)  # Value.number_value = 0.0
    for _ in range(depth):
        value = _field(5, struct_of(value))  # Value.struct_value
    return _field(1, b"m") + _field(4, struct_of(value))  # PredictRequest.model_id, .records


def test_a_deeply_nested_grpc_record_is_invalid_argument(tmp_path):
    import grpc  # pylint: disable=import-outside-toplevel

    from mlservice.grpc.server import build_server  # pylint: disable=import-outside-toplevel
    from tests.conftest import free_port  # pylint: disable=import-outside-toplevel

    settings = Settings(state_dir=tmp_path, database_url="sqlite://", grpc_port=free_port(),
                        api_tokens=f"tests={API_TOKEN}", secret_key=TEST_SECRET_KEY)  # fmt: skip
    core = mock.Mock()
    core.predict.return_value = {"model_id": "m", "version": 1, "predictions": np.array([1])}
    server, port = build_server(settings, core)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/mlservice.MLService/Predict")
            metadata = (("authorization", f"Bearer {API_TOKEN}"),)
            call(nested_records_request(5), metadata=metadata, timeout=30)
            assert core.predict.call_count == 1
            with pytest.raises(grpc.RpcError) as refused:
                call(nested_records_request(5_000), metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "nest" in refused.value.details() and core.predict.call_count == 1
    finally:
        server.stop(grace=None)


# --- training jobs: a quota per caller ----------------------------------------------------------------------


def test_one_caller_cannot_queue_more_than_the_quota_of_jobs(tmp_path):
    # the reproduction: one user queued 200 async jobs with n_estimators=5000
    from mlservice.core.inputs import TrainingRequest  # pylint: disable=import-outside-toplevel
    from mlservice.errors import TooManyJobs  # pylint: disable=import-outside-toplevel
    from mlservice.identity.principal import Principal  # pylint: disable=import-outside-toplevel
    from mlservice.jobs.runner import JobRunner  # pylint: disable=import-outside-toplevel
    from mlservice.jobs.store import JobStore  # pylint: disable=import-outside-toplevel

    release = threading.Event()

    def execute(_request, _owner, _progress):
        release.wait(60)
        return {"model_id": "m", "version": 1}

    runner = JobRunner(execute, JobStore(f"sqlite:///{tmp_path / 'jobs.db'}"), max_jobs_per_owner=3)
    request = TrainingRequest(model_type="random_forest", X=[[0.0], [1.0]], y=[0, 1], params={"n_estimators": 5000})
    alice, bob = Principal.service("alice"), Principal.service("bob")
    try:
        queued = [runner.submit(request, alice) for _ in range(3)]
        with pytest.raises(TooManyJobs, match="MLSERVICE_MAX_JOBS_PER_PRINCIPAL"):
            runner.submit(request, alice)
        runner.submit(request, bob)  # a quota per caller, not per service
        runner.cancel(queued[-1]["id"])  # a job that ends frees its place
        runner.submit(request, alice)
    finally:
        release.set()
        runner.stop()
