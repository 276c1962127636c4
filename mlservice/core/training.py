"""Request data and evaluation: rows and datasets into model inputs with clear errors, splitting, scoring.

Used only by the core (``models.py``); everything here is plain NumPy / scikit-learn.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlservice.core.catalogue import CLASSIFICATION, REGRESSION
from mlservice.errors import InvalidInput, PayloadTooLarge
from mlservice.settings import Settings

# --------------------------------------------------------------------------------------------------
# Request data
# --------------------------------------------------------------------------------------------------


def as_feature_matrix(X: Any, settings: Settings, field_name: str = "X") -> np.ndarray:
    """Turn rows of numbers into a finite 2-D float64 array, or say exactly what is wrong."""
    if isinstance(X, np.ndarray):
        matrix = X.astype(np.float64, copy=False)
    else:
        if not isinstance(X, (list, tuple)) or len(X) == 0:
            raise InvalidInput(f"{field_name} must be a non-empty list of rows of numbers")
        try:
            matrix = np.asarray(X, dtype=np.float64)
        except (ValueError, TypeError):
            lengths = [len(row) if isinstance(row, (list, tuple)) else None for row in X]
            if None not in lengths and len(set(lengths)) > 1:
                bad = next(i for i, n in enumerate(lengths) if n != lengths[0])
                raise InvalidInput(
                    f"{field_name} rows must all have the same length: row 0 has {lengths[0]} values, "
                    f"row {bad} has {lengths[bad]}"
                ) from None
            raise InvalidInput(f"{field_name} must contain only numbers (rows of numeric feature values)") from None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InvalidInput(f"{field_name} must be a non-empty list of rows, each a non-empty list of numbers")
    if matrix.shape[0] > settings.max_rows:
        raise PayloadTooLarge(f"{field_name} has {matrix.shape[0]} rows; the limit is {settings.max_rows}")
    if matrix.shape[1] > settings.max_features:
        raise PayloadTooLarge(f"{field_name} has {matrix.shape[1]} features; the limit is {settings.max_features}")
    finite = np.isfinite(matrix)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InvalidInput(f"{field_name} contains NaN or infinite values (first at row {row}, column {col})")
    return matrix


MAX_NAME_CHARS = 200  # column names, class labels, dataset references: stored in MLflow and the model


def check_name_lengths(field: str, names: Any, what: str = "name") -> None:
    """Refuse an overlong name (or list of names): they are stored as MLflow tags and in the model."""
    for index, name in enumerate([names] if isinstance(names, str) else names or []):
        if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
            where = field if isinstance(names, str) else f"{field}[{index}]"
            raise InvalidInput(f"{where}: a {what} of {len(name):,} characters; the limit is {MAX_NAME_CHARS}")


def as_targets(y: Any, n_rows: int, task: str) -> np.ndarray:
    """Validate the target vector for the task: labels (int or str) or finite numbers."""
    if y is None or len(y) == 0:
        raise InvalidInput("y must be a non-empty list of targets, one per row of X")
    if len(y) != n_rows:
        raise InvalidInput(f"X has {n_rows} rows but y has {len(y)} values; they must match")
    if task == REGRESSION:
        try:
            targets = np.asarray(y, dtype=np.float64)
        except (ValueError, TypeError):
            raise InvalidInput("y must contain only numbers for a regression model") from None
        if targets.ndim != 1 or not np.isfinite(targets).all():
            raise InvalidInput("y must be a flat list of finite numbers for a regression model")
        return targets
    kinds = {type(v) for v in y}
    if kinds <= {int, bool, np.int32, np.int64}:
        targets = np.asarray(y, dtype=np.int64)
    elif kinds <= {str}:
        check_name_lengths("y", y, what="class label")
        targets = np.asarray(y, dtype=object).astype(str)
    elif kinds <= {float, int}:
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all() or not np.all(values == np.round(values)):
            raise InvalidInput("Classification labels must be integers or strings, not fractional numbers")
        targets = values.astype(np.int64)
    else:
        raise InvalidInput("Classification labels in y must be all integers or all strings")
    if len(np.unique(targets)) < 2:
        raise InvalidInput("A classifier needs at least 2 distinct classes in y")
    return targets


def feature_names_for(names: Sequence[str] | None, n_features: int) -> list[str]:
    if not names:
        return [f"feature_{i}" for i in range(n_features)]
    names = [str(n) for n in names]
    if len(names) != n_features:
        raise InvalidInput(f"feature_names has {len(names)} names but X has {n_features} columns")
    if len(set(names)) != len(names):
        raise InvalidInput("feature_names must be unique")
    return names


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def holdout_possible(y: np.ndarray, task: str, test_size: float) -> bool:
    n_rows = len(y)
    n_test = math.ceil(n_rows * test_size)
    if test_size <= 0 or n_test < 2 or n_rows - n_test < 2:
        return False
    if task == CLASSIFICATION:
        _, counts = np.unique(y, return_counts=True)
        return bool(counts.min() >= 2 and n_test >= len(counts) and n_rows - n_test >= len(counts))
    return True


def evaluate(estimator: Any, X: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Metrics of a fitted estimator on (X, y): classification or regression set."""
    predictions = estimator.predict(X)
    if task == REGRESSION:
        return {
            "rmse": float(math.sqrt(skmetrics.mean_squared_error(y, predictions))),
            "mae": float(skmetrics.mean_absolute_error(y, predictions)),
            "r2": float(skmetrics.r2_score(y, predictions)),
        }
    scores = {
        "accuracy": float(skmetrics.accuracy_score(y, predictions)),
        "precision": float(skmetrics.precision_score(y, predictions, average="weighted", zero_division=0)),
        "recall": float(skmetrics.recall_score(y, predictions, average="weighted", zero_division=0)),
        "f1": float(skmetrics.f1_score(y, predictions, average="weighted", zero_division=0)),
    }
    if hasattr(estimator, "predict_proba"):
        probabilities = estimator.predict_proba(X)
        try:
            if len(estimator.classes_) == 2:
                scores["roc_auc"] = float(skmetrics.roc_auc_score(y, probabilities[:, 1]))
            else:
                scores["roc_auc"] = float(
                    skmetrics.roc_auc_score(
                        y, probabilities, multi_class="ovr", average="weighted", labels=estimator.classes_
                    )
                )
        except ValueError:  # a class missing from the evaluation rows: AUC is undefined
            pass
    return scores


