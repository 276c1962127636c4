"""REST front end (port 5000): Flask + Flask-RESTX over the ``ModelService`` core.

Swagger UI is served at ``/`` and the OpenAPI document at ``/swagger.json``. Every endpoint only
converts the request, calls the core and returns its result; core exceptions are mapped to HTTP
status codes once, in ``HTTP_STATUS``. Run it with gunicorn: ``gunicorn "app:create_app()"``
(``docker/entrypoint.sh rest`` does).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, request
from flask_restx import Api, Namespace, Resource, fields
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException

from mlservice.core.training import training_options
from mlservice.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TrainingLimitExceeded,
    Unavailable,
)
from mlservice.identity.auth import PUBLIC_PATHS, init_auth
from mlservice.jobs.runner import JobRunner
from mlservice.rest.fields import AnyValue, NullableList, NullableString
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

# Most specific first: PayloadTooLarge is an InvalidInput, InUse a Conflict.
HTTP_STATUS: list[tuple[type[ServiceError], int]] = [
    (PayloadTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (InvalidInput, HTTPStatus.BAD_REQUEST),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (TrainingLimitExceeded, HTTPStatus.UNPROCESSABLE_ENTITY),
    (Unavailable, HTTPStatus.SERVICE_UNAVAILABLE),
]


def http_status_for(error: ServiceError) -> int:
    """The HTTP status code of a core exception."""
    for error_type, status in HTTP_STATUS:
        if isinstance(error, error_type):
            return int(status)
    return int(HTTPStatus.INTERNAL_SERVER_ERROR)


# Responses any operation can give, documented once for the whole spec (see ServiceApi).
COMMON_RESPONSES = {
    "400": "Invalid input: the message names the problem",
    "401": "Authentication required: sign in or send 'Authorization: Bearer <token>'",
    "413": "Request too large (body, rows or features over the configured limits)",
    "503": "MLflow or the artifact/dataset store is unavailable; try again",
}


class ServiceApi(Api):
    """Flask-RESTX's Api, whose spec also documents the responses every operation can give."""

    @property
    def __schema__(self):
        schema = super().__schema__
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method == "parameters":
                    continue
                responses = operation.setdefault("responses", {})
                if not any(code.startswith("2") for code in responses):
                    responses["200"] = {"description": "Success"}
                for code, description in COMMON_RESPONSES.items():
                    if code == "401" and path in PUBLIC_PATHS:
                        continue
                    responses.setdefault(code, {"description": description, "schema": {"$ref": "#/definitions/Error"}})
        return schema


def current_owner() -> str | None:
    """Who is calling (GitHub login or token name), when authentication has set it."""
    return g.get("owner")


def _version_arg() -> str | None:
    return request.args.get("version") or None


def _training_options(payload: dict[str, Any]) -> dict[str, Any]:
    return {**training_options(payload), "owner": current_owner()}


