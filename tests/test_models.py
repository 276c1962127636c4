"""Tests of the ML core: catalogue, hyperparameter coercion, data validation, evaluation (unit), and
training / versioning / serving / deleting against a real MLflow server on PostgreSQL + S3."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from mlservice.core import artifacts, resolution, training
from mlservice.core.arrays import as_feature_matrix, as_targets
from mlservice.core.catalogue import MODEL_CLASSES, coerce_params, jsonable
from mlservice.core.datasets import DatasetCatalog
from mlservice.core.evaluation import fit_and_evaluate, holdout_possible
from mlservice.core.inputs import PredictRequest, TrainingRequest
from mlservice.core.model_cache import LoadedModel, ModelCache
from mlservice.core.registry import Registry
from mlservice.errors import Conflict, InvalidInput, ModelNotFound, PayloadTooLarge, Unavailable
from mlservice.settings import Settings
from models import ModelService
from tests.conftest import ROOT, predict, retrain, train

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
        if expected != "deprecated":  # a hidden sentinel: the schema shows the documented default instead
            assert entry["default"] == jsonable(expected)
        assert entry["types"]
        assert entry["description"].strip(), f"{model_class.key}.{name} has no description"
    assert "n_jobs" not in schema and "verbose" not in schema


def test_descriptions_are_scikit_learns_first_sentence_and_no_default_is_a_sentinel():
    logistic = {e["name"]: e for e in MODEL_CLASSES["logistic_regression"].hyperparameter_schema()}
    assert logistic["C"]["description"] == "Inverse of regularization strength; must be a positive float."
    assert logistic["fit_intercept"]["description"].startswith("Specifies if a constant (a.k.a. bias or intercept)")
    assert logistic["penalty"]["default"] == "l2"  # not 'deprecated', scikit-learn's hidden sentinel
    assert logistic["penalty"]["deprecated"].startswith("penalty was deprecated in version 1.8")
    assert "deprecated" not in logistic["l1_ratio"]  # only its None value is deprecated, not the parameter
    for model_class in MODEL_CLASSES.values():
        for entry in model_class.hyperparameter_schema():
            assert entry["default"] != "deprecated", (model_class.key, entry["name"])


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


@pytest.fixture
def fit_in_this_process():
    """Unit tests of the trainer: the fit runs in this process (test_fitting.py tests the child process)."""

    def fit(estimator, X, y, task, *, test_size, random_state, time_limit, checkpoint=None):
        del time_limit, checkpoint
        return fit_and_evaluate(estimator, X, y, task, test_size=test_size, random_state=random_state)

    with mock.patch.object(training, "fit_in_child", fit):
        yield


@pytest.mark.usefixtures("fit_in_this_process")
def test_training_logs_params_metrics_and_model_to_mlflow(iris):
    X, y = iris
    client = mock.MagicMock()
    client.get_registered_model.side_effect = MlflowException(
        "no such model", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    client.create_run.return_value.info.run_id = "run-1"
    client.create_run.return_value.info.artifact_uri = "mlflow-artifacts:/1/run-1/artifacts"
    client.create_model_version.return_value.version = "1"
    client.get_model_version_by_alias.side_effect = MlflowException(
        "no alias", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9"), client=client)
    repository = mock.MagicMock()

    with mock.patch.object(artifacts, "get_artifact_repository", return_value=repository) as repository_for:
        result = train(service, "random_forest", X, y, params={"n_estimators": "5"}, model_id="mocked")

    assert result["model_id"] == "mocked" and result["version"] == 1
    confusion = result["confusion_matrix"]  # on the held-out rows the metrics come from, not all 150
    assert confusion["labels"] == [0, 1, 2] and confusion["n_rows"] == result["n_eval"] == 30
    assert sum(map(sum, confusion["matrix"])) == 30
    tags = client.create_model_version.call_args.kwargs["tags"]
    assert json.loads(tags["mlservice.confusion_matrix"]) == confusion
    schema = json.loads(tags["mlservice.feature_schema"])
    assert schema[2] == {"name": "feature_2", "kind": "numeric", "nullable": False, "median": 4.35}
    client.create_registered_model.assert_called_once()
    batch = client.log_batch.call_args.kwargs
    assert {p.key: p.value for p in batch["params"]}["n_estimators"] == "5"
    assert {m.key for m in batch["metrics"]} >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert repository_for.call_args.args[0] == "mlflow-artifacts:/1/run-1/artifacts/model"
    uploaded = {call.args[0].rsplit("/", 1)[-1] for call in repository.log_artifact.call_args_list}
    assert {"MLmodel", "model.skops", "requirements.txt"} <= uploaded  # the saved model, file by file
    assert client.create_model_version.call_args.kwargs["source"].endswith("/model")
    client.set_registered_model_alias.assert_called_once_with("mocked", "current", "1")
    client.set_terminated.assert_called_once_with("run-1")


@pytest.mark.usefixtures("fit_in_this_process")
def test_a_failed_upload_rolls_back_the_registered_model(iris):
    X, _ = iris
    client = mock.MagicMock()
    client.get_registered_model.side_effect = MlflowException(
        "no such model", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST
    )
    client.create_run.return_value.info.run_id = "run-2"
    repository = mock.MagicMock()
    repository.log_artifact.side_effect = OSError("S3 down")
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9"), client=client)
    with (
        mock.patch.object(artifacts, "get_artifact_repository", return_value=repository),
        pytest.raises(Unavailable),
    ):
        train(service, "ridge", X, [row[0] for row in X], model_id="rolled-back")
    client.delete_registered_model.assert_called_once_with("rolled-back")
    client.delete_run.assert_called_once_with("run-2")


# --- against the real MLflow server (PostgreSQL + S3 stand-in) --------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("model_type", sorted(MODEL_CLASSES))
def test_every_class_trains_registers_and_reloads_from_the_store(service, iris, model_type):
    X, y = iris
    task = MODEL_CLASSES[model_type].task
    targets = y if task == "classification" else [row[0] for row in X]
    result = train(service, model_type, X, targets, params={})
    model_id = result["model_id"]
    try:
        assert result["version"] == 1 and result["evaluation"] == "holdout"
        expected_metrics = {"accuracy", "f1"} if task == "classification" else {"rmse", "mae", "r2"}
        assert expected_metrics <= set(result["metrics"])
        warm = predict(service, model_id, X[:3])
        service.cache.drop_model(model_id)  # force a load from the artifact store (skops, our trusted types)
        cold = predict(service, model_id, X[:3])
        assert cold["predictions"] == warm["predictions"]
        if task == "classification":
            assert len(cold["probabilities"][0]) == 3 and math.isclose(sum(cold["probabilities"][0]), 1.0)
    finally:
        service.delete_model(model_id)


@pytest.mark.integration
def test_retrain_creates_a_new_version_and_keeps_the_old_one(service, iris):
    X, y = iris
    first = train(service, "logistic_regression", X, y, params={"C": "0.01", "max_iter": "500"})
    model_id = first["model_id"]
    try:
        names = ["setosa", "versicolor", "virginica"]
        second = retrain(service, model_id, X, [names[label] for label in y], params={"C": 10})
        assert (first["version"], second["version"]) == (1, 2)
        record = service.get_model(model_id)
        assert record["version"] == 2 and [v["version"] for v in record["versions"]] == [2, 1]
        assert record["versions"][0]["params"] == {"C": 10, "max_iter": 500}  # old params kept, C overridden
        assert predict(service, model_id, X[:1])["predictions"] == ["setosa"]
        assert predict(service, model_id, X[:1], version=1)["predictions"] == [0]
        assert service.get_metrics(model_id, 1)["metrics"] == first["metrics"]
        assert service.get_metrics(model_id)["version"] == 2
    finally:
        service.delete_model(model_id)


@pytest.mark.integration
def test_small_data_falls_back_to_training_metrics(service):
    result = train(service, "decision_tree", [[0], [1], [2], [3]], [0, 1, 0, 1])
    try:
        assert result["evaluation"] == "train" and result["n_eval"] == 4
    finally:
        service.delete_model(result["model_id"])


@pytest.mark.integration
def test_list_is_oldest_first_and_shows_current_data(service, iris):
    X, y = iris
    ids = [train(service, "knn", X, y, params={"n_neighbors": n})["model_id"] for n in (3, 5)]
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
    train(service, "ridge", X, [row[0] for row in X], model_id="taken-id")
    try:
        with pytest.raises(Conflict, match="taken-id"):
            train(service, "ridge", X, [row[0] for row in X], model_id="taken-id")
        with pytest.raises(InvalidInput, match="expects 4 features per row, got 2"):
            predict(service, "taken-id", [[1.0, 2.0]])
        with pytest.raises(ModelNotFound, match="version 9"):
            predict(service, "taken-id", X[:1], version=9)
    finally:
        service.delete_model("taken-id")
    for call in (
        lambda: service.get_model("taken-id"),
        lambda: predict(service, "taken-id", X[:1]),
        lambda: service.delete_model("taken-id"),
        lambda: retrain(service, "taken-id", X, y),
        lambda: service.get_model("../../etc"),
    ):
        with pytest.raises(ModelNotFound):
            call()


@pytest.mark.integration
def test_delete_leaves_no_artifacts_behind(service, s3_client, iris):
    X, y = iris
    model_id = train(service, "random_forest", X, y, params={"n_estimators": 5})["model_id"]
    retrain(service, model_id, X, y)
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
    model_id = train(service, "logistic_regression", X, y, params={"max_iter": 300})["model_id"]
    try:
        loads_before = other_process.cache.loads
        for _ in range(5):
            assert predict(other_process, model_id, X[:2])["version"] == 1
        assert other_process.cache.loads == loads_before + 1
        retrain(service, model_id, X, y)
        assert predict(other_process, model_id, X[:2])["version"] == 2  # TTL 0 in tests: seen at once
        service.delete_model(model_id)
        with pytest.raises(ModelNotFound):
            predict(other_process, model_id, X[:2])
    finally:
        try:
            service.delete_model(model_id)
        except ModelNotFound:
            pass


@pytest.mark.integration
def test_runs_carry_params_metrics_and_the_model_artifact(service, iris):
    X, y = iris
    result = train(service, "gradient_boosting", X, y, params={"max_iter": "20"})
    try:
        run = service.registry.client.get_run(service.get_model(result["model_id"])["run_id"])
        assert run.data.params["max_iter"] == "20"
        assert math.isclose(run.data.metrics["accuracy"], result["metrics"]["accuracy"])
        artifacts = {a.path for a in service.registry.client.list_artifacts(run.info.run_id, "model")}
        assert {"model/MLmodel", "model/model.skops", "model/input_example.json"} <= artifacts
        model_info = service.registry.client.get_model_version(result["model_id"], "1")
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
    """Eight threads ask for one version at once: one loads it, seven wait for it (the per-key lock)."""
    cache = ModelCache(max_entries=4)
    calls = []

    def others_are_waiting_inside_the_cache() -> bool:
        frames = sys._current_frames()  # pylint: disable=protected-access  # which function each thread is in
        waiting = [
            frame
            for thread in threading.enumerate()
            if thread.name.startswith("cache-test")
            and (frame := frames.get(thread.ident)) is not None
            and frame.f_code.co_name == "get_or_load"  # blocked in the cache itself, not in a loader
        ]
        return len(waiting) == 7

    def slow_loader():
        calls.append(1)
        if len(calls) == 1:  # the first loader holds on until the other seven have asked, or have loaded too
            deadline = time.monotonic() + 30
            while not others_are_waiting_inside_the_cache() and len(calls) == 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        return loaded(1)

    with ThreadPoolExecutor(8, thread_name_prefix="cache-test") as pool:
        futures = [pool.submit(cache.get_or_load, ("m", "1"), slow_loader) for _ in range(8)]
        results = {id(f.result()) for f in futures}
    assert len(calls) == 1 and cache.loads == 1 and len(results) == 1


def test_current_ends_on_the_newest_version_when_another_process_moves_it_meanwhile():
    """Process A registered v2 and points current at it; while its write is in flight, process B registers
    v3 and points current at v3; A's write lands last. A re-reads after writing and moves current to v3."""
    versions, alias = ["1", "2"], {}

    def search(**_kwargs):
        page = [mock.Mock(version=v) for v in versions]
        return mock.Mock(__iter__=lambda _self: iter(page), token=None)

    def set_alias(_model, _name, version):
        if version == "2" and "3" not in versions:  # B overtakes A between A's read and A's write
            versions.append("3")
            alias["current"] = "3"
        alias["current"] = version

    client = mock.MagicMock()
    client.search_model_versions.side_effect = search
    client.set_registered_model_alias.side_effect = set_alias
    Registry(client, "tests").move_current_alias("m", "2")
    assert alias["current"] == "3"


