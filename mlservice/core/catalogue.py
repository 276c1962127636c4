"""The model catalogue: which scikit-learn estimators the service trains, and their hyperparameters.

Each class's hyperparameter schema (types, defaults, choices, ranges) is derived from the estimator
itself (``get_params()`` and scikit-learn's ``_parameter_constraints``), and request values are
validated with scikit-learn's own ``validate_parameter_constraints``, so the catalogue never drifts
from the library. Used only by the core (``models.py``).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import (  # scikit-learn's own constraint objects (stable since 1.2)
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from mlservice.core.docstrings import parameter_docs
from mlservice.errors import InvalidInput

CLASSIFICATION = "classification"
REGRESSION = "regression"
# Parameters the service manages itself: letting a request set them would let one user take every
# core of a shared server (n_jobs) or flood its logs (verbose).
SERVER_MANAGED_PARAMS = frozenset({"n_jobs", "verbose"})
# scikit-learn accepts any positive int for these, but a shared server must not build a model that
# exhausts its memory or CPU for hours (n_estimators=10**9): refuse beyond these up front.
SIZE_LIMITS = {
    "n_estimators": 5_000,
    "max_iter": 100_000,
    "n_neighbors": 10_000,
    "max_leaf_nodes": 65_536,  # each tree keeps up to this many leaves (x n_estimators for forests)
    "max_depth": 1_000,
    "max_bins": 255,
    "cache_size": 1_024,  # SVC's kernel cache, in MB, allocated up front
    "degree": 20,  # SVC's polynomial kernel: cost grows with it
    "n_iter_no_change": 10_000,
}
MAX_PARAMS_PER_REQUEST = 100

# --------------------------------------------------------------------------------------------------
# The model catalogue and its hyperparameter schemas
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelClass:
    """One trainable model class: a scikit-learn estimator and what the service says about it."""

    key: str
    estimator: type
    task: str
    description: str
    default_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        """The estimator's class name, e.g. ``LogisticRegression``."""
        return self.estimator.__name__

    def defaults(self) -> dict[str, Any]:
        """Default value of every settable hyperparameter (scikit-learn's, with our overrides)."""
        params = self.estimator().get_params(deep=False)
        params.update(self.default_overrides)
        return {name: params[name] for name in self.constraints()}

    def constraints(self) -> dict[str, list]:
        """scikit-learn's own parameter constraints for the hyperparameters a request may set."""
        settable = {}
        for name, constraint_list in self.estimator._parameter_constraints.items():  # pylint: disable=protected-access
            if name in SERVER_MANAGED_PARAMS:
                continue
            if set(_schema_from_constraints(constraint_list)["types"]) - {"null"}:
                settable[name] = constraint_list
        return settable

    def hyperparameter_schema(self) -> list[dict[str, Any]]:
        """One entry per settable hyperparameter: name, types, default, choices, ranges, and scikit-learn's
        own description (the first sentence of its docstring entry); ``deprecated`` when it is."""
        defaults, docs = self.defaults(), parameter_docs(self.estimator)
        schema = []
        for name, constraint_list in sorted(self.constraints().items()):
            entry = {"name": name, "default": jsonable(defaults[name]), **_schema_from_constraints(constraint_list)}
            doc = docs.get(name)
            entry["description"] = doc.summary if doc else ""
            if doc and doc.deprecation and doc.deprecation.startswith(name):  # the parameter, not one value
                entry["deprecated"] = doc.deprecation
            if isinstance(entry["default"], str) and entry["default"] not in entry.get("choices", [entry["default"]]):
                # a hidden sentinel such as 'deprecated': the behaviour is the documented default's
                entry["default"] = documented_value(doc.documented_default if doc else None)
            schema.append(entry)
        return schema

    def info(self) -> dict[str, Any]:
        """What ``GET /model-classes`` shows for this class."""
        return {
            "key": self.key,
            "class_name": self.class_name,
            "task": self.task,
            "description": self.description,
            "hyperparameters": self.hyperparameter_schema(),
        }


MODEL_CLASSES: dict[str, ModelClass] = {
    mc.key: mc
    for mc in (
        ModelClass(
            "logistic_regression",
            LogisticRegression,
            CLASSIFICATION,
            "Linear classifier with a logistic link; fast, calibrated probabilities, a strong baseline.",
        ),
        ModelClass(
            "random_forest",
            RandomForestClassifier,
            CLASSIFICATION,
            "Bagged decision trees; robust on tabular data with little tuning.",
        ),
        ModelClass(
            "gradient_boosting",
            HistGradientBoostingClassifier,
            CLASSIFICATION,
            "Histogram-based gradient boosting; usually the most accurate on larger tabular data.",
        ),
        ModelClass("decision_tree", DecisionTreeClassifier, CLASSIFICATION, "A single decision tree; easy to inspect."),
        ModelClass("knn", KNeighborsClassifier, CLASSIFICATION, "k-nearest neighbours vote; no training cost."),
        ModelClass(
            "svc",
            SVC,
            CLASSIFICATION,
            "Support vector classifier (RBF kernel by default); probability=True by default here so that "
            "predictions come with class probabilities.",
            default_overrides={"probability": True},
        ),
        ModelClass("linear_regression", LinearRegression, REGRESSION, "Ordinary least squares regression."),
        ModelClass("ridge", Ridge, REGRESSION, "Least squares with L2 regularisation."),
        ModelClass(
            "random_forest_regressor",
            RandomForestRegressor,
            REGRESSION,
            "Bagged regression trees; robust on tabular data with little tuning.",
        ),
        ModelClass(
            "gradient_boosting_regressor",
            HistGradientBoostingRegressor,
            REGRESSION,
            "Histogram-based gradient boosting for regression.",
        ),
    )
}


