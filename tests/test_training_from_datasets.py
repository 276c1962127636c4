"""Training from stored datasets (S3 stand-in) and DVC-tracked repository datasets: categorical
columns, missing values, named-record predictions, lineage in MLflow, and deletion guarded by lineage."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from sklearn.datasets import load_iris

from mlservice.errors import DatasetNotFound, InUse, InvalidInput
from mlservice.identity.principal import Principal
from models import ModelService
from tests.conftest import ROOT, predict, retrain, train

pytestmark = pytest.mark.integration

SPECIES = ["setosa", "versicolor", "virginica"]


def iris_csv(with_gap: bool = False, extra_rows: int = 0) -> bytes:
    """Iris with a string target and a categorical 'site' column; optionally one missing value."""
    X, y = load_iris(return_X_y=True)
    lines = ["sepal_length,sepal_width,petal_length,petal_width,site,species"]
    for i, (row, label) in enumerate(zip(X.tolist(), y.tolist(), strict=True)):
        site = ["north", "south", "east"][i % 3]
        values = [f"{v:.1f}" for v in row]
        if with_gap and i == 7:
            values[1] = ""
        lines.append(",".join([*values, site, SPECIES[label]]))
    for i in range(extra_rows):
        lines.append(f"5.{i % 10},3.0,1.4,0.2,north,setosa")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def iris_dataset(service):
    name = "iris-sites"
    record = service.upload_dataset(name, iris_csv(), Principal.service("tests"))
    yield record
    for model_id in service.registry.models_using_dataset(name, record["version"]):
        service.delete_model(model_id)
    try:
        service.delete_dataset(name, record["version"])
    except DatasetNotFound:
        pass


def test_train_on_a_dataset_predict_with_records_and_see_lineage(service, iris_dataset):
    result = train(
        service, "random_forest", dataset="iris-sites", target="species", params={"n_estimators": 20, "random_state": 0}
    )
    model_id = result["model_id"]
    record = service.get_model(model_id)
    assert record["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width", "site"]
    assert record["versions"][0]["dataset"] == {
        "name": "iris-sites",
        "version": iris_dataset["version"],
        "target": "species",
    }
    flower = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "site": "west"}
    by_name = predict(service, model_id, records=[flower])
    by_row = predict(service, model_id, X=[[5.1, 3.5, 1.4, 0.2, "west"]])
    assert by_name["predictions"] == by_row["predictions"] == ["setosa"]  # an unseen category is ignored
    service.cache.drop_model(model_id)  # the pipeline (one-hot encoder inside) reloads from the store
    assert predict(service, model_id, records=[flower])["predictions"] == ["setosa"]

    run = service.registry.client.get_run(record["run_id"])
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "iris-sites" and logged.dataset.digest == iris_dataset["md5"]
    assert "files/md5/" in logged.dataset.source and iris_dataset["md5"][2:] in logged.dataset.source
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training", "mlservice.target": "species"}

    with pytest.raises(InUse, match=model_id):
        service.delete_dataset("iris-sites", iris_dataset["version"])
    service.delete_model(model_id)
    assert service.delete_dataset("iris-sites", iris_dataset["version"])["md5"] == iris_dataset["md5"]


def test_missing_values_are_refused_or_imputed(service):
    service.upload_dataset("iris-gap", iris_csv(with_gap=True))
    try:
        with pytest.raises(InvalidInput, match=r"missing values in sepal_width \(1\).*impute"):
            train(service, "logistic_regression", dataset="iris-gap", target="species")
        result = train(
            service, "logistic_regression", dataset="iris-gap", target="species", impute=True, params={"max_iter": 500}
        )
        service.delete_model(result["model_id"])
    finally:
        for record in service.datasets.store.versions("iris-gap"):
            service.delete_dataset("iris-gap", record["version"])


@pytest.mark.parametrize(
    ("model_type", "options", "fragment"),
    [
        ("random_forest", {"target": "colour"}, "target column 'colour' is not in the dataset"),
        ("random_forest", {"target": "species", "features": ["petal_width", "stem"]}, "features not in the dataset"),
        ("random_forest", {"target": "species", "features": ["species"]}, "cannot also be a feature"),
        ("ridge", {"target": "species"}, "must be numeric for a regression model"),
        ("random_forest", {"target": "species", "X": [[1.0]]}, "either X and y, or dataset and target"),
    ],
)
def test_bad_dataset_training_requests(service, iris_dataset, model_type, options, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        train(service, model_type, dataset=iris_dataset["name"], **options)


def test_unknown_dataset_or_version(service, iris_dataset):
    with pytest.raises(DatasetNotFound):
        train(service, "knn", dataset="no-such-data", target="species")
    with pytest.raises(DatasetNotFound):
        train(service, "knn", dataset=f"{iris_dataset['name']}@{'0' * 32}", target="species")


def test_records_must_match_the_features(service, iris_dataset):
    model_id = train(service, "knn", dataset=iris_dataset["name"], target="species")["model_id"]
    try:
        with pytest.raises(InvalidInput, match="missing site; unknown colour"):
            predict(
                service,
                model_id,
                records=[{"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1, "colour": "x"}],
            )
        with pytest.raises(InvalidInput, match="feature 'sepal_length' must be numeric"):
            predict(service, model_id, X=[["big", 3.5, 1.4, 0.2, "north"]])
        with pytest.raises(InvalidInput, match="exactly one of X"):
            predict(service, model_id)
    finally:
        service.delete_model(model_id)


def test_retrain_on_a_new_dataset_version_keeps_target_and_features(service, iris_dataset):
    model_id = train(
        service,
        "decision_tree",
        dataset=iris_dataset["name"],
        target="species",
        features=["petal_length", "petal_width"],
    )["model_id"]
    newer = service.upload_dataset(iris_dataset["name"], iris_csv(extra_rows=10))
    try:
        assert newer["version"] != iris_dataset["version"]
        retrained = retrain(service, model_id, dataset=f"{iris_dataset['name']}@{newer['version']}")
        versions = service.get_model(model_id)["versions"]
        assert retrained["version"] == 2 and versions[0]["dataset"]["version"] == newer["version"]
        assert versions[1]["dataset"]["version"] == iris_dataset["version"]
        assert service.get_model(model_id)["feature_names"] == ["petal_length", "petal_width"]
    finally:
        service.delete_model(model_id)
        service.delete_dataset(iris_dataset["name"], newer["version"])


def test_train_from_the_dvc_tracked_repository_dataset(settings, tmp_path):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "train.csv.dvc", repo / "data" / "train.csv.dvc")
    shutil.copy(ROOT / "data" / "make_train_csv.py", repo / "data" / "make_train_csv.py")
    subprocess.run([sys.executable, "data/make_train_csv.py"], cwd=repo, check=True, capture_output=True)
    service = ModelService(settings.model_copy(update={"repo_root": repo}))
    listed = {d["name"]: d for d in service.list_datasets() if d["source"] == "dvc"}
    assert "train" in listed
    result = train(service, "logistic_regression", dataset="train", target="target", params={"max_iter": 500})
    try:
        record = service.get_model(result["model_id"])
        assert record["versions"][0]["dataset"]["version"] == listed["train"]["md5"]
        assert result["metrics"]["accuracy"] > 0.8
    finally:
        service.delete_model(result["model_id"])
