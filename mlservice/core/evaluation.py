"""Evaluation: the hold-out split, the fit on the training rows and the metrics on the held-out ones.

``fit_and_evaluate`` runs inside the fit process (``mlservice.core.fitting``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skmetrics
from sklearn.model_selection import train_test_split

from mlservice.core.catalogue import CLASSIFICATION, REGRESSION, jsonable
from mlservice.errors import InvalidInput


def holdout_possible(y: np.ndarray, task: str, test_size: float) -> bool:
    n_rows = len(y)
    n_test = math.ceil(n_rows * test_size)
    if test_size <= 0 or n_test < 2 or n_rows - n_test < 2:
        return False
    if task == CLASSIFICATION:
        _, counts = np.unique(y, return_counts=True)
        return bool(counts.min() >= 2 and n_test >= len(counts) and n_rows - n_test >= len(counts))
    return True


def confusion(estimator: Any, y: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """The confusion matrix of a classifier on the rows it was evaluated on: ``labels`` (the classes, in
    the order of rows and columns), ``matrix`` (rows: actual, columns: predicted) and ``n_rows``."""
    labels = list(estimator.classes_)
    matrix = skmetrics.confusion_matrix(y, predictions, labels=labels)
    return {"labels": [jsonable(label) for label in labels], "matrix": matrix.tolist(), "n_rows": int(len(y))}


def evaluate(estimator: Any, X: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Metrics of a fitted estimator on (X, y): classification or regression set."""
    return _scores(estimator, X, y, task, estimator.predict(X))


def _scores(estimator: Any, X: Any, y: np.ndarray, task: str, predictions: np.ndarray) -> dict[str, float]:
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
    confusion: dict[str, Any] | None = None  # classifiers: on the same rows as the scores


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
    predictions = estimator.predict(X_eval)
    scores = _scores(estimator, X_eval, y_eval, task, predictions)
    return FitOutcome(
        estimator,
        scores,
        "holdout" if held_out else "train",
        n_train=len(y_train),
        n_eval=len(y_eval),
        fit_seconds=fitted - started,
        evaluate_seconds=time.perf_counter() - fitted,
        confusion=confusion(estimator, y_eval, predictions) if task == CLASSIFICATION else None,
    )
