"""What a request asks the core for: ``TrainingRequest`` and ``PredictRequest``, built by every front end.

REST builds them from JSON bodies, gRPC from protobuf messages, the job queue from stored JSON; the
core checks them, in one place. ``check()`` refuses wrongly typed or contradictory fields without
touching data or the registry, so it is cheap enough for any front end to call first; the core then
does the checks that need the catalogue, the registry or the data (``mlservice.core.training``).

Pure Python: importing this module imports neither NumPy nor scikit-learn nor MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from mlservice.errors import InvalidInput

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MODEL_ID_RULE = "1-63 characters: letters, digits, '_', '.', '-', starting with a letter or digit"
MAX_NAME_CHARS = 200  # column names, class labels, dataset references: stored in MLflow and the model
MAX_PARAMS_PER_REQUEST = 100
TRAIN, RETRAIN = "train", "retrain"
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
RESERVED_ALIAS = re.compile(r"^(latest|[vV]?\d+)$", re.IGNORECASE)  # MLflow's own, and version numbers
ALIAS_RULE = "1-63 letters, digits, '_' or '-'; not 'latest' (MLflow reserves it) and not a version number"


def check_model_id(model_id: Any) -> str:
    """A model id a user may give a new model, or InvalidInput saying what is allowed."""
    if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
        raise InvalidInput(f"model_id must be {MODEL_ID_RULE}")
    return model_id


def check_alias(alias: Any) -> str:
    """An alias name (``current``, ``challenger``, ...), or InvalidInput saying what is allowed."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias) or RESERVED_ALIAS.match(alias):
        shown = alias[:50] if isinstance(alias, str) else alias
        raise InvalidInput(f"alias {shown!r} is not allowed: use {ALIAS_RULE}")
    return alias


def is_model_id(model_id: Any) -> bool:
    """Whether model_id could name a model at all (anything else is simply not found)."""
    return isinstance(model_id, str) and bool(MODEL_ID_PATTERN.match(model_id))


def check_name_lengths(field_name: str, names: Any, what: str = "name") -> None:
    """Refuse an overlong name (or list of names): they are stored as MLflow tags and in the model."""
    for index, name in enumerate([names] if isinstance(names, str) else names or []):
        if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
            where = field_name if isinstance(names, str) else f"{field_name}[{index}]"
            raise InvalidInput(f"{where}: a {what} of {len(name):,} characters; the limit is {MAX_NAME_CHARS}")