def test_registry_view_is_served_stale_while_refreshing_in_the_background():
    clock = [1000.0]
    client = mock.MagicMock()
    versions = iter([mock.Mock(version="1", tags={"mlservice.managed": "true"}),
                     mock.Mock(version="2", tags={"mlservice.managed": "true"})])  # fmt: skip
    client.get_model_version_by_alias.side_effect = lambda *_: next(versions)
    service = ModelService(Settings(mlflow_tracking_uri="http://127.0.0.1:9", registry_ttl_seconds=5), client=client)
    with mock.patch.object(resolution.time, "monotonic", side_effect=lambda: clock[0]):
        assert service.resolver.resolve("m", None).version == "1"  # pylint: disable=protected-access
        clock[0] += 6  # past the TTL: answer at once from what we know, refresh off the request path
        assert service.resolver.resolve("m", None).version == "1"  # pylint: disable=protected-access
        service._pool.submit(lambda: None).result()  # pylint: disable=protected-access
        for _ in range(100):
            if not service.resolver._refreshing:  # pylint: disable=protected-access
                break
            threading.Event().wait(0.01)
        assert client.get_model_version_by_alias.call_count == 2
        assert service.resolver.resolve("m", None).version == "2"  # pylint: disable=protected-access


@pytest.mark.integration
@pytest.mark.reliability
def test_concurrent_retrains_from_two_processes_lose_no_version(service, settings, iris):
    X, y = iris
    other_process = ModelService(settings)  # a second front end: its own client, cache and pools
    model_id = train(service, "decision_tree", X, y)["model_id"]
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(retrain, s, model_id, X, y) for s in (service, other_process) * 2]
            versions = sorted(run.result()["version"] for run in runs)
        assert versions == [2, 3, 4, 5]
        record = service.get_model(model_id)
        assert [v["version"] for v in record["versions"]] == [5, 4, 3, 2, 1]
        assert record["version"] == 5  # "current" ends on the newest, whichever finished last
    finally:
        service.delete_model(model_id)


