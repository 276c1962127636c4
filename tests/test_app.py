"""REST API tests: Flask test client over the real core (MLflow server on PostgreSQL + S3)."""

from __future__ import annotations

import pytest

from mlservice.rest.app import create_app
from tests.conftest import AUTH_HEADERS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app(settings, service):
    application = create_app(settings, service=service)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    return test_client


@pytest.fixture
def trained(client, iris):
    X, y = iris
    response = client.post(
        "/models/train", json={"model_type": "logistic_regression", "X": X, "y": y, "params": {"max_iter": "300"}}
    )
    assert response.status_code == 201, response.json
    model_id = response.json["model_id"]
    yield model_id
    client.delete(f"/models/{model_id}")


def test_health_reports_mlflow(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["mlflow"] == "ok"


def test_model_classes_have_task_description_and_schema(client):
    classes = client.get("/model-classes").json
    assert classes["random_forest"]["task"] == "classification"
    assert classes["ridge"]["task"] == "regression"
    names = {hp["name"] for hp in classes["random_forest"]["hyperparameters"]}
    assert {"n_estimators", "max_depth"} <= names


def test_full_cycle(client, trained, iris):
    X, y = iris
    listed = client.get("/models").json
    assert trained in [m["id"] for m in listed]
    record = client.get(f"/models/{trained}").json
    assert record["model_type"] == "logistic_regression" and record["version"] == 1
    assert record["params"] == {"max_iter": 300}

    prediction = client.post(f"/models/{trained}/predict", json={"X": X[:2]}).json
    assert prediction["predictions"] == y[:2] and prediction["version"] == 1
    assert len(prediction["probabilities"]) == 2 and prediction["classes"] == [0, 1, 2]

    retrained = client.post(f"/models/{trained}/retrain", json={"X": X, "y": y, "params": {"C": 0.5}})
    assert retrained.status_code == 200 and retrained.json["version"] == 2
    assert client.get(f"/metrics/{trained}").json["version"] == 2
    assert client.get(f"/metrics/{trained}?version=1").json["version"] == 1
    assert client.post(f"/models/{trained}/predict", json={"X": X[:1], "version": 1}).json["version"] == 1

    assert client.delete(f"/models/{trained}").status_code == 204
    assert client.get(f"/models/{trained}").status_code == 404


def test_string_labels_and_regression_over_rest(client, iris):
    X, y = iris
    names = ["setosa", "versicolor", "virginica"]
    labelled = client.post("/models/train", json={"model_type": "decision_tree", "X": X, "y": [names[i] for i in y]})
    regression = client.post("/models/train", json={"model_type": "ridge", "X": X, "y": [r[0] for r in X]})
    try:
        assert labelled.status_code == 201 and regression.status_code == 201
        predicted = client.post(f"/models/{labelled.json['model_id']}/predict", json={"X": X[:1]}).json
        assert predicted["predictions"] == ["setosa"] and predicted["classes"] == names
        value = client.post(f"/models/{regression.json['model_id']}/predict", json={"X": X[:1]}).json
        assert isinstance(value["predictions"][0], float) and "probabilities" not in value
        assert set(regression.json["metrics"]) == {"rmse", "mae", "r2"}
    finally:
        for response in (labelled, regression):
            client.delete(f"/models/{response.json['model_id']}")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("post", "/models/train", {"model_type": "nope", "X": [[1], [2]], "y": [0, 1]}, 400, "Unknown model_type"),
        (
            "post",
            "/models/train",
            {"model_type": "random_forest", "params": {"n_estimators": "-1"}, "X": [[1], [2]], "y": [0, 1]},
            400,
            "n_estimators",
        ),
        (
            "post",
            "/models/train",
            {"model_type": "random_forest", "params": {"bogus": 1}, "X": [[1], [2]], "y": [0, 1]},
            400,
            "bogus",
        ),
        ("post", "/models/train", {"model_type": "knn", "X": [[1, 2], [3]], "y": [0, 1]}, 400, "same length"),
        ("post", "/models/train", {"model_type": "knn", "X": [[1], [2]], "y": [0]}, 400, "must match"),
        ("post", "/models/train", {"model_type": "knn", "X": [[1], [2]]}, 400, "y"),
        ("post", "/models/train", {"model_type": "knn", "X": [["a"], [2]], "y": [0, 1]}, 400, "X"),
        (
            "post",
            "/models/train",
            {"model_type": "knn", "X": [[1], [2]], "y": [0, 1], "test_size": 0.9},
            400,
            "test_size",
        ),
        (
            "post",
            "/models/train",
            {"model_type": "knn", "X": [[1], [2]], "y": [0, 1], "model_id": "bad id!"},
            400,
            "model_id",
        ),
        ("post", "/models/no-such-model/predict", {"X": [[1.0]]}, 404, "no-such-model"),
        ("post", "/models/no-such-model/retrain", {"X": [[1.0]], "y": [1]}, 404, "no-such-model"),
        ("get", "/models/no-such-model", None, 404, "no-such-model"),
        ("delete", "/models/no-such-model", None, 404, "no-such-model"),
        ("get", "/metrics/no-such-model", None, 404, "no-such-model"),
    ],
)
def test_bad_requests_get_a_json_message_naming_the_problem(client, method, path, body, status, fragment):
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert response.status_code == status, response.json
    assert fragment in str(response.json)  # "message" names it; schema errors name the field under "errors"
    assert "message" in response.json and "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model_type": "knn", "X": 5, "y": [0]}, "X must be a non-empty list"),
        ({"model_type": "knn", "X": "rows", "y": [0]}, "X must be a non-empty list"),
        ({"model_type": "knn", "X": {"a": 1}, "y": [0]}, "X must be a non-empty list"),
        ({"model_type": "knn", "X": [[1], [2]], "y": {"a": 1}}, "y must be a list"),
        ({"model_type": "knn", "X": [[1], [2]], "y": [[0], [1]]}, "all integers or all strings"),
        ({"model_type": "knn", "X": [[[1]], [[2]]], "y": [0, 1]}, "X"),
        ({"model_type": "knn", "X": [[1], [2]], "y": [0, 1], "random_state": "seven"}, "random_state"),
        ({"model_type": "knn", "X": [[1], [2]], "y": [0, 1], "random_state": -1}, "random_state"),
        ({"model_type": "knn", "X": [[1], [2]], "y": [0, 1], "feature_names": "ab"}, "feature_names"),
        ({"model_type": "knn", "dataset": 7, "target": "y"}, "dataset"),
        ({"model_type": "knn", "dataset": "d", "target": "y", "impute": "yes"}, "impute"),
        ({"model_type": 3, "X": [[1], [2]], "y": [0, 1]}, "model_type"),
    ],
)
def test_wrongly_typed_fields_are_400_not_500(client, body, fragment):
    response = client.post("/models/train", json=body)
    assert response.status_code == 400, response.json
    assert fragment in str(response.json)


