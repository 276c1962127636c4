"""JSON of the REST door, with orjson: NumPy arrays as they are (the core's prediction results), NaN as null.

Used for every Flask-RESTX answer (its ``application/json`` representation), the Open Inference
Protocol's views and the prediction fast path, so that each encodes the same way.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import make_response

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _fallback(value: Any) -> Any:
    """What orjson cannot encode itself: NumPy arrays of text or objects (class labels), NumPy scalars."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(data, default=_fallback, option=OPTIONS)


def loads(data: bytes | str) -> Any:
    """Parse JSON (raises ``orjson.JSONDecodeError``, a ``ValueError``)."""
    return orjson.loads(data)


def output_json(data: Any, code: int, headers: Any = None):
    """Flask-RESTX's JSON representation, with orjson."""
    response = make_response(dumps(data) + b"\n", code)
    response.headers["Content-Type"] = "application/json"
    response.headers.extend(headers or {})
    return response
