"""Form helpers of the dashboard: hyperparameter fields from ``GET /model-classes`` and feature fields from a
model's feature schema (``GET /models/<id>``), with the checks that put a message beside the field.

Plain Python, testable without Streamlit. The API checks everything again; these only let the page say
what is wrong where the user is looking, before a request is sent.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------------------------------
# Hyperparameters, generated from GET /model-classes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:  # pylint: disable=too-many-instance-attributes  # one attribute per widget argument
    """How to ask for one hyperparameter: the widget kind and its arguments."""

    name: str
    kind: str  # "checkbox" | "select" | "int" | "float" | "text"
    default: Any
    help: str
    options: tuple[Any, ...] = ()
    ranges: tuple[Mapping[str, Any], ...] = ()  # accepted numeric ranges (any of them)
    nullable: bool = False
    deprecated: str = ""


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
    """The tooltip: scikit-learn's own first sentence, then the accepted values and the default."""
    parts = [" | ".join(t for t in hyperparameter.get("types", []) if t != "null") or "any"]
    parts += [describe_range(r) for r in hyperparameter.get("ranges", [])]
    if hyperparameter.get("choices"):
        parts.append("one of " + ", ".join(map(str, hyperparameter["choices"])))
    if "null" in hyperparameter.get("types", []):
        parts.append("empty = None")
    accepted = "; ".join(parts) + f". Default: {hyperparameter.get('default')!r}."
    lines = [hyperparameter.get("description") or "", f"Accepts {accepted}"]
    if hyperparameter.get("deprecated"):
        lines.append(f"Deprecated: {hyperparameter['deprecated']}")
    return "\n\n".join(line for line in lines if line)


def field_spec(hyperparameter: Mapping[str, Any]) -> FieldSpec:
    """The widget for a hyperparameter of the schema (number, select, checkbox, or free text)."""
    name, default = hyperparameter["name"], hyperparameter.get("default")
    types = set(hyperparameter.get("types", [])) - {"null"}
    nullable = "null" in hyperparameter.get("types", [])
    choices = list(hyperparameter.get("choices", []))
    ranges = tuple(r for r in hyperparameter.get("ranges", []) if r.get("type") in types)
    common = {"help": describe_hyperparameter(hyperparameter), "deprecated": hyperparameter.get("deprecated", "")}
    if types == {"bool"} and isinstance(default, bool):
        return FieldSpec(name, "checkbox", default, **common)
    if types == {"str"} and choices:
        options = ([default] if default not in choices and default is not None else []) + choices
        if nullable:
            options.append(None)
        return FieldSpec(name, "select", default, options=tuple(options), nullable=nullable, **common)
    if types in ({"int"}, {"float"}) and (default is None or isinstance(default, (int, float))):
        kind = types.pop()
        cast = int if kind == "int" else float
        value = None if default is None else cast(default)
        return FieldSpec(name, kind, value, ranges=ranges, nullable=nullable, **common)
    return FieldSpec(name, "text", "None" if default is None else str(default), nullable=nullable, **common)


def _inside(value: float, spec_range: Mapping[str, Any]) -> bool:
    closed = spec_range.get("closed", "both")
    low, high = spec_range.get("min"), spec_range.get("max")
    above = low is None or (value >= low if closed in ("left", "both") else value > low)
    below = high is None or (value <= high if closed in ("right", "both") else value < high)
    return above and below


def value_problem(spec: FieldSpec, value: Any) -> str | None:
    """What is wrong with a number typed into a field (outside every accepted range), for beside the field."""
    if spec.kind not in ("int", "float") or value is None or not spec.ranges:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{spec.name} must be a finite number"
    if any(_inside(float(value), r) for r in spec.ranges):
        return None
    accepted = " or ".join(describe_range(r) for r in spec.ranges)
    return f"{spec.name} = {value:g} is out of range: it must be {accepted}."


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


# --------------------------------------------------------------------------------------------------
# Features of a model, for the one-row prediction form
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureField:
    """How to ask for one feature's value: a select of known categories, a number, or free text."""

    name: str
    kind: str  # "select" | "number" | "text"
    default: Any
    options: tuple[str, ...] = ()
    help: str = ""


def feature_fields(schema: Sequence[Mapping[str, Any]] | None, feature_names: Sequence[str]) -> list[FeatureField]:
    """One field per feature: categories from the model's encoder, numbers from the training median.

    A model without a recorded schema (trained before it was recorded) gets number fields starting at 0.
    """
    by_name = {entry.get("name"): entry for entry in schema or []}
    fields = []
    for name in feature_names:
        entry = by_name.get(name, {})
        if entry.get("kind") == "categorical" and entry.get("categories") and not entry.get("categories_truncated"):
            categories = tuple(str(c) for c in entry["categories"])
            fields.append(FeatureField(name, "select", categories[0], categories, "A category the model knows"))
        elif entry.get("kind") == "categorical":
            fields.append(FeatureField(name, "text", "", help="Text: one of the categories the model was trained on"))
        else:
            median = entry.get("median")
            shown = "the training median" if median is not None else "no training median was recorded"
            fields.append(FeatureField(name, "number", float(median or 0.0), help=f"A number; starts at {shown}"))
    return fields


def fingerprint(*parts: Any) -> str:
    """A short, stable digest of what a result was made from: a result is shown only beside its inputs."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
