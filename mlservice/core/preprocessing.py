"""Tabular data: a dataset's columns as features and target, the one-hot pipeline, and prediction input.

Models trained on a dataset are scikit-learn Pipelines whose first step one-hot encodes the string
columns, so predictions take the same raw columns by name. Every prediction input (JSON rows and
records, CSV, gRPC, Open Inference Protocol tensors) becomes model input in ``prediction_input``, typed
per feature against the fitted model's ``FeatureSchema``: a value of the wrong kind, or a missing one
the model cannot impute, is an ``InvalidInput`` naming the feature, never an error inside scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


# --------------------------------------------------------------------------------------------------
# What a fitted model takes
# --------------------------------------------------------------------------------------------------

NUMERIC, CATEGORICAL = "numeric", "categorical"
LISTED_CATEGORIES = 20  # how many known categories an error message names
MEDIAN_SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class FeatureSchema:
    """The features of a fitted model in order: which are categorical (with the categories its encoder
    knows), and whether it imputes missing values; ``prediction_input`` types every input against it."""

    names: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    imputes: bool = False
    needs_frame: bool = False  # a tabular pipeline, which takes a DataFrame with named columns

    def kind(self, name: str) -> str:
        """``categorical`` (text) or ``numeric``."""
        return CATEGORICAL if name in self.categories else NUMERIC

    def describe(self, medians: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
        """The schema as the API shows it: name, kind, known categories or the training median, nullable."""
        described = []
        for name in self.names:
            entry: dict[str, Any] = {"name": name, "kind": self.kind(name), "nullable": self.imputes}
            if name in self.categories:
                entry["categories"] = list(self.categories[name])
            elif medians and medians.get(name) is not None:
                entry["median"] = medians[name]
            described.append(entry)
        return described


def schema_of(estimator: Any, feature_names: Sequence[str] | None) -> FeatureSchema:
    """The feature schema of a fitted model: a tabular pipeline's encoder and imputers, or plain numbers."""
    n_features = int(getattr(estimator, "n_features_in_", 0) or len(feature_names or ()))
    names = tuple(str(n) for n in feature_names) if feature_names else tuple(f"feature_{i}" for i in range(n_features))
    if not isinstance(estimator, Pipeline):
        return FeatureSchema(names)
    categories: dict[str, tuple[str, ...]] = {}
    imputes = False
    for name, transformer, columns in estimator.named_steps["preprocess"].transformers_:
        if name == "numeric" and isinstance(transformer, SimpleImputer):
            imputes = True
        if name == "categorical" and isinstance(transformer, Pipeline):
            imputes = imputes or "impute" in transformer.named_steps
            encoder = transformer.named_steps["onehot"]
            for column, known in zip(columns, getattr(encoder, "categories_", []), strict=False):
                categories[str(column)] = tuple(str(c) for c in known)
            for column in columns:  # a categorical column the encoder was not fitted on (no rows)
                categories.setdefault(str(column), ())
    return FeatureSchema(names, categories, imputes, needs_frame=True)


