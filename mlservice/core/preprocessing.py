"""Tabular data: a dataset's columns as features and target, the one-hot pipeline, and prediction input.

Models trained on a dataset are scikit-learn Pipelines whose first step one-hot encodes the string
columns, so predictions take the same raw columns by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlservice.core.arrays import as_feature_matrix, as_targets
from mlservice.core.catalogue import REGRESSION
from mlservice.errors import InvalidInput, PayloadTooLarge
from mlservice.settings import Settings


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
        if isinstance(X, np.ndarray) and X.ndim == 2:  # decoded tensors (gRPC packed values, Open Inference Protocol)
            X = X.tolist()
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
