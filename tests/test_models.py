"""Tests of the ML core: catalogue, hyperparameter coercion, data validation, evaluation (unit), and
training / versioning / serving / deleting against a real MLflow server on PostgreSQL + S3."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest
from mlflow.protos import databricks_pb2

import models
from mlservice.core.catalogue import jsonable
from mlservice.core.model_cache import LoadedModel, ModelCache
from mlservice.core.training import as_targets, holdout_possible
from mlservice.errors import Conflict, InvalidInput, ModelNotFound, PayloadTooLarge
from mlservice.settings import Settings
from models import MODEL_CLASSES, ModelService, as_feature_matrix, coerce_params

# --- catalogue -------------------------------------------------------------------------------------


def test_catalogue_has_the_reference_keys_and_the_required_classes():
    required = {
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
        "decision_tree",
        "knn",
        "svc",
        "linear_regression",
        "ridge",
        "random_forest_regressor",
        "gradient_boosting_regressor",
    }
    assert required <= set(MODEL_CLASSES)
    tasks = {key: mc.task for key, mc in MODEL_CLASSES.items()}
    assert tasks["random_forest"] == "classification" and tasks["ridge"] == "regression"


@pytest.mark.parametrize("key", sorted(MODEL_CLASSES))
def test_schema_is_derived_from_the_estimator(key):
    model_class = MODEL_CLASSES[key]
    schema = {entry["name"]: entry for entry in model_class.hyperparameter_schema()}
    assert schema, "every class has settable hyperparameters"
    estimator_defaults = model_class.estimator().get_params()
    for name, entry in schema.items():
        assert name in model_class.estimator._parameter_constraints  # pylint: disable=protected-access
        expected = model_class.default_overrides.get(name, estimator_defaults[name])
        assert entry["default"] == jsonable(expected)
        assert entry["types"]
    assert "n_jobs" not in schema and "verbose" not in schema


def test_schema_details_come_from_sklearn_constraints():
    logistic = {e["name"]: e for e in MODEL_CLASSES["logistic_regression"].hyperparameter_schema()}
    assert "lbfgs" in logistic["solver"]["choices"]
    assert logistic["C"]["ranges"][0]["min"] == 0 and logistic["C"]["ranges"][0]["closed"] == "right"
    forest = {e["name"]: e for e in MODEL_CLASSES["random_forest"].hyperparameter_schema()}
    assert forest["n_estimators"]["ranges"] == [{"type": "int", "min": 1, "max": None, "closed": "left"}]
    assert set(forest["max_depth"]["types"]) == {"int", "null"}


# --- hyperparameter coercion (the reference's string -> number test, extended) -----------------------


@pytest.mark.parametrize(
    ("model_type", "name", "text", "expected"),
    [
        ("random_forest", "n_estimators", "100", 100),
        ("logistic_regression", "tol", "1e-3", 0.001),
        ("random_forest", "max_depth", "None", None),
        ("random_forest", "bootstrap", "true", True),
        ("random_forest", "bootstrap", "False", False),
        ("svc", "max_iter", "-1", -1),
        ("logistic_regression", "solver", "lbfgs", "lbfgs"),
        ("random_forest", "max_features", "sqrt", "sqrt"),
        ("random_forest", "max_features", "0.5", 0.5),
        ("random_forest", "max_features", "3", 3),
        ("logistic_regression", "C", "2", 2),
        ("ridge", "alpha", "0.25", 0.25),
    ],
)
def test_string_hyperparameters_are_coerced(model_type, name, text, expected):
    effective = coerce_params(MODEL_CLASSES[model_type], {name: text})
    assert effective[name] == expected
    assert type(effective[name]) is type(expected)


def test_typed_values_pass_and_defaults_fill_the_rest():
    effective = coerce_params(MODEL_CLASSES["random_forest"], {"n_estimators": 7})
    assert effective["n_estimators"] == 7
    assert effective["criterion"] == "gini"


@pytest.mark.parametrize(
    ("model_type", "params", "fragment"),
    [
        ("random_forest", {"n_estimators": "-3"}, "n_estimators"),
        ("random_forest", {"n_estimators": "many"}, "n_estimators"),
        ("logistic_regression", {"solver": "magic"}, "solver"),
        ("logistic_regression", {"C": 0}, "C"),
        ("random_forest", {"no_such_param": 1}, "Unknown hyperparameter 'no_such_param'"),
        ("random_forest", {"n_jobs": -1}, "Unknown hyperparameter 'n_jobs'"),
    ],
)
def test_bad_hyperparameters_name_the_parameter(model_type, params, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        coerce_params(MODEL_CLASSES[model_type], params)


@pytest.mark.parametrize(
    ("model_type", "params", "fragment"),
    [
        ("random_forest", {"n_estimators": 10**9}, "n_estimators=1000000000 is above this service's limit of 5000"),
        ("gradient_boosting", {"max_iter": "1000000"}, "max_iter=1000000 is above"),
        ("knn", {"n_neighbors": 10**6}, "n_neighbors"),
        ("ridge", {f"p{i}": 1 for i in range(101)}, "too many hyperparameters"),
    ],
)
def test_hyperparameters_that_would_exhaust_the_server_are_refused(model_type, params, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        coerce_params(MODEL_CLASSES[model_type], params)


def test_params_must_be_a_mapping():
    with pytest.raises(InvalidInput, match="params must be an object"):
        coerce_params(MODEL_CLASSES["ridge"], ["alpha", 1])


# --- request data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        ([], "non-empty"),
        ([[1, 2], [3]], "row 0 has 2 values, row 1 has 1"),
        ([[1, "a"]], "only numbers"),
        ([[1, float("nan")]], "NaN or infinite"),
        ([[1, float("inf")]], "NaN or infinite"),
        ([1, 2, 3], "non-empty list of rows"),
        ([[]], "non-empty list of rows"),
    ],
)
def test_malformed_feature_matrices_are_refused(X, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        as_feature_matrix(X, Settings())


def test_feature_matrix_limits():
    with pytest.raises(PayloadTooLarge, match="rows"):
        as_feature_matrix([[1.0]] * 3, Settings(max_rows=2))
    with pytest.raises(PayloadTooLarge, match="features"):
        as_feature_matrix([[1.0, 2.0, 3.0]], Settings(max_features=2))


@pytest.mark.parametrize(
    ("y", "task", "fragment"),
    [
        ([0, 1], "classification", "3 rows but y has 2"),
        ([1, 1, 1], "classification", "at least 2 distinct classes"),
        ([0.5, 1, 2], "classification", "integers or strings"),
        ([1, "a", 2], "classification", "all integers or all strings"),
        (["a", "b", "c"], "regression", "only numbers"),
        ([1.0, float("nan"), 2.0], "regression", "finite numbers"),
    ],
)
def test_malformed_targets_are_refused(y, task, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        as_targets(y, 3, task)


@pytest.mark.parametrize(
    ("y", "test_size", "expected"),
    [
        ([0] * 10 + [1] * 10, 0.2, True),
        ([0] * 19 + [1], 0.2, False),  # a class with one member cannot be stratified
        ([0, 1, 0, 1], 0.2, False),  # too few rows
        ([0] * 10 + [1] * 10, 0, False),  # asked for training-set metrics
    ],
)
def test_holdout_only_when_the_data_allows(y, test_size, expected):
    assert holdout_possible(np.array(y), "classification", test_size) is expected


# --- the reference's "training logs to MLflow" test, with MLflow mocked -----------------------------


def test_training_logs_params_metrics_and_model_to_mlflow(iris):
    X, y = iris
    client = mock.MagicMock()
    client.get_registered_model.side_effect = models.MlflowException(
        "no such model", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    client.create_run.return_value.info.run_id = "run-1"
    client.create_run.return_value.info.artifact_uri = "mlflow-artifacts:/1/run-1/artifacts"
    client.create_model_version.return_value.version = "1"
    client.get_model_version_by_alias.side_effect = models.MlflowException(
        "no alias", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9"), client=client)
    repository = mock.MagicMock()

    with mock.patch.object(models, "get_artifact_repository", return_value=repository) as artifacts:
        result = service.train_model("random_forest", X, y, params={"n_estimators": "5"}, model_id="mocked")

    assert result["model_id"] == "mocked" and result["version"] == 1
    client.create_registered_model.assert_called_once()
    batch = client.log_batch.call_args.kwargs
    assert {p.key: p.value for p in batch["params"]}["n_estimators"] == "5"
    assert {m.key for m in batch["metrics"]} >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert artifacts.call_args.args[0] == "mlflow-artifacts:/1/run-1/artifacts/model"
    uploaded = {call.args[0].rsplit("/", 1)[-1] for call in repository.log_artifact.call_args_list}
    assert {"MLmodel", "model.skops", "requirements.txt"} <= uploaded  # the saved model, file by file
    assert client.create_model_version.call_args.kwargs["source"].endswith("/model")
    client.set_registered_model_alias.assert_called_once_with("mocked", "current", "1")
    client.set_terminated.assert_called_once_with("run-1")


def test_a_failed_upload_rolls_back_the_registered_model(iris):
    X, _ = iris
    client = mock.MagicMock()
    client.get_registered_model.side_effect = models.MlflowException(
        "no such model", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    client.create_run.return_value.info.run_id = "run-2"
    repository = mock.MagicMock()
    repository.log_artifact.side_effect = OSError("S3 down")
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9"), client=client)
    with (
        mock.patch.object(models, "get_artifact_repository", return_value=repository),
        pytest.raises(models.Unavailable),
    ):
        service.train_model("ridge", X, [row[0] for row in X], model_id="rolled-back")
    client.delete_registered_model.assert_called_once_with("rolled-back")
    client.delete_run.assert_called_once_with("run-2")


# --- against the real MLflow server (PostgreSQL + S3 stand-in) --------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("model_type", sorted(MODEL_CLASSES))
def test_every_class_trains_registers_and_reloads_from_the_store(service, iris, model_type):
    X, y = iris
    task = MODEL_CLASSES[model_type].task
    targets = y if task == "classification" else [row[0] for row in X]
    result = service.train_model(model_type, X, targets, params={})
    model_id = result["model_id"]
    try:
        assert result["version"] == 1 and result["evaluation"] == "holdout"
        expected_metrics = {"accuracy", "f1"} if task == "classification" else {"rmse", "mae", "r2"}
        assert expected_metrics <= set(result["metrics"])
        warm = service.predict(model_id, X[:3])
        service.cache.drop_model(model_id)  # force a load from the artifact store (skops, our trusted types)
        cold = service.predict(model_id, X[:3])
        assert cold["predictions"] == warm["predictions"]
        if task == "classification":
            assert len(cold["probabilities"][0]) == 3 and math.isclose(sum(cold["probabilities"][0]), 1.0)
    finally:
        service.delete_model(model_id)


@pytest.mark.integration
def test_retrain_creates_a_new_version_and_keeps_the_old_one(service, iris):
    X, y = iris
    first = service.train_model("logistic_regression", X, y, params={"C": "0.01", "max_iter": "500"})
    model_id = first["model_id"]
    try:
        names = ["setosa", "versicolor", "virginica"]
        second = service.retrain_model(model_id, X, [names[label] for label in y], params={"C": 10})
        assert (first["version"], second["version"]) == (1, 2)
        record = service.get_model(model_id)
        assert record["version"] == 2 and [v["version"] for v in record["versions"]] == [2, 1]
        assert record["versions"][0]["params"] == {"C": 10, "max_iter": 500}  # old params kept, C overridden
        assert service.predict(model_id, X[:1])["predictions"] == ["setosa"]
        assert service.predict(model_id, X[:1], version=1)["predictions"] == [0]
        assert service.get_metrics(model_id, 1)["metrics"] == first["metrics"]
        assert service.get_metrics(model_id)["version"] == 2
    finally:
        service.delete_model(model_id)


@pytest.mark.integration
def test_small_data_falls_back_to_training_metrics(service):
    result = service.train_model("decision_tree", [[0], [1], [2], [3]], [0, 1, 0, 1])
    try:
        assert result["evaluation"] == "train" and result["n_eval"] == 4
    finally:
        service.delete_model(result["model_id"])


@pytest.mark.integration
def test_list_is_oldest_first_and_shows_current_data(service, iris):
    X, y = iris
    ids = [service.train_model("knn", X, y, params={"n_neighbors": n})["model_id"] for n in (3, 5)]
    try:
        listed = [m for m in service.list_models() if m["id"] in ids]
        assert [m["id"] for m in listed] == ids
        assert [m["params"] for m in listed] == [{"n_neighbors": 3}, {"n_neighbors": 5}]
        assert all(m["version"] == 1 and m["task"] == "classification" for m in listed)
    finally:
        for model_id in ids:
            service.delete_model(model_id)


@pytest.mark.integration
def test_taken_ids_unknown_ids_and_wrong_feature_counts(service, iris):
    X, y = iris
    service.train_model("ridge", X, [row[0] for row in X], model_id="taken-id")
    try:
        with pytest.raises(Conflict, match="taken-id"):
            service.train_model("ridge", X, [row[0] for row in X], model_id="taken-id")
        with pytest.raises(InvalidInput, match="expects 4 features per row, got 2"):
            service.predict("taken-id", [[1.0, 2.0]])
        with pytest.raises(ModelNotFound, match="version 9"):
            service.predict("taken-id", X[:1], version=9)
    finally:
        service.delete_model("taken-id")
    for call in (
        lambda: service.get_model("taken-id"),
        lambda: service.predict("taken-id", X[:1]),
        lambda: service.delete_model("taken-id"),
        lambda: service.retrain_model("taken-id", X, y),
        lambda: service.get_model("../../etc"),
    ):
        with pytest.raises(ModelNotFound):
            call()


@pytest.mark.integration
def test_delete_leaves_no_artifacts_behind(service, s3_client, iris):
    X, y = iris
    model_id = service.train_model("random_forest", X, y, params={"n_estimators": 5})["model_id"]
    service.retrain_model(model_id, X, y)
    run_ids = {v["run_id"] for v in service.get_model(model_id)["versions"]}
    assert len(run_ids) == 2

    def keys_for(run_id):
        listing = s3_client.list_objects_v2(Bucket="mlflow")
        return [obj["Key"] for obj in listing.get("Contents", []) if f"/{run_id}/" in obj["Key"]]

    assert all(keys_for(run_id) for run_id in run_ids), "artifacts are in the S3 bucket"
    service.delete_model(model_id)
    assert not any(keys_for(run_id) for run_id in run_ids)
    assert model_id not in {m["id"] for m in service.list_models()}


@pytest.mark.integration
def test_model_is_loaded_once_per_version_and_other_processes_changes_are_seen(service, settings, iris):
    X, y = iris
    other_process = ModelService(settings)  # stands for a second front-end process: its own cache
    model_id = service.train_model("logistic_regression", X, y, params={"max_iter": 300})["model_id"]
    try:
        loads_before = other_process.cache.loads
        for _ in range(5):
            assert other_process.predict(model_id, X[:2])["version"] == 1
        assert other_process.cache.loads == loads_before + 1
        service.retrain_model(model_id, X, y)
        assert other_process.predict(model_id, X[:2])["version"] == 2  # TTL 0 in tests: seen at once
        service.delete_model(model_id)
        with pytest.raises(ModelNotFound):
            other_process.predict(model_id, X[:2])
    finally:
        try:
            service.delete_model(model_id)
        except ModelNotFound:
            pass


@pytest.mark.integration
def test_runs_carry_params_metrics_and_the_model_artifact(service, iris):
    X, y = iris
    result = service.train_model("gradient_boosting", X, y, params={"max_iter": "20"})
    try:
        run = service.client.get_run(service.get_model(result["model_id"])["run_id"])
        assert run.data.params["max_iter"] == "20"
        assert math.isclose(run.data.metrics["accuracy"], result["metrics"]["accuracy"])
        artifacts = {a.path for a in service.client.list_artifacts(run.info.run_id, "model")}
        assert {"model/MLmodel", "model/model.skops", "model/input_example.json"} <= artifacts
        model_info = service.client.get_model_version(result["model_id"], "1")
        assert model_info.source.endswith("/model")
    finally:
        service.delete_model(result["model_id"])


# --- the model cache and the registry view (units) ---------------------------------------------------


def loaded(size: int) -> LoadedModel:
    return LoadedModel(estimator=object(), version="1", task="classification", n_features=1, classes=None,
                       size_bytes=size)  # fmt: skip


def test_cache_is_bounded_by_count_and_by_bytes():
    by_count = ModelCache(max_entries=2)
    for name in "abc":
        by_count.put((name, "1"), loaded(10))
    assert len(by_count) == 2 and by_count.size_bytes == 20  # "a", least recently used, went first

    by_bytes = ModelCache(max_entries=10, max_bytes=100)
    by_bytes.put(("a", "1"), loaded(60))
    by_bytes.put(("b", "1"), loaded(30))
    by_bytes.get_or_load(("a", "1"), lambda: pytest.fail("cached: must not load"))  # "a" is now the newest
    by_bytes.put(("c", "1"), loaded(30))
    assert len(by_bytes) == 2 and by_bytes.size_bytes == 90  # "b" evicted, not the recently used "a"
    by_bytes.put(("huge", "1"), loaded(500))
    assert len(by_bytes) == 1  # one entry over the limit still serves


def test_each_version_loads_once_under_concurrent_requests():
    cache = ModelCache(max_entries=4)
    release = threading.Event()
    calls = []

    def slow_loader():
        calls.append(1)
        release.wait(5)
        return loaded(1)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get_or_load, ("m", "1"), slow_loader) for _ in range(8)]
        release.set()
        results = {id(f.result()) for f in futures}
    assert len(calls) == 1 and cache.loads == 1 and len(results) == 1


def test_registry_view_is_served_stale_while_refreshing_in_the_background():
    clock = [1000.0]
    client = mock.MagicMock()
    versions = iter([mock.Mock(version="1", tags={"mlservice.managed": "true"}),
                     mock.Mock(version="2", tags={"mlservice.managed": "true"})])  # fmt: skip
    client.get_model_version_by_alias.side_effect = lambda *_: next(versions)
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9", registry_ttl_seconds=5), client=client)
    with mock.patch.object(models.time, "monotonic", side_effect=lambda: clock[0]):
        assert service._resolve("m", None).version == "1"  # pylint: disable=protected-access
        clock[0] += 6  # past the TTL: answer at once from what we know, refresh off the request path
        assert service._resolve("m", None).version == "1"  # pylint: disable=protected-access
        service._io_pool.submit(lambda: None).result()  # pylint: disable=protected-access
        for _ in range(100):
            if not service._refreshing:  # pylint: disable=protected-access
                break
            threading.Event().wait(0.01)
        assert client.get_model_version_by_alias.call_count == 2
        assert service._resolve("m", None).version == "2"  # pylint: disable=protected-access


@pytest.mark.integration
@pytest.mark.reliability
def test_concurrent_retrains_from_two_processes_lose_no_version(service, settings, iris):
    X, y = iris
    other_process = ModelService(settings)  # a second front end: its own client, cache and pools
    model_id = service.train_model("decision_tree", X, y)["model_id"]
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(s.retrain_model, model_id, X, y) for s in (service, other_process) * 2]
            versions = sorted(run.result()["version"] for run in runs)
        assert versions == [2, 3, 4, 5]
        record = service.get_model(model_id)
        assert [v["version"] for v in record["versions"]] == [5, 4, 3, 2, 1]
        assert record["version"] == 5  # "current" ends on the newest, whichever finished last
    finally:
        service.delete_model(model_id)
