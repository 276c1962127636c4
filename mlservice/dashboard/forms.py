"""Input helpers of the dashboard: tables the user brings (CSV, pasted) and hyperparameter form fields."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd


class DataError(ValueError):
    """The table the user supplied cannot be sent to the API as it is; the message says why."""


def read_table(content: bytes | str) -> pd.DataFrame:
    """A CSV (or TSV / semicolon-separated, as pasted from a spreadsheet) with a header row."""
    text = content.decode("utf-8-sig", errors="replace") if isinstance(content, bytes) else content
    text = text.strip()
    if not text:
        raise DataError("The table is empty: paste or upload a CSV with a header row.")
    first_line = text.splitlines()[0]
    separator = max(("\t", ";", ","), key=first_line.count)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Could not read the table: {exc}") from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.empty:
        raise DataError("The table has a header but no rows.")
    return frame


def feature_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[float]]:
    """The given columns as rows of numbers, or a DataError naming the first column that is not numeric."""
    numeric = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            bad_row = int(values.isna().to_numpy().nonzero()[0][0])
            raise DataError(
                f"Column '{column}' must be numeric without gaps (row {bad_row + 1}: {frame[column].iloc[bad_row]!r})."
            )
        numeric[column] = values.astype(float)
    return pd.DataFrame(numeric).to_numpy().tolist()


def plain_value(value: Any) -> Any:
    """A target value as JSON carries it: whole numbers as int, others as they are."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def training_data(frame: pd.DataFrame, target: str) -> dict[str, Any]:
    """``X``, ``y`` and ``feature_names`` of a train/retrain request: every column but target is a feature."""
    if target not in frame.columns:
        raise DataError(f"There is no column '{target}' in the table.")
    features = [column for column in frame.columns if column != target]
    if not features:
        raise DataError("The table needs at least one feature column besides the target.")
    if frame[target].isna().any():
        raise DataError(f"The target column '{target}' has empty cells.")
    return {
        "X": feature_matrix(frame, features),
        "y": [plain_value(value) for value in frame[target].tolist()],
        "feature_names": features,
    }


def prediction_rows(frame: pd.DataFrame, feature_names: Sequence[str] | None) -> list[list[float]]:
    """Rows to predict from a table: the model's features by name when the header has them, else in order."""
    if feature_names and all(name in frame.columns for name in feature_names):
        return feature_matrix(frame, feature_names)
    if feature_names and len(frame.columns) != len(feature_names):
        raise DataError(
            f"The model expects {len(feature_names)} features ({', '.join(feature_names)}); "
            f"the table has {len(frame.columns)} columns ({', '.join(map(str, frame.columns))})."
        )
    return feature_matrix(frame, list(frame.columns))


def predictions_table(
    rows: Sequence[Sequence[float]], feature_names: Sequence[str] | None, result: Mapping[str, Any]
) -> pd.DataFrame:
    """Inputs, the prediction and (for classifiers) one ``P(class)`` column per class."""
    names = list(feature_names or [f"x{i}" for i in range(len(rows[0]) if rows else 0)])
    table = pd.DataFrame([list(row) for row in rows], columns=names)
    table["prediction"] = result.get("predictions", [])
    for index, label in enumerate(result.get("classes") or []):
        table[f"P({label})"] = [probabilities[index] for probabilities in result.get("probabilities") or []]
    return table


def probabilities_long(result: Mapping[str, Any]) -> pd.DataFrame:
    """Class probabilities per row in long form (row, class, probability), for a chart."""
    rows = [
        {"row": row + 1, "class": str(label), "probability": float(probability)}
        for row, probabilities in enumerate(result.get("probabilities") or [])
        for label, probability in zip(result.get("classes") or [], probabilities, strict=False)
    ]
    return pd.DataFrame(rows, columns=["row", "class", "probability"])


def confusion_counts(actual: Sequence[Any], predicted: Sequence[Any]) -> pd.DataFrame:
    """Counts of (actual, predicted) label pairs in long form, every pair present (zeros included)."""
    actual_labels = pd.Series([str(value) for value in actual], name="actual")
    predicted_labels = pd.Series([str(value) for value in predicted], name="predicted")
    labels = sorted(set(actual_labels) | set(predicted_labels))
    table = pd.crosstab(actual_labels, predicted_labels).reindex(index=labels, columns=labels, fill_value=0)
    return table.stack().rename("count").reset_index()