@dataclass
class FitOutcome:  # pylint: disable=too-many-instance-attributes
    """A fitted estimator and how it scored: what ``fit_and_evaluate`` hands back to the core."""

    estimator: Any
    scores: dict[str, float]
    evaluation: str  # "holdout", or "train" when the data is too small to hold rows out
    n_train: int
    n_eval: int
    fit_seconds: float
    evaluate_seconds: float


def holdout_rows(y: np.ndarray, task: str, test_size: float, random_state: int | None) -> tuple[np.ndarray, int] | None:
    """The row order with the training rows first and the (stratified) hold-out rows last, exactly the
    rows ``train_test_split`` would pick, and the number of training rows; None when the data is too
    small to hold rows out."""
    if not holdout_possible(y, task, test_size):
        return None
    train, held_out = train_test_split(
        np.arange(len(y)), test_size=test_size, random_state=random_state,
        stratify=y if task == CLASSIFICATION else None,
    )  # fmt: skip
    return np.concatenate([train, held_out]), len(train)


def fit_and_evaluate(  # pylint: disable=too-many-arguments
    estimator: Any,
    X: Any,
    y: np.ndarray,
    task: str,
    *,
    test_size: float,
    random_state: int | None,
    n_train: int | None = None,
) -> FitOutcome:
    """Split off a (stratified) hold-out when the data allows it, fit on the rest, and score.

    Runs in the fit process (``fitting.py``); everything it returns is pickled back. With ``n_train``
    the rows come already ordered by ``holdout_rows`` (training rows first), so the split is two
    views and copies nothing; ``n_train == len(y)`` means there is no hold-out.

    Raises:
        InvalidInput: the estimator refused the data (scikit-learn's ValueError) or ran out of memory.
    """
    started = time.perf_counter()
    if n_train is not None:
        held_out = n_train < len(y)
        X_train, X_eval = (X[:n_train], X[n_train:]) if held_out else (X, X)
        y_train, y_eval = (y[:n_train], y[n_train:]) if held_out else (y, y)
    elif held_out := holdout_possible(y, task, test_size):
        X_train, X_eval, y_train, y_eval = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=y if task == CLASSIFICATION else None
        )
    else:
        X_train, X_eval, y_train, y_eval = X, X, y, y
    try:
        estimator.fit(X_train, y_train)
    except (ValueError, MemoryError) as exc:
        raise InvalidInput(f"Training failed: {exc}") from None
    fitted = time.perf_counter()
    scores = evaluate(estimator, X_eval, y_eval, task)
    return FitOutcome(
        estimator,
        scores,
        "holdout" if held_out else "train",
        n_train=len(y_train),
        n_eval=len(y_eval),
        fit_seconds=fitted - started,
        evaluate_seconds=time.perf_counter() - fitted,
    )