# --- requests are checked in the core, whichever front end built them ----------------------------------


def test_the_core_refuses_rows_and_records_at_once():
    with pytest.raises(InvalidInput, match="exactly one of X"):
        PredictRequest("m", X=[[1.0]], records=[{"a": 1.0}]).check()
    with pytest.raises(InvalidInput, match="exactly one of X"):
        PredictRequest("m").check()


@pytest.mark.parametrize("version", ["", "  ", None])
def test_the_core_refuses_to_delete_a_dataset_version_it_was_not_told(version):
    store = mock.Mock()
    catalog = DatasetCatalog(store, ROOT, models_using=lambda *_: [])
    with pytest.raises(InvalidInput, match="version is required"):
        catalog.delete("iris", version)
    store.delete.assert_not_called()  # never "the newest", by accident


@pytest.mark.parametrize(
    ("request_fields", "fragment"),
    [
        ({"model_type": "knn"}, "send X and y"),
        ({"model_type": "knn", "X": [[1.0]], "y": [0], "dataset": "d"}, "not both"),
        ({"model_type": "knn", "X": [[1.0]], "y": [0], "test_size": 0.9}, "test_size"),
        ({"model_type": "knn", "X": [[1.0]], "y": [0], "model_id": "bad id!"}, "model_id must be"),
        ({"model_type": "", "X": [[1.0]], "y": [0]}, "model_type is required"),
        ({"model_type": "knn", "X": [[1.0]], "y": [0], "run_async": "yes"}, "async must be"),
    ],
)
def test_a_training_request_is_checked_once_in_one_place(request_fields, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        TrainingRequest(**request_fields).check()


def test_a_training_request_survives_the_job_queue_unchanged():
    original = TrainingRequest(kind="retrain", model_id="m", X=[[1.0, 2.0]], y=["a"], params={"C": "2"},
                               test_size=0.3, random_state=None, run_async=True)  # fmt: skip
    assert TrainingRequest.from_json(original.to_json(), kind="retrain", model_id="m") == original