def feature_medians(X: Any, names: Sequence[str], categorical: Sequence[str]) -> dict[str, float]:
    """The median of each numeric training column (on at most 100,000 evenly spaced rows): the typical
    value a form starts from."""
    step = max(1, len(X) // MEDIAN_SAMPLE_ROWS)
    medians: dict[str, float] = {}
    for index, name in enumerate(names):
        if name in categorical:
            continue
        column = X[name] if isinstance(X, pd.DataFrame) else X[:, index]
        values = pd.to_numeric(pd.Series(np.asarray(column)[::step]), errors="coerce").astype(float)
        median = values.median()
        if pd.notna(median) and np.isfinite(median):
            medians[name] = float(median)
    return medians


# --------------------------------------------------------------------------------------------------
# Prediction input
# --------------------------------------------------------------------------------------------------


def prediction_input(X: Any, records: Any, schema: FeatureSchema, settings: Settings, field_name: str | None = None):
    """Rows of values or named records as the model's input: a frame for pipelines, else a float matrix.

    Args:
        field_name: how messages point at a row (``X``, ``records``, ``CSV``); default from the input.

    Raises:
        InvalidInput: naming the feature and the row: a number for a text feature, text for a numeric
            one, a missing value the model cannot impute, a missing or unknown feature, a ragged row.
        PayloadTooLarge: more rows or features than the settings allow.
    """
    if (X is None) == (records is None):
        raise InvalidInput("send exactly one of X (rows of values) or records (objects keyed by feature name)")
    if records is not None:
        frame = _records_frame(records, schema.names, settings)
        field_name = field_name or "records"
    else:
        if isinstance(X, np.ndarray) and X.ndim == 2 and (schema.needs_frame or schema.categories):
            X = X.tolist()  # decoded tensors (gRPC packed values, Open Inference Protocol) typed per feature
        if not schema.needs_frame and not schema.categories:
            matrix = _plain_matrix(X, settings)
            if matrix is not None:
                return matrix
        frame = _rows_frame(X, schema.names, settings)
        field_name = field_name or "X"
    frame = typed_frame(frame, schema, field_name)
    if schema.needs_frame:
        return frame
    return as_feature_matrix(frame.to_numpy(dtype=np.float64), settings, field_name=field_name)


def _plain_matrix(X: Any, settings: Settings) -> np.ndarray | None:
    """Numbers for a plain estimator in one NumPy conversion; None when the rows need a closer look (a
    value that is no number, a gap), so that the message can name the feature."""
    if isinstance(X, np.ndarray):
        return as_feature_matrix(X, settings)
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        return None
    return as_feature_matrix(matrix, settings)


def _rows_frame(X: Any, names: Sequence[str], settings: Settings) -> pd.DataFrame:
    if not isinstance(X, (list, tuple)) or not X or not all(isinstance(r, (list, tuple)) for r in X):
        raise InvalidInput("X must be a non-empty list of rows")
    if len(X) > settings.max_rows:
        raise PayloadTooLarge(f"X has {len(X)} rows; the limit is {settings.max_rows}")
    bad = next((i for i, row in enumerate(X) if len(row) != len(names)), None)
    if bad is not None:
        raise InvalidInput(
            f"each row of X must have {len(names)} values ({', '.join(names)}); X[{bad}] has {len(X[bad])}"
        )
    return pd.DataFrame(list(X), columns=list(names))


def _records_frame(records: Any, names: Sequence[str], settings: Settings) -> pd.DataFrame:
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("records must be a non-empty list of objects keyed by feature name")
    if len(records) > settings.max_rows:
        raise PayloadTooLarge(f"records has {len(records)} rows; the limit is {settings.max_rows}")
    wanted = set(names)
    missing = sorted({f for r in records for f in names if f not in r})
    extra = sorted({str(k) for r in records for k in r if k not in wanted})
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(extra)}" if extra else ""]
        raise InvalidInput(f"records do not match the model's features ({'; '.join(filter(None, parts))})")
    return pd.DataFrame.from_records(records, columns=list(names))


def typed_frame(frame: pd.DataFrame, schema: FeatureSchema, field_name: str) -> pd.DataFrame:
    """Every column as its feature's kind: floats for numeric features, text (or NaN) for categorical ones."""
    typed = {}
    for name in schema.names:
        column = frame[name]
        if name in schema.categories:
            typed[name] = _text_column(column, name, schema, field_name)
        else:
            typed[name] = _number_column(column, name, schema, field_name)
    return pd.DataFrame(typed, index=frame.index)


def _where(field_name: str, row: int) -> str:
    return f"line {row + 2} of the CSV" if field_name == "CSV" else f"{field_name}[{row}]"


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known(categories: Sequence[str]) -> str:
    if not categories:
        return ""
    listed = ", ".join(repr(c) for c in categories[:LISTED_CATEGORIES])
    more = f" and {len(categories) - LISTED_CATEGORIES} more" if len(categories) > LISTED_CATEGORIES else ""
    return f", one of its known categories: {listed}{more} (other text counts as none of them)"


def _refuse_missing(missing: pd.Series, name: str, schema: FeatureSchema, field_name: str) -> None:
    if missing.any() and not schema.imputes:
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InvalidInput(
            f"feature '{name}' has no value at {_where(field_name, row)}; this model was trained without "
            "imputation, so every feature needs a value"
        )


def _number_column(column: pd.Series, name: str, schema: FeatureSchema, field_name: str) -> pd.Series:
    missing = column.isna()
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.astype(np.float64)
    else:
        numbers = pd.to_numeric(column.astype(object), errors="coerce").astype(np.float64)
    not_numbers = numbers.isna() & ~missing
    if not_numbers.any():
        row = int(np.flatnonzero(not_numbers.to_numpy())[0])
        raise InvalidInput(
            f"feature '{name}' must be numeric: {_where(field_name, row)} has {_shown(column.iloc[row])}"
        )
    infinite = np.isinf(numbers.to_numpy())
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise InvalidInput(f"feature '{name}' must be a finite number: {_where(field_name, row)} is infinite")
    _refuse_missing(missing, name, schema, field_name)
    return numbers


def _text_column(column: pd.Series, name: str, schema: FeatureSchema, field_name: str) -> pd.Series:
    missing = column.isna()
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):  # one pass in C: all text
        is_text = ~missing
    else:
        is_text = column.map(lambda value: isinstance(value, str)).astype(bool)
    not_text = ~is_text & ~missing
    if not_text.any():
        row = int(np.flatnonzero(not_text.to_numpy())[0])
        raise InvalidInput(
            f"feature '{name}' is categorical and takes text{_known(schema.categories[name])}; "
            f"{_where(field_name, row)} has {_shown(column.iloc[row])}"
        )
    _refuse_missing(missing, name, schema, field_name)
    return column.astype(object).where(~missing, np.nan)
