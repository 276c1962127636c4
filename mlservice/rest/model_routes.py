"""REST resources of models: train, list, get, delete, predict (JSON and CSV), retrain, aliases, metrics.

Each resource converts the request, calls the core facade (``core()``) and returns its answer;
errors are the core's exceptions, mapped once (``mlservice.rest.errors``).
"""

from __future__ import annotations

from flask import Response, request
from flask_restx import Namespace, Resource, reqparse
from werkzeug.datastructures import FileStorage

from mlservice.core.inputs import RETRAIN, PredictRequest, TrainingRequest
from mlservice.rest import schemas
from mlservice.rest.context import caller, core
from mlservice.rest.schemas import ERROR

models = Namespace("models", path="/models", description="Train, list, inspect, predict, retrain, delete")
metrics = Namespace("metrics", path="/metrics", description="Metrics of a model's current version")
schemas.add_models(models, schemas.TRAIN_REQUEST, schemas.RETRAIN_REQUEST, schemas.TRAIN_RESULT,
                   schemas.PREDICT_REQUEST, schemas.PREDICT_RESULT, schemas.MODEL_RECORD, schemas.ALIAS_REQUEST,
                   schemas.ALIAS_RESULT)  # fmt: skip
schemas.add_models(metrics)

csv_upload = reqparse.RequestParser()
csv_upload.add_argument("file", location="files", type=FileStorage, required=True, help="CSV with a header")
csv_upload.add_argument("version", location="args", type=int, help="Model version (default: current)")
csv_upload.add_argument("alias", location="args", help="Instead of version: the version this alias points at")
csv_upload.add_argument("format", location="args", choices=("json", "csv"), default="json")
version_arg = reqparse.RequestParser()
version_arg.add_argument("version", location="args", type=int, help="Model version (default: current)")


def predict_request(model_id: str, body: dict) -> PredictRequest:
    """The core's request for a predict body (shared with the fast path, ``mlservice.rest.fast_path``)."""
    return PredictRequest(
        model_id, X=body.get("X"), records=body.get("records"), version=body.get("version"), alias=body.get("alias")
    )


def dispatched(outcome, status: int):
    """A dispatched training as an answer: its job (202) or its result."""
    return (outcome.job, 202) if outcome.job is not None else (outcome.result, status)


@models.route("/train")
class Train(Resource):
    """Training."""

    @models.expect(schemas.TRAIN_REQUEST, validate=True)
    @models.response(201, "Trained and registered", schemas.TRAIN_RESULT)
    @models.response(202, "async: queued as a job (see GET /jobs/<id>)")
    @models.response(409, "model_id already taken", ERROR)
    @models.response(422, "Training stopped: over the time limit, or out of memory", ERROR)
    def post(self):
        """Train a new model; it is registered in MLflow as version 1."""
        training = TrainingRequest.from_json(request.get_json())
        return dispatched(core().train(training, caller()), 201)


@models.route("")
class ModelList(Resource):
    """All models."""

    @models.response(200, "Models, oldest first", [schemas.MODEL_RECORD])
    def get(self):
        """Every model with its current version's params and metrics, oldest first."""
        return core().list_models(caller())


@models.route("/<string:model_id>")
@models.response(404, "Unknown model", ERROR)
class ModelItem(Resource):
    """One model."""

    @models.response(200, "The model and all its versions", schemas.MODEL_RECORD)
    def get(self, model_id):
        """A model with its current version and every version's params and metrics."""
        return core().get_model(model_id, caller())

    @models.response(204, "Deleted")
    def delete(self, model_id):
        """Delete the model, all its versions, runs and artifacts."""
        core().delete_model(model_id, caller())
        return "", 204


@models.route("/<string:model_id>/predict")
@models.response(404, "Unknown model or version", ERROR)
class Predict(Resource):
    """Predictions."""

    @models.expect(schemas.PREDICT_REQUEST, validate=True)
    @models.response(200, "Predictions", schemas.PREDICT_RESULT)
    def post(self, model_id):
        """Predict with the current (or given) version; classifiers also return probabilities."""
        return core().predict(predict_request(model_id, request.get_json()), caller())  # arrays: see rest.jsonio


@models.route("/<string:model_id>/retrain")
@models.response(404, "Unknown model", ERROR)
class Retrain(Resource):
    """Retraining."""

    @models.expect(schemas.RETRAIN_REQUEST, validate=True)
    @models.response(200, "Retrained: a new version is current (or the challenger)", schemas.TRAIN_RESULT)
    @models.response(202, "async: queued as a job (see GET /jobs/<id>)")
    @models.response(422, "Training stopped: over the time limit, or out of memory", ERROR)
    def post(self, model_id):
        """Train the model again on new data: a new registry version, made current (promote: false: the challenger)."""
        training = TrainingRequest.from_json(request.get_json(), kind=RETRAIN, model_id=model_id)
        return dispatched(core().train(training, caller()), 200)


@models.route("/<string:model_id>/predict/csv")
@models.response(404, "Unknown model or version", ERROR)
class PredictCsv(Resource):
    """Batch prediction from a CSV file."""

    @models.expect(csv_upload)
    @models.response(200, "Predictions as JSON, or the rows with prediction columns as CSV (format=csv)")
    def post(self, model_id):
        """Predict for every row of an uploaded CSV whose header names the model's features."""
        args = csv_upload.parse_args()
        as_csv = args["format"] == "csv"
        result = core().predict_csv(model_id, args["file"].read(), args["version"], as_csv, caller(), args["alias"])
        if not as_csv:
            return result
        disposition = f"attachment; filename={model_id}-predictions.csv"
        return Response(result, mimetype="text/csv", headers={"Content-Disposition": disposition})


@models.route("/<string:model_id>/aliases/<string:alias>")
@models.response(404, "Unknown model, version or alias", ERROR)
class Alias(Resource):
    """An alias of a model: which version it points at."""

    @models.expect(schemas.ALIAS_REQUEST, validate=True)
    @models.response(201, "Alias created", schemas.ALIAS_RESULT)
    @models.response(200, "Alias moved", schemas.ALIAS_RESULT)
    def put(self, model_id, alias):
        """Point an alias at a version; moving 'current' promotes a version or rolls back to an older one."""
        moved = core().set_alias(model_id, alias, request.get_json().get("version"), caller())
        return moved, 201 if moved["created"] else 200

    @models.response(204, "Alias removed (the version stays)")
    @models.response(409, "'current' cannot be removed: a model always has a serving version", ERROR)
    def delete(self, model_id, alias):
        """Remove an alias from a model."""
        core().delete_alias(model_id, alias, caller())
        return "", 204


@metrics.route("/<string:model_id>")
@metrics.response(404, "Unknown model", ERROR)
class Metrics(Resource):
    """Metrics."""

    @metrics.expect(version_arg)
    def get(self, model_id):
        """Evaluation metrics of the model's current (or given) version."""
        return core().get_metrics(model_id, version_arg.parse_args()["version"], caller())
