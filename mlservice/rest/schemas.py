"""The REST API's request and response schemas (Swagger models), shared by the resource modules.

Large arrays are declared without a schema for their items: jsonschema would otherwise check every
number in Python (seconds for 100k rows); the core validates them with NumPy instead.
"""

from __future__ import annotations

from flask_restx import Model, Namespace, fields

from mlservice.rest.fields import AnyValue, NullableList, NullableString


def _rows() -> AnyValue:
    return AnyValue(
        description="Rows of feature values (array of arrays) in the model's feature order: numbers; strings "
        "for categorical columns of dataset-trained models",
        example=[[5.1, 3.5, 1.4, 0.2]],
    )


ERROR = Model("Error", {"message": fields.String(description="What went wrong, for a person")})

TRAINING_FIELDS = {
    "params": fields.Raw(
        description="Hyperparameters (see GET /model-classes); values may be typed or strings",
        example={"C": 1.0, "max_iter": "200"},
    ),
    "X": _rows(),
    "y": AnyValue(description="Targets (array): class labels (int/str) or numbers, one per row", example=[0]),
    "dataset": fields.String(
        description="Train on a stored dataset instead of X/y: 'name' (newest) or 'name@version'", example="iris"
    ),
    "target": fields.String(description="With dataset: the column to predict", example="species"),
    "features": fields.List(fields.String, description="With dataset: columns to use (default: all others)"),
    "impute": fields.Boolean(description="With dataset: fill missing feature values instead of refusing"),
    "async": fields.Boolean(description="Answer 202 with a job at once and train in the background (GET /jobs/<id>)"),
    "feature_names": fields.List(fields.String, description="Column names of X (optional)"),
    "test_size": fields.Float(
        min=0, max=0.5, description="Held-out share for evaluation (default 0.2; 0 = training data)"
    ),
    "random_state": fields.Integer(description="Seed of the train/evaluation split (default 42)"),
}

TRAIN_REQUEST = Model(
    "TrainRequest",
    {
        "model_type": fields.String(required=True, example="logistic_regression"),
        "model_id": fields.String(description="Optional id to give the model (letters, digits, _ . -)"),
        **TRAINING_FIELDS,
    },
)
RETRAIN_REQUEST = Model(
    "RetrainRequest",
    {
        **TRAINING_FIELDS,
        "promote": fields.Boolean(
            description="Make the new version current (default true); false registers it as the 'challenger' "
            "alias and leaves 'current' where it is",
            example=False,
        ),
    },
)
TRAIN_RESULT = Model(
    "TrainResult",
    {
        "model_id": fields.String,
        "version": fields.Integer,
        "model_type": fields.String,
        "task": fields.String,
        "metrics": fields.Raw,
        "evaluation": fields.String(description="'holdout' or 'train' (too little data to hold out)"),
        "confusion_matrix": fields.Raw(
            description="Classifiers: {labels, matrix (rows actual, columns predicted), n_rows} on the same rows "
            "as the metrics"
        ),
        "aliases": fields.List(fields.String, description="The aliases now pointing at the new version"),
        "n_train": fields.Integer,
        "n_eval": fields.Integer,
        "params": fields.Raw,
        "timings": fields.Raw,
    },
)
PREDICT_REQUEST = Model(
    "PredictRequest",
    {
        "X": _rows(),
        "records": AnyValue(
            description="Instead of X: an array of objects keyed by feature name",
            example=[{"petal_length": 1.4, "petal_width": 0.2, "sepal_length": 5.1, "sepal_width": 3.5}],
        ),
        "version": fields.Integer(min=1, description="Model version (default: the one 'current' points at)"),
        "alias": fields.String(description="Instead of version: the version this alias points at", example="current"),
    },
)
PREDICT_RESULT = Model(
    "PredictResult",
    {
        "model_id": fields.String,
        "version": fields.Integer,
        "predictions": fields.List(AnyValue),
        "classes": fields.List(AnyValue, description="Column order of probabilities (classifiers)"),
        "probabilities": fields.List(fields.List(fields.Float)),
    },
)
MODEL_RECORD = Model(
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
        "aliases": fields.Raw(description='Alias → version, e.g. {"current": 3, "challenger": 4}'),
        "feature_schema": NullableList(
            fields.Raw,
            description="The current version's features: name, kind (numeric / categorical), categories or "
            "the training median, nullable",
        ),
        "versions": fields.List(
            fields.Raw,
            description="GET /models/<id> only: every version, newest first, with its aliases, feature schema, "
            "confusion matrix and the dataset it was trained on",
        ),
        "alias_log": fields.List(
            fields.Raw, description="GET /models/<id> only: who moved which alias to which version, newest first"
        ),
    },
)
ALIAS_REQUEST = Model(
    "AliasRequest", {"version": fields.Integer(required=True, description="The version the alias points at", example=2)}
)
ALIAS_RESULT = Model(
    "Alias",
    {
        "model_id": fields.String,
        "alias": fields.String,
        "version": fields.Integer,
        "previous_version": fields.Integer(description="Where the alias pointed before (null: it is new)"),
        "created": fields.Boolean,
    },
)


def add_models(namespace: Namespace, *models: Model) -> None:
    """Register models on a namespace, so that every Api it is added to documents them."""
    for model in (ERROR, *models):
        namespace.add_model(model.name, model)
