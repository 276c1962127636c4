"""One pass for predictions and probabilities (mlservice.core.scoring): always scikit-learn's own answers.

Every estimator the service trains, alone and behind the preprocessing pipeline, on random data and on
rows built to sit on a decision boundary, where only rounding separates the classes: the one-pass
answer must equal ``predict`` and ``predict_proba`` element for element, dtype included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlservice.core.catalogue import CLASSIFICATION, MODEL_CLASSES
from mlservice.core.scoring import answers_in_one_pass, predict_with_proba

CLASSIFIERS = sorted(key for key, mc in MODEL_CLASSES.items() if mc.task == CLASSIFICATION)
FAST_PARAMS = {"random_forest": {"n_estimators": 5}, "gradient_boosting": {"max_iter": 10}}


def fitted(key: str, X, y):
    params = {**MODEL_CLASSES[key].default_overrides, **FAST_PARAMS.get(key, {})}
    if "random_state" in MODEL_CLASSES[key].estimator().get_params():
        params["random_state"] = 0
    return MODEL_CLASSES[key].estimator(**params).fit(X, y)


def assert_same_as_sklearn(estimator, X):
    predictions, proba = predict_with_proba(estimator, X)
    expected_predictions, expected_proba = estimator.predict(X), estimator.predict_proba(X)
    assert predictions.dtype == expected_predictions.dtype
    np.testing.assert_array_equal(predictions, expected_predictions)
    np.testing.assert_array_equal(proba, expected_proba)


def data(seed: int, n_classes: int, labels: str):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % n_classes
    classes = {"int": np.array([3, 7, 11, 13]), "str": np.array(["setosa", "versicolor", "virginica", "zz"])}[labels]
    return X, classes[y]


@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("key", CLASSIFIERS)
def test_every_classifier_answers_as_sklearn(key, n_classes, labels):
    X, y = data(n_classes, n_classes, labels)
    estimator = fitted(key, X, y)
    queries = np.random.default_rng(99).normal(size=(300, 3))
    assert_same_as_sklearn(estimator, queries)
    assert_same_as_sklearn(estimator, queries[:1])  # a single row, the common case


def test_the_one_pass_covers_the_default_and_the_tree_models():
    X, y = data(0, 3, "int")
    assert {key for key in CLASSIFIERS if answers_in_one_pass(fitted(key, X, y))} == {
        "logistic_regression", "random_forest", "gradient_boosting", "decision_tree",
    }  # fmt: skip
    assert not answers_in_one_pass(fitted("knn", X, y)) and not answers_in_one_pass(fitted("svc", X, y))


def test_a_pipeline_with_categorical_columns_answers_as_sklearn():
    frame = pd.DataFrame({"colour": list("rgbrgbrgbr") * 6, "size": np.linspace(-1, 1, 60)})
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    encode = ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), ["colour"])], remainder="passthrough")
    pipeline = Pipeline([("encode", encode), ("model", LogisticRegression())]).fit(frame, y)
    assert answers_in_one_pass(pipeline)
    queries = pd.DataFrame({"colour": list("rgbx") * 25, "size": np.linspace(-3, 3, 100)})
    assert_same_as_sklearn(pipeline, queries)


def boundary_model(n_classes: int) -> LogisticRegression:
    """A logistic regression whose scores are x itself (binary) or x and two copies shifted by nothing."""
    model = LogisticRegression()
    model.classes_ = np.arange(n_classes)
    model.coef_ = np.ones((1 if n_classes == 2 else n_classes, 1))
    model.intercept_ = np.zeros(len(model.coef_))
    model.n_features_in_ = 1
    if n_classes > 2:
        model.coef_[0, 0] = 1.0 + 2**-52  # class 0 wins by one unit in the last place for x > 0
    return model


@pytest.mark.parametrize("n_classes", [2, 3])
def test_rows_on_the_decision_boundary_follow_predict(n_classes):
    # the probabilities of these rows tie or differ by rounding only: argmax would pick class 0 for
    # x = 1e-300 in the binary case (expit gives exactly 0.5), predict picks class 1
    model = boundary_model(n_classes)
    X = np.array([[1e-300], [0.0], [-1e-300], [5e-17], [-5e-17], [1e-9], [0.3], [-0.3], [np.finfo(float).tiny]])
    assert_same_as_sklearn(model, X)
    if n_classes == 2:
        predictions, proba = predict_with_proba(model, X[:1])
        assert proba[0, 0] == proba[0, 1] and predictions[0] == 1


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(CLASSIFIERS),
    n_classes=st.integers(2, 4),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-12, 1.0, 1e6]),
)
def test_random_models_and_rows_answer_as_sklearn(key, n_classes, seed, scale):
    X, y = data(seed, n_classes, "int")
    estimator = fitted(key, X, y)
    rng = np.random.default_rng(seed + 1)
    queries = np.vstack([rng.normal(size=(40, 3)) * scale, X[:10], np.zeros((2, 3))])
    assert_same_as_sklearn(estimator, queries)