@pytest.mark.parametrize("body", [{"X": 5}, {"X": [[1.0, "x", 2.0, 3.0]]}, {"records": "x"}, {"records": [1]}, {}])
def test_wrongly_typed_predict_inputs_are_400(client, trained, body):
    response = client.post(f"/models/{trained}/predict", json=body)
    assert response.status_code == 400, response.json


def test_wrong_feature_count_and_bad_version_at_predict(client, trained):
    wrong = client.post(f"/models/{trained}/predict", json={"X": [[1.0, 2.0]]})
    assert wrong.status_code == 400 and "expects 4 features" in wrong.json["message"]
    missing = client.post(f"/models/{trained}/predict", json={"X": [[1.0, 2.0, 3.0, 4.0]], "version": 7})
    assert missing.status_code == 404 and "version 7" in missing.json["message"]
    bad = client.get(f"/metrics/{trained}?version=abc")
    assert bad.status_code == 400 and "version" in bad.json["message"]


def test_malformed_json_and_oversized_bodies(settings, service):
    small = create_app(settings.model_copy(update={"max_body_bytes": 2048}), service=service).test_client()
    small.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    garbage = small.post("/models/train", data="{not json", content_type="application/json")
    assert garbage.status_code == 400 and "message" in garbage.json
    huge = small.post("/models/train", json={"model_type": "knn", "X": [[1.0] * 50] * 50, "y": [0] * 50})
    assert huge.status_code == 413 and "message" in huge.json


