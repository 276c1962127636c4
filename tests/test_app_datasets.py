"""REST: /datasets (multipart upload, list, show, delete), training from a dataset, named-record and
CSV batch predictions, over the real core (MLflow on PostgreSQL, datasets in the S3 stand-in)."""

from __future__ import annotations

import csv
import io

import pytest

from mlservice.rest.app import create_app
from tests.conftest import AUTH_HEADERS
from tests.test_training_from_datasets import iris_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(settings, service):
    test_client = create_app(settings, service=service).test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    return test_client


def upload(client, name: str, data: bytes, filename: str = "data.csv"):
    return client.post(
        "/datasets", data={"name": name, "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


def test_dataset_lifecycle_train_predict_and_guarded_delete(client):
    first = upload(client, "flowers", iris_csv())
    assert first.status_code == 201, first.json
    version = first.json["version"]
    again = upload(client, "flowers", iris_csv())
    assert again.status_code == 200 and again.json["version"] == version and again.json["created"] is False

    listed = {d["name"]: d for d in client.get("/datasets").json}
    assert listed["flowers"]["source"] == "upload" and listed["flowers"]["latest"] == version
    assert any(d["source"] == "dvc" and d["name"] == "train" for d in client.get("/datasets").json)
    shown = client.get("/datasets/flowers/latest").json
    assert shown["rows"] == 150 and shown["schema"]["site"] == "string" and len(shown["preview"]) == 20
    assert client.get("/datasets/flowers").json["versions"][0]["version"] == version

    trained = client.post(
        "/models/train", json={"model_type": "gradient_boosting", "dataset": "flowers", "target": "species"}
    )
    assert trained.status_code == 201, trained.json
    model_id = trained.json["model_id"]
    try:
        model = client.get(f"/models/{model_id}").json
        assert model["versions"][0]["dataset"] == {"name": "flowers", "version": version, "target": "species"}
        record = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5, "site": "north"}
        predicted = client.post(f"/models/{model_id}/predict", json={"records": [record]}).json
        assert predicted["predictions"] == ["virginica"] and len(predicted["probabilities"][0]) == 3

        batch = iris_csv().decode().splitlines()
        body = ("\n".join(batch[:1] + batch[1:4] + batch[-2:]) + "\n").encode()
        as_json = client.post(
            f"/models/{model_id}/predict/csv",
            data={"file": (io.BytesIO(body), "batch.csv")},
            content_type="multipart/form-data",
        )
        assert as_json.status_code == 200 and as_json.json["predictions"][:3] == ["setosa"] * 3
        as_csv = client.post(
            f"/models/{model_id}/predict/csv?format=csv",
            data={"file": (io.BytesIO(body), "batch.csv")},
            content_type="multipart/form-data",
        )
        assert as_csv.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
        assert len(rows) == 5 and rows[0]["prediction"] == "setosa" and "probability_virginica" in rows[0]

        refused = client.delete(f"/datasets/flowers/{version}")
        assert refused.status_code == 409 and model_id in refused.json["message"]
    finally:
        client.delete(f"/models/{model_id}")
    assert client.delete(f"/datasets/flowers/{version}").status_code == 204
    assert client.get(f"/datasets/flowers/{version}").status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "status", "fragment"),
    [
        ("empty", b"", 400, "empty"),
        ("ragged", b"a,b\n1,2,3,4\n", 400, "malformed CSV"),
        ("header-only", b"a,b\n", 400, "no data rows"),
        ("bad name!", b"a,b\n1,2\n", 400, "name"),
        ("binary", b"\xff\xfe\x00\x01", 400, "UTF-8"),
    ],
)
def test_bad_uploads(client, name, data, status, fragment):
    response = upload(client, name, data)
    assert response.status_code == status and fragment in response.json["message"]


def test_upload_needs_a_file_and_respects_the_size_limit(settings, service, client):
    missing = client.post("/datasets", data={"name": "x"}, content_type="multipart/form-data")
    assert missing.status_code == 400
    small = create_app(settings.model_copy(update={"max_body_bytes": 2048}), service=service).test_client()
    small.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    assert upload(small, "big", iris_csv()).status_code == 413


def test_training_errors_from_datasets_are_400_or_404(client):
    unknown = client.post("/models/train", json={"model_type": "knn", "dataset": "nope", "target": "y"})
    assert unknown.status_code == 404 and "nope" in unknown.json["message"]
    upload(client, "tiny", b"a,b,label\n1,x,0\n2,y,1\n3,x,0\n4,y,1\n")
    try:
        wrong_target = client.post("/models/train", json={"model_type": "knn", "dataset": "tiny", "target": "z"})
        assert wrong_target.status_code == 400 and "target column 'z'" in wrong_target.json["message"]
        both = client.post(
            "/models/train", json={"model_type": "knn", "dataset": "tiny", "target": "label", "X": [[1]]}
        )
        assert both.status_code == 400
    finally:
        version = client.get("/datasets/tiny").json["versions"][0]["version"]
        client.delete(f"/datasets/tiny/{version}")
