"""Prediction input typed per feature (mlservice.core.preprocessing): every kind of wrong value is an
InvalidInput naming the feature, for rows, records and CSV, and what passes is what the model can take.

Unit tier: the pipelines are fitted in this process (no fit process), exactly as the trainer builds them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlservice.core.artifacts import loaded_model
from mlservice.core.datasets import parse_csv
from mlservice.core.preprocessing import FeatureSchema, feature_medians, prediction_input, schema_of, tabular_pipeline
from mlservice.errors import InvalidInput, PayloadTooLarge
from mlservice.settings import Settings

SETTINGS = Settings(max_rows=50)
FRAME = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "site": ["north", "south"] * 3})
LABELS = [0, 1, 0, 1, 0, 1]


def fitted(impute: bool = False):
    return tabular_pipeline(LogisticRegression(), FRAME, ["site"], impute).fit(FRAME, LABELS)


@pytest.fixture(scope="module")
def mixed() -> FeatureSchema:
    return schema_of(fitted(), ["size", "site"])


def test_the_schema_of_a_fitted_pipeline_names_kinds_categories_and_medians(mixed):
    assert mixed.names == ("size", "site") and mixed.needs_frame and not mixed.imputes
    assert mixed.categories == {"site": ("north", "south")}
    medians = feature_medians(FRAME, ["size", "site"], ["site"])
    assert mixed.describe(medians) == [
        {"name": "size", "kind": "numeric", "nullable": False, "median": 3.5},
        {"name": "site", "kind": "categorical", "nullable": False, "categories": ["north", "south"]},
    ]
    assert schema_of(fitted(impute=True), ["size", "site"]).imputes
    plain = schema_of(LogisticRegression().fit([[1.0], [2.0]], [0, 1]), None)
    assert plain.names == ("feature_0",) and not plain.needs_frame and not plain.categories
    assert feature_medians(np.array([[1.0, 5.0], [3.0, 7.0], [2.0, 6.0]]), ["a", "b"], []) == {"a": 2.0, "b": 6.0}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"size": 1.0, "site": 0}], r"feature 'site' is categorical and takes text, one of its known categories: "
                                     r"'north', 'south' .*records\[0\] has 0"),
        ([{"size": 1.0, "site": True}], r"feature 'site' is categorical.*has True"),
        ([{"size": 1.0, "site": ["north"]}], r"feature 'site' is categorical.*has \['north'\]"),
        ([{"size": 1, "site": "north"}, {"size": "big", "site": "north"}],
         r"feature 'size' must be numeric: records\[1\] has 'big'"),
        ([{"size": {"v": 1}, "site": "north"}], r"feature 'size' must be numeric"),
        ([{"size": None, "site": "north"}], r"feature 'size' has no value at records\[0\]; .*without imputation"),
        ([{"size": 1.0, "site": None}], r"feature 'site' has no value at records\[0\]"),
        ([{"size": math.inf, "site": "north"}], r"feature 'size' must be a finite number"),
        ([{"size": 1.0}], r"missing site"),
        ([{"size": 1.0, "site": "north", "colour": "red"}], r"unknown colour"),
        ([], r"records must be a non-empty list"),
        ("north", r"records must be a non-empty list"),
    ],
)  # fmt: skip
def test_wrongly_typed_records_name_the_feature(mixed, records, message):
    with pytest.raises(InvalidInput, match=message):
        prediction_input(None, records, mixed, SETTINGS)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1.0, 0]], r"feature 'site' is categorical.*X\[0\] has 0"),
        ([[1.0, "north"], ["x", "south"]], r"feature 'size' must be numeric: X\[1\] has 'x'"),
        ([[1.0]], r"each row of X must have 2 values \(size, site\); X\[0\] has 1"),
        ([[1.0, "north", 3]], r"X\[0\] has 3"),
        ([1.0, "north"], r"X must be a non-empty list of rows"),
    ],
)
def test_wrongly_typed_rows_name_the_feature(mixed, rows, message):
    with pytest.raises(InvalidInput, match=message):
        prediction_input(rows, None, mixed, SETTINGS)


def test_what_passes_is_typed_for_the_pipeline(mixed):
    frame = prediction_input(None, [{"size": "2.5", "site": "east"}, {"size": 3, "site": "north"}], mixed, SETTINGS)
    assert frame["size"].tolist() == [2.5, 3.0] and frame["site"].tolist() == ["east", "north"]
    estimator = fitted()
    estimator.predict(frame)  # an unknown category is "none of the known ones" (handle_unknown="ignore")
    same = prediction_input([[2.5, "east"], [3, "north"]], None, mixed, SETTINGS)
    assert same.equals(frame)


def test_a_model_that_imputes_takes_missing_values():
    estimator = fitted(impute=True)
    schema = schema_of(estimator, ["size", "site"])
    frame = prediction_input(None, [{"size": None, "site": None}, {"size": 2.0, "site": "south"}], schema, SETTINGS)
    assert len(estimator.predict(frame)) == 2


def test_plain_models_take_numbers_and_name_the_feature_otherwise():
    schema = FeatureSchema(("a", "b"))
    assert prediction_input([[1, "2.5"]], None, schema, SETTINGS).tolist() == [[1.0, 2.5]]
    assert prediction_input(None, [{"a": 1, "b": 2}], schema, SETTINGS).tolist() == [[1.0, 2.0]]
    assert prediction_input(np.ones((2, 2)), None, schema, SETTINGS).shape == (2, 2)
    with pytest.raises(InvalidInput, match=r"feature 'b' must be numeric: X\[0\] has 'north'"):
        prediction_input([[1.0, "north"]], None, schema, SETTINGS)
    with pytest.raises(InvalidInput, match=r"feature 'a' has no value at X\[1\]"):
        prediction_input([[1.0, 2.0], [None, 2.0]], None, schema, SETTINGS)
    with pytest.raises(PayloadTooLarge, match="limit is 50"):
        prediction_input([[1.0, 2.0]] * 51, None, schema, SETTINGS)


def test_csv_rows_are_named_by_their_line_and_categories_stay_text(mixed):
    frame = parse_csv(b"size,site\n1,01\n2,south\n", text_columns=["site"])
    assert frame["site"].tolist() == ["01", "south"]
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    assert prediction_input(None, rows, mixed, SETTINGS, "CSV")["site"].tolist() == ["01", "south"]
    with pytest.raises(InvalidInput, match="feature 'size' must be numeric: line 3 of the CSV has 'big'"):
        prediction_input(None, [{"size": 1, "site": "a"}, {"size": "big", "site": "b"}], mixed, SETTINGS, "CSV")


def test_a_ragged_csv_says_which_line():
    with pytest.raises(InvalidInput, match="malformed CSV: line 3 has 3 fields but the header has 2"):
        parse_csv(b"size,site\n1,north\n2,south,extra\n")


def test_the_cache_entry_carries_the_schema():
    loaded = loaded_model(fitted(), "1", ["size", "site"], None, 100)
    assert loaded.schema.categories == {"site": ("north", "south")}