def register_resources(api: Api, service, runner) -> None:  # pylint: disable=too-many-locals
    """Declare the namespaces, schemas and resources of the API over one service object."""
    # pylint: disable=unused-variable  # Flask-RESTX registers each Resource class by decorator
    error = api.model("Error", {"message": fields.String(description="What went wrong, for a person")})
    # Large arrays are declared without a schema for their items: jsonschema would otherwise check
    # every number in Python (seconds for 100k rows); the core validates them with NumPy instead.
    rows = AnyValue(
        description="Rows of feature values (array of arrays) in the model's feature order: numbers; strings "
        "for categorical columns of dataset-trained models",
        example=[[5.1, 3.5, 1.4, 0.2]],
    )
    training_fields = {
        "params": fields.Raw(
            description="Hyperparameters (see GET /model-classes); values may be typed or strings",
            example={"C": 1.0, "max_iter": "200"},
        ),
        "X": rows,
        "y": AnyValue(description="Targets (array): class labels (int/str) or numbers, one per row", example=[0]),
        "dataset": fields.String(
            description="Train on a stored dataset instead of X/y: 'name' (newest) or 'name@version'",
            example="iris",
        ),
        "target": fields.String(description="With dataset: the column to predict", example="species"),
        "features": fields.List(fields.String, description="With dataset: columns to use (default: all others)"),
        "impute": fields.Boolean(description="With dataset: fill missing feature values instead of refusing"),
        "async": fields.Boolean(
            description="Answer 202 with a job at once and train in the background (GET /jobs/<id>)"
        ),
        "feature_names": fields.List(fields.String, description="Column names of X (optional)"),
        "test_size": fields.Float(
            min=0, max=0.5, description="Held-out share for evaluation (default 0.2; 0 = training data)"
        ),
        "random_state": fields.Integer(description="Seed of the train/evaluation split (default 42)"),
    }
    train_request = api.model(
        "TrainRequest",
        {
            "model_type": fields.String(required=True, example="logistic_regression"),
            "model_id": fields.String(description="Optional id to give the model (letters, digits, _ . -)"),
            **training_fields,
        },
    )
    retrain_request = api.model("RetrainRequest", training_fields)
    train_result = api.model(
        "TrainResult",
        {
            "model_id": fields.String,
            "version": fields.Integer,
            "model_type": fields.String,
            "task": fields.String,
            "metrics": fields.Raw,
            "evaluation": fields.String(description="'holdout' or 'train' (too little data to hold out)"),
            "n_train": fields.Integer,
            "n_eval": fields.Integer,
            "params": fields.Raw,
            "timings": fields.Raw,
        },
    )
    predict_request = api.model(
        "PredictRequest",
        {
            "X": rows,
            "records": AnyValue(
                description="Instead of X: an array of objects keyed by feature name",
                example=[{"petal_length": 1.4, "petal_width": 0.2, "sepal_length": 5.1, "sepal_width": 3.5}],
            ),
            "version": fields.Integer(min=1, description="Model version (default: current)"),
        },
    )
    predict_result = api.model(
        "PredictResult",
        {
            "model_id": fields.String,
            "version": fields.Integer,
            "predictions": fields.List(AnyValue),
            "classes": fields.List(AnyValue, description="Column order of probabilities (classifiers)"),
            "probabilities": fields.List(fields.List(fields.Float)),
        },
    )
    model_record = api.model(
        "Model",
        {
            "id": fields.String,
            "model_type": fields.String,
            "task": fields.String,
            "created_at": fields.String,
            "updated_at": fields.String,
            "owner": fields.String,
            "version": fields.Integer,
            "params": fields.Raw,
            "metrics": fields.Raw,
            "evaluation": fields.String,
            "feature_names": NullableList(fields.String),
            "n_features": fields.Integer,
            "classes": NullableList(AnyValue, description="Class labels (classifiers); null for regression"),
            "run_id": NullableString,
            "versions": fields.List(
                fields.Raw,
                description="GET /models/<id> only: every version, newest first, with the dataset it was trained on",
            ),
        },
    )

    root = Namespace("health", path="/", description="Liveness and dependencies")
    catalogue = Namespace("model-classes", path="/model-classes", description="What can be trained")
    models_ns = Namespace("models", path="/models", description="Train, list, inspect, predict, retrain, delete")
    metrics_ns = Namespace("metrics", path="/metrics", description="Metrics of a model's current version")

    @root.route("/health")
    class Health(Resource):
        """Service health."""

        def get(self):
            """Health of the service and of the MLflow registry it depends on."""
            return service.health()

    @catalogue.route("")
    class ModelClasses(Resource):
        """The model catalogue."""

        def get(self):
            """Every trainable model class, keyed by model_type, with its hyperparameter schema."""
            return {info["key"]: info for info in service.model_classes()}

    @models_ns.route("/train")
    class Train(Resource):
        """Training."""

        @models_ns.expect(train_request, validate=True)
        @models_ns.response(201, "Trained and registered", train_result)
        @models_ns.response(202, "async: queued as a job (see GET /jobs/<id>)")
        @models_ns.response(400, "Invalid input", error)
        @models_ns.response(409, "model_id already taken", error)
        @models_ns.response(413, "Too large", error)
        @models_ns.response(422, "Training stopped: over the time limit, or out of memory", error)
        @models_ns.response(503, "MLflow unavailable", error)
        def post(self):
            """Train a new model; it is registered in MLflow as version 1."""
            payload = request.get_json()
            if payload.get("async"):
                return runner.submit("train", payload, owner=current_owner()), 202
            result = service.train_model(
                payload["model_type"], model_id=payload.get("model_id"), **_training_options(payload)
            )
            return result, 201

    @models_ns.route("")
    class ModelList(Resource):
        """All models."""

        @models_ns.response(200, "Models, oldest first", [model_record])
        @models_ns.response(503, "MLflow unavailable", error)
        def get(self):
            """Every model with its current version's params and metrics, oldest first."""
            return service.list_models()

    @models_ns.route("/<string:model_id>")
    @models_ns.response(404, "Unknown model", error)
    class ModelItem(Resource):
        """One model."""

        @models_ns.response(200, "The model and all its versions", model_record)
        def get(self, model_id):
            """A model with its current version and every version's params and metrics."""
            return service.get_model(model_id)

        @models_ns.response(204, "Deleted")
        def delete(self, model_id):
            """Delete the model, all its versions, runs and artifacts."""
            service.delete_model(model_id)
            return "", 204

    @models_ns.route("/<string:model_id>/predict")
    @models_ns.response(404, "Unknown model or version", error)
    class Predict(Resource):
        """Predictions."""

        @models_ns.expect(predict_request, validate=True)
        @models_ns.response(200, "Predictions", predict_result)
        @models_ns.response(400, "Invalid input (e.g. wrong number of features)", error)
        def post(self, model_id):
            """Predict with the current (or given) version; classifiers also return probabilities."""
            payload = request.get_json()
            return service.predict(
                model_id, X=payload.get("X"), records=payload.get("records"), version=payload.get("version")
            )

    @models_ns.route("/<string:model_id>/retrain")
    @models_ns.response(404, "Unknown model", error)
    class Retrain(Resource):
        """Retraining."""

        @models_ns.expect(retrain_request, validate=True)
        @models_ns.response(200, "Retrained: a new version is current", train_result)
        @models_ns.response(202, "async: queued as a job (see GET /jobs/<id>)")
        @models_ns.response(400, "Invalid input", error)
        @models_ns.response(422, "Training stopped: over the time limit, or out of memory", error)
        def post(self, model_id):
            """Train the model again on new data; creates a new registry version and makes it current."""
            payload = request.get_json()
            if payload.get("async"):
                return runner.submit("retrain", payload, owner=current_owner(), model_id=model_id), 202
            return service.retrain_model(model_id, **_training_options(payload))

    @metrics_ns.route("/<string:model_id>")
    @metrics_ns.response(404, "Unknown model", error)
    class Metrics(Resource):
        """Metrics."""

        @metrics_ns.doc(params={"version": "Model version (default: current)"})
        def get(self, model_id):
            """Evaluation metrics of the model's current (or given) version."""
            return service.get_metrics(model_id, _version_arg())

    csv_upload = api.parser()
    csv_upload.add_argument("file", location="files", type=FileStorage, required=True, help="CSV with a header")
    csv_upload.add_argument("version", location="args", type=int, help="Model version (default: current)")
    csv_upload.add_argument("format", location="args", choices=("json", "csv"), default="json")

    @models_ns.route("/<string:model_id>/predict/csv")
    @models_ns.response(404, "Unknown model or version", error)
    class PredictCsv(Resource):
        """Batch prediction from a CSV file."""

        @models_ns.expect(csv_upload)
        @models_ns.response(200, "Predictions as JSON, or the rows with prediction columns as CSV (format=csv)")
        @models_ns.response(400, "Malformed CSV or columns not matching the model", error)
        def post(self, model_id):
            """Predict for every row of an uploaded CSV whose header names the model's features."""
            args = csv_upload.parse_args()
            as_csv = args["format"] == "csv"
            result = service.predict_csv(model_id, args["file"].read(), version=args["version"], as_csv=as_csv)
            if as_csv:
                disposition = f"attachment; filename={model_id}-predictions.csv"
                return Response(result, mimetype="text/csv", headers={"Content-Disposition": disposition})
            return result

    for namespace in (root, catalogue, models_ns, metrics_ns, dataset_namespace(api, service, error),
                      job_namespace(runner, error)):  # fmt: skip
        api.add_namespace(namespace)


