"""Predictions in chunks of rows under a time limit, and the cap on how many values one prediction answers.

A prediction runs in the request's thread; with probabilities, a classifier that can answer both in one
pass does (``mlservice.core.scoring``). Some models cost much more per row than others (k-nearest
neighbours compares every row with every training row), so a request is predicted in chunks: the
first chunk is small and its time, extrapolated to all rows, stops a hopeless request at once;
between chunks the elapsed time is checked against ``MLSERVICE_PREDICT_TIME_LIMIT_SECONDS``. The
output cap (rows x classes) is checked before any work (``MLSERVICE_MAX_PREDICT_VALUES``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlservice.core.scoring import predict_with_proba
from mlservice.errors import PayloadTooLarge, PredictionLimitExceeded

FIRST_CHUNK_ROWS = 128
# a request whose first chunk extrapolates to more than this many times the limit stops at once
HOPELESS_FACTOR = 1.5
CHUNKS_PER_LIMIT = 10  # later chunks aim at a tenth of the time limit each


def check_output_size(rows: int, classes: int, max_values: int) -> None:
    """Refuse a prediction that would answer more than max_values values (rows x classes).

    Raises:
        PayloadTooLarge: rows x classes is over the limit.
    """
    values = rows * max(classes, 1)
    if values > max_values:
        raise PayloadTooLarge(
            f"This prediction would answer {rows:,} rows x {max(classes, 1):,} classes = {values:,} values; "
            f"this service answers at most {max_values:,} per request (MLSERVICE_MAX_PREDICT_VALUES): "
            "send fewer rows per request"
        )


def _rows(matrix: Any, start: int, stop: int) -> Any:
    return matrix.iloc[start:stop] if hasattr(matrix, "iloc") else matrix[start:stop]


def _too_slow(rows_done: int, total: int, elapsed: float, limit: float) -> str:
    return (
        f"The prediction stopped after {rows_done:,} of {total:,} rows and {elapsed:.1f} s: this model is too slow "
        f"for {total:,} rows within the {limit:g} s limit (MLSERVICE_PREDICT_TIME_LIMIT_SECONDS); send fewer rows "
        "per request"
    )


def predict_in_chunks(
    estimator: Any, matrix: Any, with_probabilities: bool, time_limit: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """(predictions, probabilities or None) of every row, computed chunk by chunk within time_limit.

    Raises:
        PredictionLimitExceeded: past the limit, or the first chunk says the whole cannot finish in time.
        ValueError: the estimator's own (the caller turns it into InvalidInput).
    """
    total = len(matrix)
    predictions: list[np.ndarray] = []
    probabilities: list[np.ndarray] = []
    started, done, chunk = clock(), 0, min(FIRST_CHUNK_ROWS, total)
    while done < total:
        part = _rows(matrix, done, done + chunk)
        if with_probabilities:
            answer, proba = predict_with_proba(estimator, part)
            predictions.append(answer)
            probabilities.append(proba)
        else:
            predictions.append(np.asarray(estimator.predict(part)))
        done += len(part)
        elapsed = clock() - started
        if done >= total:
            break
        per_row = elapsed / done
        if elapsed > time_limit or per_row * total > time_limit * HOPELESS_FACTOR:
            raise PredictionLimitExceeded(_too_slow(done, total, elapsed, time_limit))
        chunk = max(FIRST_CHUNK_ROWS, int(time_limit / CHUNKS_PER_LIMIT / per_row) if per_row > 0 else total)
    if not predictions:  # no rows: let the estimator answer (or refuse) as it would
        predictions.append(np.asarray(estimator.predict(matrix)))
        if with_probabilities:
            probabilities.append(np.asarray(estimator.predict_proba(matrix)))
    return np.concatenate(predictions), np.concatenate(probabilities) if with_probabilities else None