def test_security_headers_and_no_cors(client):
    for response in (client.get("/health"), client.get("/models/nope"), client.get("/")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    cross_origin = client.get("/models", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in cross_origin.headers


def test_swagger_documents_every_endpoint(client):
    spec = client.get("/swagger.json").json
    assert {
        "/health",
        "/model-classes",
        "/models",
        "/models/train",
        "/models/{model_id}",
        "/models/{model_id}/predict",
        "/models/{model_id}/retrain",
        "/metrics/{model_id}",
    } <= set(spec["paths"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert operation.get("summary"), f"{method.upper()} {path} has no one-line docstring"
    assert client.get("/").status_code == 200  # Swagger UI


LONG = "x" * 100_000
IRIS_LIKE = {"X": [[1.0, 2.0], [2.0, 1.0], [1.5, 2.5], [2.5, 1.5]], "y": [0, 1, 0, 1]}


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("post", "/models/train", {"model_type": LONG, **IRIS_LIKE}, "Unknown model_type"),
        ("post", "/models/train", {"model_type": "knn", "feature_names": ["a", LONG], **IRIS_LIKE},
         "feature_names[1]: a name of 100,000 characters; the limit is 200"),
        ("post", "/models/train", {"model_type": "knn", "dataset": LONG, "target": "y"}, "dataset: a name of 100,000"),
        ("post", "/models/train", {"model_type": "knn", "dataset": "d", "target": LONG}, "target: a name of 100,000"),
        ("post", "/models/train", {"model_type": "knn", "dataset": "d", "target": "y", "features": [LONG]},
         "features[0]"),
        ("post", "/models/train", {"model_type": "knn", "X": IRIS_LIKE["X"], "y": ["a", "b", "a", LONG]},
         "y[3]: a class label of 100,000 characters"),
        ("post", "/models/train", {"model_type": "knn", "params": {LONG: 1}, **IRIS_LIKE}, "characters left out"),
        ("post", "/models/train", {"model_type": "knn", "params": {"weights": LONG}, **IRIS_LIKE}, "weights"),
        ("get", f"/models/{'m' * 3000}", None, "not found"),
    ],
)  # fmt: skip
def test_long_strings_are_refused_without_being_echoed_back(client, method, path, body, fragment):
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert 400 <= response.status_code < 500, response.status_code
    assert fragment in response.json["message"]
    assert len(response.get_data()) < 4000  # the 100,000 characters are not reflected


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-endpoint/<script>alert(1)</script>",
        "/models/<script>alert(1)</script>",
        "/models/<script>/predict",
        "/metrics/<img src=x onerror=alert(1)>",
        "/jobs/<script>",
        "/datasets/<script>",
        "/swagger.json?x=<script>alert(1)</script>",
        "/models?<script>=1",
    ],
)
def test_no_response_reflects_markup_as_html_and_errors_are_json(client, path):
    """Input may be quoted in a JSON message ("Model '<script>' not found"), but never in an HTML page:
    every answer, to a browser too, is JSON that the browser may not sniff into HTML."""
    for accept in ("text/html", "application/json"):
        response = client.get(path, headers={"Accept": accept})
        assert response.content_type.startswith("application/json"), (path, response.status_code)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if response.status_code >= 400:
            assert response.json["message"]