def job_namespace(runner, error) -> Namespace:
    """Resources of /jobs: asynchronous (re)training jobs."""
    # pylint: disable=unused-variable  # Flask-RESTX registers each Resource class by decorator
    namespace = Namespace("jobs", path="/jobs", description="Asynchronous training jobs")

    @namespace.route("")
    class Jobs(Resource):
        """Your jobs."""

        def get(self):
            """Your most recent training jobs, newest first."""
            return runner.store.list(owner=current_owner())

    @namespace.route("/<string:job_id>")
    @namespace.response(404, "Unknown job", error)
    class Job(Resource):
        """One job."""

        def get(self, job_id):
            """Status (queued/running/succeeded/failed/cancelled), phase, progress, timings, model and version."""
            return runner.get(job_id)

    @namespace.route("/<string:job_id>/cancel")
    @namespace.response(404, "Unknown job", error)
    class CancelJob(Resource):
        """Cancellation."""

        def post(self, job_id):
            """Cancel a queued job, or stop a running one before it registers anything."""
            return runner.cancel(job_id)

    return namespace


def dataset_namespace(api: Api, service, error) -> Namespace:
    """Resources of /datasets: upload (multipart), list, show with a preview, delete unused versions."""
    # pylint: disable=unused-variable  # Flask-RESTX registers each Resource class by decorator
    namespace = Namespace("datasets", path="/datasets", description="Versioned CSV datasets (DVC layout in S3)")
    upload = api.parser()
    upload.add_argument("name", location="form", required=True, help="Dataset name (letters, digits, _ . -)")
    upload.add_argument("file", location="files", type=FileStorage, required=True, help="CSV with a header row")

    @namespace.route("")
    class Datasets(Resource):
        """All datasets."""

        def get(self):
            """Uploaded datasets with their versions, and the DVC-tracked repository datasets."""
            return service.list_datasets()

        @namespace.expect(upload)
        @namespace.response(201, "Stored as a new version")
        @namespace.response(200, "Identical bytes: the existing version")
        @namespace.response(400, "Malformed CSV or bad name", error)
        @namespace.response(413, "Too large", error)
        def post(self):
            """Upload a CSV as a new immutable version (its md5) of the named dataset."""
            args = upload.parse_args()
            record = service.upload_dataset(args["name"], args["file"].read(), owner=current_owner())
            return record, 201 if record.get("created") else 200

    @namespace.route("/<string:name>")
    @namespace.response(404, "Unknown dataset", error)
    class DatasetVersions(Resource):
        """One dataset."""

        def get(self, name):
            """Every version of a dataset, newest first."""
            return {"name": name, "versions": service.dataset_versions(name)}

    @namespace.route("/<string:name>/<string:version>")
    @namespace.response(404, "Unknown dataset or version", error)
    class DatasetVersion(Resource):
        """One dataset version."""

        def get(self, name, version):
            """A version ('latest' for the newest) with its schema and a preview of the first rows."""
            return service.get_dataset(name, None if version == "latest" else version)

        @namespace.response(204, "Deleted")
        @namespace.response(409, "Models were trained on it", error)
        def delete(self, name, version):
            """Delete a dataset version that no model was trained on."""
            service.delete_dataset(name, version)
            return "", 204

    return namespace