# --------------------------------------------------------------------------------------------------
# The training form, generated from GET /model-classes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:  # pylint: disable=too-many-instance-attributes  # one attribute per widget argument
    """How to ask for one hyperparameter: the widget kind and its arguments."""

    name: str
    kind: str  # "checkbox" | "select" | "int" | "float" | "text"
    default: Any
    help: str
    options: tuple[Any, ...] = ()
    min_value: float | int | None = None
    max_value: float | int | None = None
    nullable: bool = False


def _bound(value: Any) -> str:
    return "∞" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def describe_range(spec_range: Mapping[str, Any]) -> str:
    """``{"min": 0, "max": None, "closed": "right"}`` → ``(0, ∞)``; the bracket shows what is included."""
    closed = spec_range.get("closed", "both")
    low = "[" if closed in ("left", "both") and spec_range.get("min") is not None else "("
    high = "]" if closed in ("right", "both") and spec_range.get("max") is not None else ")"
    minimum = "-∞" if spec_range.get("min") is None else _bound(spec_range.get("min"))
    return f"{spec_range.get('type')} in {low}{minimum}, {_bound(spec_range.get('max'))}{high}"


def describe_hyperparameter(hyperparameter: Mapping[str, Any]) -> str:
    """The help text of a hyperparameter: accepted types, ranges, choices and the default."""
    parts = [" | ".join(t for t in hyperparameter.get("types", []) if t != "null") or "any"]
    parts += [describe_range(r) for r in hyperparameter.get("ranges", [])]
    if hyperparameter.get("choices"):
        parts.append("one of " + ", ".join(map(str, hyperparameter["choices"])))
    if "null" in hyperparameter.get("types", []):
        parts.append("empty = None")
    return "; ".join(parts) + f". Default: {hyperparameter.get('default')!r}."


def field_spec(hyperparameter: Mapping[str, Any]) -> FieldSpec:
    """The widget for a hyperparameter of the schema (number, select, checkbox, or free text)."""
    name, default = hyperparameter["name"], hyperparameter.get("default")
    types = set(hyperparameter.get("types", [])) - {"null"}
    nullable = "null" in hyperparameter.get("types", [])
    choices = list(hyperparameter.get("choices", []))
    ranges = [r for r in hyperparameter.get("ranges", []) if r.get("type") in types]
    help_text = describe_hyperparameter(hyperparameter)
    if types == {"bool"} and isinstance(default, bool):
        return FieldSpec(name, "checkbox", default, help_text)
    if types == {"str"} and choices:
        options = ([default] if default not in choices and default is not None else []) + choices
        if nullable:
            options.append(None)
        return FieldSpec(name, "select", default, help_text, options=tuple(options), nullable=nullable)
    if types in ({"int"}, {"float"}) and (default is None or isinstance(default, (int, float))):
        kind = types.pop()
        low = [r["min"] for r in ranges if r.get("min") is not None and r.get("closed") in ("left", "both")]
        high = [r["max"] for r in ranges if r.get("max") is not None and r.get("closed") in ("right", "both")]
        cast = int if kind == "int" else float
        return FieldSpec(
            name,
            kind,
            None if default is None else cast(default),
            help_text,
            min_value=cast(low[0]) if len(low) == 1 == len(ranges) else None,
            max_value=cast(high[0]) if len(high) == 1 == len(ranges) else None,
            nullable=nullable,
        )
    return FieldSpec(name, "text", "None" if default is None else str(default), help_text, nullable=nullable)


def changed_params(specs: Sequence[FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters whose form value differs from the default shown (only these are sent)."""
    params: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in values:
            continue
        value = values[spec.name]
        if spec.kind == "text":
            value = str(value).strip()
            if value == spec.default or (not value and spec.nullable and spec.default == "None"):
                continue
            params[spec.name] = value or None
        elif isinstance(value, float) and isinstance(spec.default, (int, float)) and not isinstance(value, bool):
            if not math.isclose(value, spec.default, rel_tol=1e-12, abs_tol=0.0):
                params[spec.name] = value
        elif value != spec.default:
            params[spec.name] = value
    return params


def schema_with_defaults(
    hyperparameters: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The schema with another set of defaults (a model's current params, for retraining)."""
    current = current or {}
    return [{**hp, "default": current[hp["name"]]} if hp["name"] in current else dict(hp) for hp in hyperparameters]
