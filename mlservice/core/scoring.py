"""Predictions and class probabilities from one pass through the estimator where that gives the same answer.

Answering a classification request with both the classes and their probabilities calls scikit-learn
twice (``predict`` and ``predict_proba``); each call validates its input again and recomputes the same
scores, and for a single row that validation is most of the cost. For the estimators listed in
``ONE_PASS`` scikit-learn's ``predict`` *is* the class with the highest score, and ``predict_proba`` is
the same scores put through a strictly increasing map (normalised tree votes, a softmax or logistic
link), so the class with the highest probability is the predicted class: one ``predict_proba`` call
answers both. Only rounding can make them differ, and only when the two highest probabilities are
within a few units in the last place of each other; every row whose top two probabilities are closer
than ``NEAR_TIE`` (ties included) is predicted by the estimator's own ``predict`` instead. The result
is identical to ``predict`` for every row (``tests/test_scoring.py`` checks it against scikit-learn on
random data built to tie); any other estimator is called twice, as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

# scikit-learn classifiers whose predict is the argmax of the scores their predict_proba maps monotonically
ONE_PASS: tuple[type, ...] = (
    LogisticRegression,  # predict: argmax of decision_function (binary: > 0); proba: softmax (binary: expit)
    RandomForestClassifier,  # predict: classes_.take(argmax(predict_proba))
    ExtraTreesClassifier,  # the same forest code
    DecisionTreeClassifier,  # predict: argmax of the leaf's class weights; proba: the same, normalised
    HistGradientBoostingClassifier,  # predict: argmax of the raw scores (binary: > 0); proba: the loss's link
)
# top two probabilities closer than this: the estimator's own predict decides (rounding moves far less)
NEAR_TIE = 1e-9


def final_estimator(estimator: Any) -> Any:
    """The estimator that predicts: the last step of a Pipeline, else the estimator itself."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def answers_in_one_pass(estimator: Any) -> bool:
    """Whether predict can be read off predict_proba for this (fitted, single-output) estimator."""
    final = final_estimator(estimator)
    classes = getattr(final, "classes_", None)
    return type(final) in ONE_PASS and isinstance(classes, np.ndarray) and classes.ndim == 1


def predict_with_proba(estimator: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, probabilities) of every row, equal to ``estimator.predict(X)`` and ``predict_proba(X)``."""
    if not answers_in_one_pass(estimator):
        return np.asarray(estimator.predict(X)), np.asarray(estimator.predict_proba(X))
    proba = np.asarray(estimator.predict_proba(X))
    classes = final_estimator(estimator).classes_
    if proba.ndim != 2 or proba.shape[1] != len(classes) or proba.shape[0] == 0:
        return np.asarray(estimator.predict(X)), proba
    predictions = classes.take(np.argmax(proba, axis=1))
    if proba.shape[1] > 1:
        top_two = np.partition(proba, -2, axis=1)[:, -2:] if proba.shape[1] > 2 else proba
        close = ~(np.abs(top_two[:, -1] - top_two[:, -2]) > NEAR_TIE)  # NaN counts as close
        if close.any():
            rows = np.flatnonzero(close)
            subset = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
            predictions[rows] = np.asarray(estimator.predict(subset))
    return predictions, proba