def create_app(settings: Settings | None = None, service=None) -> Flask:
    """Application factory (gunicorn: ``app:create_app()``); tests pass their own settings."""
    settings = settings or Settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if service is None:
        from models import ModelService  # pylint: disable=import-outside-toplevel  # heavy: MLflow, sklearn

        service = ModelService(settings)

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        ERROR_404_HELP=False,
        RESTX_MASK_SWAGGER=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.extensions["mlservice"] = service
    api = ServiceApi(
        app,
        version="1.0",
        title="mlservice",
        description="Train, version and serve scikit-learn models; every model is tracked in MLflow. "
        "Authorize with 'Bearer <token>' (an API token, or the local token printed by make run).",
        doc="/",
        authorizations={"bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        security="bearer",
    )
    init_auth(app, api, settings)

    @app.after_request
    def security_headers(response):
        # JSON API + Swagger UI: no sniffing, no framing, no referrer leaks; scripts only from here
        # (the Swagger page has inline bootstrap code). No CORS headers: other origins are refused.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'",
        )
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @api.errorhandler(ServiceError)
    def handle_service_error(exc: ServiceError):
        return {"message": exc.message}, http_status_for(exc)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        # URLs outside the API (and errors raised before it) answer JSON like the API, never an HTML
        # page; the message is werkzeug's fixed text, so nothing of the request is reflected
        return {"message": exc.description or exc.name}, exc.code or 500

    runner = JobRunner.from_settings(service, settings).start()
    app.extensions["mlservice_jobs"] = runner
    register_resources(api, service, runner)
    return app