def _is_string_list_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainingRequest:  # pylint: disable=too-many-instance-attributes  # one attribute per request field
    """A training of a new model (``kind="train"``) or a new version of one (``kind="retrain"``).

    The data is either inline (``X`` rows, ``y`` targets, optional ``feature_names``) or a stored
    dataset (``dataset="name[@version]"``, ``target`` column, optional ``features``, ``impute``).
    ``run_async`` queues it as a job instead of training while the caller waits.
    """

    kind: str = TRAIN
    model_type: str | None = None  # train: a catalogue key
    model_id: str | None = None  # train: the id wanted (optional); retrain: the model
    params: Mapping[str, Any] | None = None
    X: Any = None
    y: Any = None
    feature_names: Sequence[str] | None = None
    dataset: str | None = None
    target: str | None = None
    features: Sequence[str] | None = None
    impute: bool = False
    test_size: float = 0.2
    random_state: int | None = 42
    run_async: bool = False
    promote: bool = True  # retrain: move ``current`` to the new version (false: it becomes the challenger)

    # JSON field names (REST bodies, stored jobs) that differ from the attribute names
    JSON_NAMES = {"run_async": "async"}
    NULL_MEANS_NONE = frozenset({"random_state"})  # null is a value here (no seed), not "use the default"

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, kind: str = TRAIN, model_id: str | None = None) -> TrainingRequest:
        """The request a JSON body describes (REST, stored jobs); a retrain names its model separately.

        Raises:
            InvalidInput: the body is not an object.
        """
        if not isinstance(body, Mapping):
            raise InvalidInput("the request body must be a JSON object")
        values: dict[str, Any] = {"kind": kind}
        for attribute in cls.json_fields():
            name = cls.JSON_NAMES.get(attribute, attribute)
            if name in body and (body[name] is not None or attribute in cls.NULL_MEANS_NONE):
                values[attribute] = body[name]
        if kind == RETRAIN:
            values["model_id"] = model_id
            values.pop("model_type", None)
        return cls(**values)

    @classmethod
    def json_fields(cls) -> list[str]:
        """Attributes a JSON body may set (everything but the kind)."""
        return [f.name for f in fields(cls) if f.name != "kind"]

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (for the job queue); ``from_json`` reads it back."""
        values = asdict(self)
        values.pop("kind")
        return {self.JSON_NAMES.get(k, k): v for k, v in values.items()}

    @property
    def uses_dataset(self) -> bool:
        """Trains on a stored dataset rather than inline rows."""
        return self.dataset is not None

    def check(self) -> None:
        """Refuse wrongly typed, missing or contradictory fields; touches no data and no registry.

        Raises:
            InvalidInput: naming the field and what it must be.
        """
        if self.kind not in (TRAIN, RETRAIN):
            raise InvalidInput(f"unknown training kind '{self.kind}'")
        if self.kind == TRAIN:
            if not isinstance(self.model_type, str) or not self.model_type:
                raise InvalidInput("model_type is required: a model class key (see GET /model-classes)")
            if self.model_id is not None:
                check_model_id(self.model_id)
        self._check_options()
        self._check_data_source()

    def _check_options(self) -> None:
        if self.params is not None and not isinstance(self.params, Mapping):
            raise InvalidInput("params must be an object mapping hyperparameter names to values")
        if self.params and len(self.params) > MAX_PARAMS_PER_REQUEST:
            raise InvalidInput(f"too many hyperparameters ({len(self.params)}); the limit is {MAX_PARAMS_PER_REQUEST}")
        for name in ("dataset", "target"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidInput(f"{name} must be a string")
        for name in ("feature_names", "features"):
            if not _is_string_list_or_none(getattr(self, name)):
                raise InvalidInput(f"{name} must be a list of strings")
        for name in ("dataset", "target", "feature_names", "features"):
            check_name_lengths(name, getattr(self, name))
        if not isinstance(self.impute, bool):
            raise InvalidInput("impute must be true or false")
        if not isinstance(self.run_async, bool):
            raise InvalidInput("async must be true or false")
        self._check_promote()
        if not _is_number(self.test_size) or not 0 <= self.test_size <= 0.5:
            raise InvalidInput("test_size must be a number from 0 (evaluate on the training data) to 0.5")
        state = self.random_state
        if state is not None and (isinstance(state, bool) or not isinstance(state, int) or not 0 <= state < 2**32):
            raise InvalidInput("random_state must be an integer from 0 to 2**32-1, or null")

    def _check_promote(self) -> None:
        if not isinstance(self.promote, bool):
            raise InvalidInput("promote must be true or false")
        if self.kind == TRAIN and not self.promote:
            raise InvalidInput("a new model's first version always serves: promote: false is for retrains")

    def _check_data_source(self) -> None:
        inline = self.X is not None or self.y is not None
        if self.uses_dataset:
            if inline:
                raise InvalidInput("send either X and y, or dataset and target, not both")
            if not self.dataset:
                raise InvalidInput("dataset must be a dataset name, optionally with @version")
            return
        if self.X is None or self.y is None:
            raise InvalidInput("send X and y (inline data), or dataset and target (a stored dataset)")
        if not isinstance(self.y, (list, tuple)) and not hasattr(self.y, "__array__"):
            raise InvalidInput("y must be a list of targets, one per row of X")


@dataclass(frozen=True)
class PredictRequest:
    """Predictions from one model version: rows in feature order (``X``) or named ``records``.

    The version is ``version`` (a number), or the one ``alias`` points at, or ``current``.
    ``probabilities``: classifiers also answer class probabilities (a second pass over the model); a
    front end whose caller did not ask for them (the Open Inference Protocol's ``outputs``) may say False.
    """

    model_id: str
    X: Any = None
    records: Any = None
    version: int | str | None = None
    alias: str | None = None
    probabilities: bool = True

    def check(self) -> None:
        """Refuse a request that sends both or neither of X and records, a malformed version or alias, or
        both a version and an alias.

        Raises:
            InvalidInput: naming the field.
        """
        if (self.X is None) == (self.records is None):
            raise InvalidInput("send exactly one of X (rows of values) or records (objects keyed by feature name)")
        check_version_or_alias(self.version, self.alias)
        if not isinstance(self.probabilities, bool):
            raise InvalidInput("probabilities must be true or false")


def check_version_or_alias(version: Any, alias: Any) -> tuple[str | None, str | None]:
    """(version, alias) as the registry names them; at most one of them, each well-formed.

    Raises:
        InvalidInput: both given, a version that is not a positive integer, an alias not allowed.
    """
    if version is not None and alias is not None:
        raise InvalidInput("send version or alias, not both")
    return check_version(version), None if alias is None else check_alias(alias)


def check_version(version: Any) -> str | None:
    """A model version as the registry names it ("3"), None for the current one; InvalidInput otherwise."""
    if version is None:
        return None
    text = str(version)
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"version must be a positive integer, got '{text[:50]}'")
    return str(int(text))