# --------------------------------------------------------------------------------------------------
# Tabular datasets: named columns, categorical features, missing values
# --------------------------------------------------------------------------------------------------


def frame_features(
    frame: pd.DataFrame, target: str, features: Sequence[str] | None, task: str, impute: bool
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Split a dataset into its feature columns and target vector, or say exactly what is wrong.

    Returns:
        (feature frame, targets, categorical column names).
    """
    if not isinstance(target, str) or not target:
        raise InvalidInput("target must name the dataset column to predict")
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise InvalidInput(f"target column '{target}' is not in the dataset; its columns are: {', '.join(columns)}")
    chosen = list(features) if features else [c for c in columns if c != target]
    unknown = [c for c in chosen if c not in columns]
    if unknown:
        raise InvalidInput(f"features not in the dataset: {', '.join(unknown)}; its columns are: {', '.join(columns)}")
    if target in chosen:
        raise InvalidInput(f"the target column '{target}' cannot also be a feature")
    if not chosen:
        raise InvalidInput("the dataset has no feature columns besides the target")
    labels = frame[target]
    if labels.isna().any():
        raise InvalidInput(f"target column '{target}' has {int(labels.isna().sum())} missing values; remove those rows")
    if task == REGRESSION and not pd.api.types.is_numeric_dtype(labels):
        raise InvalidInput(f"target column '{target}' must be numeric for a regression model")
    X = frame[chosen]
    missing = {c: int(n) for c, n in X.isna().sum().items() if n}
    if missing and not impute:
        listed = ", ".join(f"{c} ({n})" for c, n in missing.items())
        raise InvalidInput(f'missing values in {listed}; clean the data or set "impute": true')
    categorical = [c for c in chosen if not pd.api.types.is_numeric_dtype(X[c])]
    y = as_targets(labels.tolist(), len(labels), task)
    return X, y, categorical


def tabular_pipeline(estimator: Any, X: pd.DataFrame, categorical: list[str], impute: bool) -> Pipeline:
    """The estimator behind a column transformer: numbers pass (imputed if asked), strings one-hot."""
    numeric = [c for c in X.columns if c not in categorical]
    categorical_steps = [("onehot", OneHotEncoder(handle_unknown="ignore"))]
    if impute:
        categorical_steps.insert(0, ("impute", SimpleImputer(strategy="most_frequent")))
    preprocess = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median") if impute else "passthrough", numeric),
            ("categorical", Pipeline(categorical_steps), categorical),
        ],
        remainder="drop",
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def categorical_columns(estimator: Any) -> set[str]:
    """The columns a fitted tabular pipeline one-hot encodes (empty for plain estimators)."""
    if not isinstance(estimator, Pipeline):
        return set()
    preprocess = estimator.named_steps["preprocess"]
    return {c for name, _, cols in preprocess.transformers_ if name == "categorical" for c in cols}


def prediction_input(  # pylint: disable=too-many-arguments
    X: Any, records: Any, feature_names: list[str] | None, categorical: set[str], needs_frame: bool, settings: Settings
) -> np.ndarray | pd.DataFrame:
    """Rows of values or named records as the model's input: a frame for pipelines, else a float matrix."""
    if (X is None) == (records is None):
        raise InvalidInput("send exactly one of X (rows of values) or records (objects keyed by feature name)")
    if records is not None:
        frame = _records_frame(records, feature_names, settings)
    elif not needs_frame:
        return as_feature_matrix(X, settings)
    else:
        if not isinstance(X, list) or not X or not all(isinstance(r, list) for r in X):
            raise InvalidInput("X must be a non-empty list of rows")
        if len(X) > settings.max_rows:
            raise PayloadTooLarge(f"X has {len(X)} rows; the limit is {settings.max_rows}")
        if any(len(r) != len(feature_names) for r in X):
            raise InvalidInput(f"each row of X must have {len(feature_names)} values ({', '.join(feature_names)})")
        frame = pd.DataFrame(X, columns=feature_names)
    for column in frame.columns:
        if column not in categorical:
            try:
                frame[column] = pd.to_numeric(frame[column])
            except (ValueError, TypeError):
                raise InvalidInput(f"feature '{column}' must be numeric") from None
    if needs_frame:
        return frame
    return as_feature_matrix(frame.to_numpy(dtype=np.float64), settings, field_name="records")


def _records_frame(records: Any, feature_names: list[str] | None, settings: Settings) -> pd.DataFrame:
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("records must be a non-empty list of objects keyed by feature name")
    if len(records) > settings.max_rows:
        raise PayloadTooLarge(f"records has {len(records)} rows; the limit is {settings.max_rows}")
    if not feature_names:
        raise InvalidInput("this model was trained without feature names: send X instead of records")
    missing = sorted({f for r in records for f in feature_names if f not in r})
    extra = sorted({k for r in records for k in r if k not in feature_names})
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(extra)}" if extra else ""]
        raise InvalidInput(f"records do not match the model's features ({'; '.join(filter(None, parts))})")
    return pd.DataFrame.from_records(records, columns=feature_names)


