"""gRPC server tests: a real server on a free port over the real core; generated code in sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import app_pb2
import app_pb2_grpc
import inference_pb2
import inference_pb2_grpc
from mlservice.grpc.server import build_server
from models import ModelService
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("proto", ["app.proto", "inference.proto"])
def test_generated_code_matches_its_proto(tmp_path, proto):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
         proto],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    stem = proto.removesuffix(".proto")
    for name in (f"{stem}_pb2.py", f"{stem}_pb2_grpc.py"):
        assert (tmp_path / name).read_text() == (ROOT / name).read_text(), f"{name} is stale: run 'make proto'"


def test_reference_contract_is_kept():

    def fields(message):
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert app_pb2.DESCRIPTOR.package == "mlservice"
    assert {
        "HealthCheck",
        "GetModelClasses",
        "ListModels",
        "TrainModel",
        "GetModel",
        "DeleteModel",
        "Predict",
        "RetrainModel",
        "GetMetrics",
    } <= set(app_pb2.DESCRIPTOR.services_by_name["MLService"].methods_by_name)
    assert {"model_type": 1, "params": 2, "X": 3, "y": 4}.items() <= fields(app_pb2.TrainRequest).items()
    assert {"model_id": 1, "X": 2}.items() <= fields(app_pb2.PredictRequest).items()
    assert {"predictions": 1}.items() <= fields(app_pb2.PredictResponse).items()
    assert {"model_id": 1, "X": 2, "y": 3}.items() <= fields(app_pb2.RetrainRequest).items()
    assert {"id": 1, "model_type": 2, "params": 3, "created_at": 4, "metrics": 5}.items() <= fields(
        app_pb2.ModelResponse
    ).items()
    assert {"class_name": 1, "hyperparameters": 2, "description": 3}.items() <= fields(app_pb2.ModelClassInfo).items()
    assert {"features": 1}.items() <= fields(app_pb2.FeatureArray).items()


@pytest.fixture(scope="module")
def grpc_target(settings, service):
    server, port = build_server(settings.model_copy(update={"grpc_port": free_port()}), service)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def stub(grpc_target):
    with grpc.insecure_channel(grpc_target) as channel:
        yield app_pb2_grpc.MLServiceStub(channel)


def features(rows):
    return [app_pb2.FeatureArray(features=row) for row in rows]


pytestmark = pytest.mark.integration


def test_health_check_and_standard_health_service(stub, grpc_target):
    assert stub.HealthCheck(app_pb2.HealthRequest()).status == "ok"
    with grpc.insecure_channel(grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service_name in ("", "mlservice.MLService"):
            response = health.Check(health_pb2.HealthCheckRequest(service=service_name))
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(grpc_target):
    with grpc.insecure_channel(grpc_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "mlservice.MLService" in names


def test_model_classes_include_schema(stub):
    classes = stub.GetModelClasses(app_pb2.Empty()).model_classes
    assert classes["random_forest"].class_name == "RandomForestClassifier"
    assert "n_estimators" in classes["random_forest"].hyperparameters
    schema = {hp.name: hp for hp in classes["random_forest"].schema}
    assert schema["n_estimators"].default_json == "100" and schema["n_estimators"].ranges[0].min == "1"
    assert classes["ridge"].task == "regression"


def test_full_cycle_over_grpc(stub, iris):
    X, y = iris
    trained = stub.TrainModel(
        app_pb2.TrainRequest(
            model_type="random_forest", params={"n_estimators": "10", "max_depth": "None"}, X=features(X), y=y
        )
    )
    model_id = trained.model_id
    try:
        assert trained.version == 1 and trained.metrics["accuracy"] > 0.8 and trained.evaluation == "holdout"
        assert model_id in [m.id for m in stub.ListModels(app_pb2.Empty()).models]
        record = stub.GetModel(app_pb2.ModelId(model_id=model_id))
        assert record.model_type == "random_forest" and record.params == {"n_estimators": "10", "max_depth": "null"}
        predicted = stub.Predict(app_pb2.PredictRequest(model_id=model_id, X=features(X[:3])))
        assert list(predicted.predictions) == y[:3] and len(predicted.probabilities) == 3
        assert stub.GetMetrics(app_pb2.ModelId(model_id=model_id)).metrics["accuracy"] == trained.metrics["accuracy"]
        retrained = stub.RetrainModel(app_pb2.RetrainRequest(model_id=model_id, X=features(X), y=y))
        assert retrained.version == 2 and retrained.metrics
        assert [v.version for v in stub.GetModel(app_pb2.ModelId(model_id=model_id)).versions] == [2, 1]
        assert stub.DeleteModel(app_pb2.ModelId(model_id=model_id)).success
    finally:
        try:
            stub.DeleteModel(app_pb2.ModelId(model_id=model_id))
        except grpc.RpcError:
            pass
    with pytest.raises(grpc.RpcError) as gone:
        stub.GetModel(app_pb2.ModelId(model_id=model_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_string_labels_and_regression_targets(stub, iris):
    X, y = iris
    names = ["setosa", "versicolor", "virginica"]
    labelled = stub.TrainModel(
        app_pb2.TrainRequest(model_type="knn", X=features(X), y_labels=[names[i] for i in y])
    ).model_id
    regression = stub.TrainModel(
        app_pb2.TrainRequest(model_type="linear_regression", X=features(X), y_values=[r[0] for r in X], test_size=0)
    )
    try:
        predicted = stub.Predict(app_pb2.PredictRequest(model_id=labelled, X=features(X[:1])))
        assert list(predicted.labels) == ["setosa"] and list(predicted.classes) == names
        assert regression.evaluation == "train" and "r2" in regression.metrics
    finally:
        stub.DeleteModel(app_pb2.ModelId(model_id=labelled))
        stub.DeleteModel(app_pb2.ModelId(model_id=regression.model_id))


@pytest.mark.parametrize(
    ("rpc", "request_message", "code", "fragment"),
    [
        (
            "TrainModel",
            app_pb2.TrainRequest(model_type="nope", X=features([[1.0], [2.0]]), y=[0, 1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unknown model_type",
        ),
        (
            "TrainModel",
            app_pb2.TrainRequest(
                model_type="random_forest", params={"n_estimators": "abc"}, X=features([[1.0], [2.0]]), y=[0, 1]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "n_estimators",
        ),
        (
            "TrainModel",
            app_pb2.TrainRequest(model_type="knn", X=features([[1.0, 2.0], [1.0]]), y=[0, 1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "same length",
        ),
        (
            "TrainModel",
            app_pb2.TrainRequest(model_type="knn", X=features([[float("nan")], [1.0]]), y=[0, 1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "NaN",
        ),
        (
            "TrainModel",
            app_pb2.TrainRequest(model_type="knn", X=[], y=[]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "send X and y",
        ),
        (
            "Predict",
            app_pb2.PredictRequest(model_id="no-such-model", X=features([[1.0]])),
            grpc.StatusCode.NOT_FOUND,
            "no-such-model",
        ),
        ("Predict", app_pb2.PredictRequest(model_id="", X=features([[1.0]])), grpc.StatusCode.NOT_FOUND, "not found"),
        ("GetModel", app_pb2.ModelId(model_id="no-such-model"), grpc.StatusCode.NOT_FOUND, "no-such-model"),
        ("DeleteModel", app_pb2.ModelId(model_id="no-such-model"), grpc.StatusCode.NOT_FOUND, "no-such-model"),
        ("GetMetrics", app_pb2.ModelId(model_id="no-such-model"), grpc.StatusCode.NOT_FOUND, "no-such-model"),
        (
            "RetrainModel",
            app_pb2.RetrainRequest(model_id="no-such-model", X=features([[1.0]]), y=[1]),
            grpc.StatusCode.NOT_FOUND,
            "no-such-model",
        ),
    ],
)
def test_bad_requests_get_clear_status_codes(stub, rpc, request_message, code, fragment):
    _refused(stub, rpc, request_message, code, fragment)


@pytest.mark.parametrize(
    ("request_message", "fragment"),
    [
        (app_pb2.TrainRequest(model_type="x" * 100_000, X=features([[1.0], [2.0]]), y=[0, 1]), "Unknown model_type"),
        (app_pb2.TrainRequest(model_type="knn", X=features([[1.0], [2.0]]), y_labels=["a", "b" * 100_000]),
         "y[1]: a class label of 100,000 characters"),
        (app_pb2.TrainRequest(model_type="knn", X=features([[1.0], [2.0]]), y=[0, 1], feature_names=["f" * 100_000]),
         "feature_names[0]"),
    ],
)  # fmt: skip
def test_long_strings_are_refused_without_being_echoed_back(stub, request_message, fragment):
    details = _refused(stub, "TrainModel", request_message, grpc.StatusCode.INVALID_ARGUMENT, fragment)
    assert len(details) < 4000


def _refused(stub, rpc, request_message, code, fragment) -> str:
    with pytest.raises(grpc.RpcError) as failure:
        getattr(stub, rpc)(request_message)
    assert failure.value.code() == code
    assert fragment in failure.value.details()
    assert stub.HealthCheck(app_pb2.HealthRequest()).status == "ok"  # still serving
    return failure.value.details()


def test_wrong_feature_count_at_predict(stub, iris):
    X, y = iris
    model_id = stub.TrainModel(
        app_pb2.TrainRequest(model_type="logistic_regression", X=features(X), y=y, params={"max_iter": "300"})
    ).model_id
    try:
        with pytest.raises(grpc.RpcError) as failure:
            stub.Predict(app_pb2.PredictRequest(model_id=model_id, X=features([[1.0, 2.0]])))
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "expects 4 features" in failure.value.details()
    finally:
        stub.DeleteModel(app_pb2.ModelId(model_id=model_id))


def test_datasets_over_grpc_train_predict_with_records_and_guarded_delete(stub):
    from google.protobuf import struct_pb2  # pylint: disable=import-outside-toplevel

    from tests.test_training_from_datasets import iris_csv  # pylint: disable=import-outside-toplevel

    uploaded = stub.UploadDataset(app_pb2.UploadDatasetRequest(name="grpc-flowers", content=iris_csv()))
    assert uploaded.created and uploaded.rows == 150 and uploaded.uri.endswith(uploaded.md5[2:])
    again = stub.UploadDataset(app_pb2.UploadDatasetRequest(name="grpc-flowers", content=iris_csv()))
    assert not again.created and again.version == uploaded.version
    listed = {(d.name, d.source) for d in stub.ListDatasets(app_pb2.Empty()).datasets}
    assert ("grpc-flowers", "upload") in listed and ("train", "dvc") in listed
    shown = stub.GetDataset(app_pb2.DatasetRef(name="grpc-flowers"))
    assert len(shown.preview) == 20 and shown.preview[0]["species"] == "setosa"

    trained = stub.TrainModel(
        app_pb2.TrainRequest(model_type="random_forest", dataset="grpc-flowers", target="species",
                             params={"n_estimators": "15"})
    )  # fmt: skip
    try:
        record = struct_pb2.Struct()
        record.update({"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2, "site": "x"})
        predicted = stub.Predict(app_pb2.PredictRequest(model_id=trained.model_id, records=[record]))
        assert list(predicted.labels) == ["setosa"] and not predicted.predictions  # string classes: labels only
        version = stub.GetModel(app_pb2.ModelId(model_id=trained.model_id)).versions[0]
        assert (version.dataset, version.dataset_version, version.target) == (
            "grpc-flowers", uploaded.version, "species"
        )  # fmt: skip
        with pytest.raises(grpc.RpcError) as in_use:
            stub.DeleteDataset(app_pb2.DatasetRef(name="grpc-flowers", version=uploaded.version))
        assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert trained.model_id in in_use.value.details()
    finally:
        stub.DeleteModel(app_pb2.ModelId(model_id=trained.model_id))
    assert stub.DeleteDataset(app_pb2.DatasetRef(name="grpc-flowers", version=uploaded.version)).success
    with pytest.raises(grpc.RpcError) as gone:
        stub.GetDataset(app_pb2.DatasetRef(name="grpc-flowers", version=uploaded.version))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("rpc", "request_message", "code"),
    [
        ("UploadDataset", app_pb2.UploadDatasetRequest(name="x", content=b""), grpc.StatusCode.INVALID_ARGUMENT),
        ("UploadDataset", app_pb2.UploadDatasetRequest(name="", content=b"a\n1\n"), grpc.StatusCode.INVALID_ARGUMENT),
        ("GetDataset", app_pb2.DatasetRef(name="no-such-dataset"), grpc.StatusCode.NOT_FOUND),
        ("DeleteDataset", app_pb2.DatasetRef(name="no-such-dataset"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            "TrainModel",
            app_pb2.TrainRequest(model_type="knn", dataset="no-such-dataset", target="y"),
            grpc.StatusCode.NOT_FOUND,
        ),  # fmt: skip
    ],
)
def test_bad_dataset_requests(stub, rpc, request_message, code):
    with pytest.raises(grpc.RpcError) as failure:
        getattr(stub, rpc)(request_message)
    assert failure.value.code() == code


def test_packed_batches_match_row_by_row_predictions(stub, iris):
    X, y = iris
    model_id = stub.TrainModel(app_pb2.TrainRequest(model_type="logistic_regression", X=features(X), y=y,
                                                    params={"max_iter": "300"})).model_id  # fmt: skip
    try:
        by_rows = stub.Predict(app_pb2.PredictRequest(model_id=model_id, X=features(X)))
        flat = [value for row in X for value in row]
        packed = stub.Predict(app_pb2.PredictRequest(model_id=model_id, values=flat, n_features=4))
        assert list(packed.predictions) == list(by_rows.predictions) and not packed.probabilities
        assert packed.n_classes == 3 and len(packed.flat_probabilities) == 3 * len(X)
        first_row = list(packed.flat_probabilities[:3])
        assert first_row == pytest.approx(list(by_rows.probabilities[0].values), abs=1e-6)  # float32 X vs double
        for bad in (app_pb2.PredictRequest(model_id=model_id, values=flat[:-1], n_features=4),
                    app_pb2.PredictRequest(model_id=model_id, values=flat, n_features=0)):  # fmt: skip
            with pytest.raises(grpc.RpcError) as failure:
                stub.Predict(bad)
            assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        stub.DeleteModel(app_pb2.ModelId(model_id=model_id))


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("/mlservice.MLService/TrainModel", b"\x0a\x02\xff\xfe"),  # model_type = two non-UTF-8 bytes
        ("/mlservice.MLService/GetModel", b"\x0a\x03\xc3\x28\x41"),  # model_id with an invalid sequence
        ("/mlservice.MLService/Predict", b"\x12\x05\x0d\x00\x00"),  # a truncated FeatureArray
        ("/mlservice.MLService/ListModels", b"\xff\xff\xff"),  # not a message at all
    ],
)
def test_undecodable_bytes_are_invalid_argument_and_the_server_keeps_serving(grpc_target, stub, method, payload):
    with grpc.insecure_channel(grpc_target) as channel:
        raw = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as failure:
            raw(payload, timeout=30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.HealthCheck(app_pb2.HealthRequest()).status == "ok"


ALLOWED_REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
READ_ONLY_RPCS = {"HealthCheck", "GetModelClasses", "ListModels", "ListDatasets"}  # an empty request is valid


@pytest.mark.parametrize("rpc", sorted(app_pb2.DESCRIPTOR.services_by_name["MLService"].methods_by_name))
def test_every_rpc_refuses_an_empty_request_clearly(grpc_target, stub, rpc):
    """Derived from the service descriptor, so a new RPC cannot slip through untested."""
    method = app_pb2.DESCRIPTOR.services_by_name["MLService"].methods_by_name[rpc]
    request_class = getattr(app_pb2, method.input_type.name)
    with grpc.insecure_channel(grpc_target) as channel:
        call = channel.unary_unary(
            f"/mlservice.MLService/{rpc}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=lambda data: data,
        )
        if rpc in READ_ONLY_RPCS:
            call(request_class(), timeout=60)
        else:
            with pytest.raises(grpc.RpcError) as failure:
                call(request_class(), timeout=60)
            assert failure.value.code() in ALLOWED_REFUSALS, (rpc, failure.value.code(), failure.value.details())
    assert stub.HealthCheck(app_pb2.HealthRequest()).status == "ok"


def test_oversized_messages_and_row_counts_are_resource_exhausted(settings):
    small = settings.model_copy(update={"grpc_port": free_port(), "max_body_bytes": 64 * 1024, "max_rows": 100})
    server, port = build_server(small, ModelService(small))  # the core holds the row limit, the server the size
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            with pytest.raises(grpc.RpcError) as too_big:  # ~160 KB: over the message limit
                stub.Predict(app_pb2.PredictRequest(model_id="m", values=[1.0] * 20_000, n_features=4))
            assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.RpcError) as too_many_rows:  # small message, but 500 rows > max_rows
                stub.TrainModel(app_pb2.TrainRequest(model_type="knn", X=features([[1.0]] * 500), y=[0, 1] * 250))
            assert too_many_rows.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limit is 100" in too_many_rows.value.details()
            assert stub.HealthCheck(app_pb2.HealthRequest()).status == "ok"
    finally:
        server.stop(grace=None)


def test_open_streams_and_slow_calls_do_not_starve_predictions(grpc_target, settings):
    # each health Watch stream holds a server thread for as long as it is open; with more of them than
    # the server has core threads (MLSERVICE_GRPC_WORKERS), computing calls must still be answered
    streams_open = settings.grpc_workers + 2
    with grpc.insecure_channel(grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watches = [health.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(streams_open)]
        try:
            for watch in watches:  # each answers the current status at once, then waits for a change
                assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            inference = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
            assert inference.ServerLive(inference_pb2.ServerLiveRequest(), timeout=30).live
            assert app_pb2_grpc.MLServiceStub(channel).HealthCheck(app_pb2.HealthRequest(), timeout=30).status == "ok"
        finally:
            for watch in watches:
                watch.cancel()
