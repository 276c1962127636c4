"""JSON of the REST door, with orjson: NumPy arrays as they are (the core's prediction results), NaN as null.

Used for every Flask-RESTX answer (its ``application/json`` representation), the Open Inference
Protocol's views and the prediction fast path, so that each encodes the same way.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import make_response

from mlservice.rest.json_body import MAX_JSON_DEPTH, TooDeeplyNested, within_depth

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    """What orjson cannot encode itself: NumPy arrays of text or objects (class labels), NumPy scalars."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(data, default=_fallback, option=OPTIONS)


class TooDeeplyNestedJSON(ValueError):
    """A body nesting arrays/objects deeper than the API accepts (``json_body.MAX_JSON_DEPTH``)."""


def loads(data: bytes | str) -> Any:
    """Parse JSON, nested at most ``MAX_JSON_DEPTH`` levels, as the Flask provider does (``json_body``).

    Raises:
        ValueError: not JSON (``orjson.JSONDecodeError``), or ``TooDeeplyNestedJSON``.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own limit (1,024 levels)
            raise TooDeeplyNestedJSON(TooDeeplyNested.description) from None
        raise
    if isinstance(value, (list, dict)):
        raw = data.encode() if isinstance(data, str) else data
        if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and not within_depth(value):
            raise TooDeeplyNestedJSON(TooDeeplyNested.description)
    return value


def output_json(data: Any, code: int, headers: Any = None):
    """Flask-RESTX's JSON representation, with orjson."""
    response = make_response(dumps(data) + b"\n", code)
    response.headers["Content-Type"] = "application/json"
    response.headers.extend(headers or {})
    return response