def _type_name(python_type: Any) -> str | None:
    """Map a constraint type to a JSON-ish type name; None where a request cannot express it."""
    if python_type is bool:
        return "bool"
    if python_type in (int, Integral):
        return "int"
    if python_type in (float, Real) or getattr(python_type, "__name__", python_type) in ("RealNotInt", "real_not_int"):
        return "float"
    if python_type is str:
        return "str"
    return None


def _schema_from_constraints(constraint_list: list) -> dict[str, Any]:  # pylint: disable=too-many-branches  # one branch per constraint kind
    """Translate scikit-learn parameter constraints into types, choices and numeric ranges."""
    types: set[str] = set()
    choices: list[Any] = []
    ranges: list[dict[str, Any]] = []
    for constraint in constraint_list:
        if constraint is None:
            types.add("null")
        elif isinstance(constraint, Hidden):
            continue
        elif constraint == "boolean":
            types.add("bool")
        elif constraint == "random_state":
            types.update({"int", "null"})
            ranges.append({"type": "int", "min": 0, "max": 2**32 - 1, "closed": "both"})
        elif isinstance(constraint, str):
            continue  # "array-like", "sparse matrix", "cv_object", ...: not expressible in a request
        elif isinstance(constraint, Interval):
            type_name = _type_name(constraint.type)
            if type_name is None:
                continue
            types.add(type_name)
            ranges.append(
                {"type": type_name, "min": constraint.left, "max": constraint.right, "closed": constraint.closed}
            )
        elif isinstance(constraint, StrOptions):
            types.add("str")
            choices.extend(sorted(constraint.options - set(getattr(constraint, "deprecated", set()))))
        elif isinstance(constraint, Options):
            type_name = _type_name(constraint.type)
            if type_name:
                types.add(type_name)
                choices.extend(sorted(constraint.options))
        else:
            type_name = _type_name(constraint)
            if type_name:
                types.add(type_name)
    schema: dict[str, Any] = {"types": sorted(types)}
    if choices:
        schema["choices"] = choices
    if ranges:
        schema["ranges"] = ranges
    return schema


def documented_value(text: str | None) -> Any:
    """A docstring's ``default=`` text as a value: ``'l2'`` → ``"l2"``, ``None`` → None, ``1e-4`` → 0.0001."""
    if text is None:
        return None
    try:
        return jsonable(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text.strip("'\"")


def jsonable(value: Any) -> Any:
    """A default value as JSON can carry it (numpy scalars, inf, types...)."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value) if math.isfinite(value) else str(value)
    return str(value)


_INT_LITERAL = re.compile(r"^[+-]?\d+$")


def _string_candidates(text: str) -> Iterator[Any]:
    """Readings of a string hyperparameter, most specific first (gRPC sends every value as text)."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        yield None
    if lowered in ("true", "false"):
        yield lowered == "true"
    if _INT_LITERAL.match(text.strip()):
        yield int(text)
    try:
        yield float(text)
    except ValueError:
        pass
    yield text


def coerce_params(model_class: ModelClass, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate and coerce request hyperparameters against the class's scikit-learn constraints.

    Strings are read as the most specific value the parameter accepts: ``"100"`` becomes 100 for an
    int parameter, ``"1e-3"`` a float, ``"None"`` None, ``"true"`` True, ``"lbfgs"`` stays a string.

    Returns:
        The effective hyperparameters: the class defaults updated by the coerced request values.

    Raises:
        InvalidInput: an unknown name, or a value outside what scikit-learn accepts, naming both.
    """
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("params must be an object mapping hyperparameter names to values")
    if params and len(params) > MAX_PARAMS_PER_REQUEST:
        raise InvalidInput(f"too many hyperparameters ({len(params)}); the limit is {MAX_PARAMS_PER_REQUEST}")
    constraints = model_class.constraints()
    effective = model_class.defaults()
    for name, raw in (params or {}).items():
        if name not in constraints:
            raise InvalidInput(
                f"Unknown hyperparameter '{name}' for {model_class.key}; accepted: {', '.join(sorted(constraints))}"
            )
        candidates = list(_string_candidates(raw)) if isinstance(raw, str) else [raw]
        first_error: InvalidParameterError | None = None
        for candidate in candidates:
            try:
                validate_parameter_constraints(
                    {name: constraints[name]}, {name: candidate}, caller_name=model_class.class_name
                )
            except InvalidParameterError as exc:
                first_error = first_error or exc
                continue
            effective[name] = candidate
            break
        else:
            raise InvalidInput(f"Invalid hyperparameter {name}={raw!r}: {first_error}")
        limit = SIZE_LIMITS.get(name)
        value = effective[name]
        if limit is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
            raise InvalidInput(f"Hyperparameter {name}={value} is above this service's limit of {limit}")
    return effective
