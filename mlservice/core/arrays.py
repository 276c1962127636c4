"""Inline request data as arrays: rows of numbers into a feature matrix, targets into a label vector.

Every check names what is wrong (row, column, field) so that the user can fix the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlservice.core.catalogue import REGRESSION
from mlservice.core.inputs import check_name_lengths
from mlservice.errors import InvalidInput, PayloadTooLarge
from mlservice.settings import Settings


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