# --------------------------------------------------------------------------------------------------
# What a training request carries
# --------------------------------------------------------------------------------------------------


def _is_string_list_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(item, str) for item in value))


@dataclass
class TrainingData:  # pylint: disable=too-many-instance-attributes
    """What a model is trained on: inline rows, or a stored dataset's columns; and how it is evaluated."""

    X: Any = None
    y: Any = None
    feature_names: Sequence[str] | None = None
    dataset: str | None = None  # "name" or "name@version" (a stored or DVC-tracked dataset)
    target: str | None = None  # the dataset column to predict
    features: Sequence[str] | None = None  # dataset columns to use (default: all but the target)
    impute: bool = False  # fill missing feature values (median / most frequent) instead of refusing
    test_size: float = 0.2
    random_state: int | None = 42

    def check(self) -> None:
        """Refuse wrongly typed options up front (front ends pass JSON through as it came)."""
        for name in ("dataset", "target"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidInput(f"{name} must be a string")
        for name in ("feature_names", "features"):
            if not _is_string_list_or_none(getattr(self, name)):
                raise InvalidInput(f"{name} must be a list of strings")
        for name in ("dataset", "target", "feature_names", "features"):
            check_name_lengths(name, getattr(self, name))
        if self.y is not None and not isinstance(self.y, (list, tuple, np.ndarray)):
            raise InvalidInput("y must be a list of targets, one per row of X")
        if not isinstance(self.impute, bool):
            raise InvalidInput("impute must be true or false")
        state = self.random_state
        if state is not None and (isinstance(state, bool) or not isinstance(state, int) or not 0 <= state < 2**32):
            raise InvalidInput("random_state must be an integer from 0 to 2**32-1, or null")


# The request fields that describe training data and evaluation (REST bodies, stored job requests).
TRAINING_FIELDS = tuple(f.name for f in fields(TrainingData))


def training_options(body: dict[str, Any]) -> dict[str, Any]:
    """The training data, options and hyperparameters of a JSON request body (REST, stored jobs)."""
    return {"params": body.get("params"), **{key: body[key] for key in TRAINING_FIELDS if key in body}}
