"""Request bodies as JSON, nested at most ``MAX_JSON_DEPTH`` levels: a deeper body is the caller's error (400).

Python's parser recurses once per level: a body nested a few thousand levels deep raised
RecursionError, which answered 500. No request of this API needs more than a few levels.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

MAX_JSON_DEPTH = 64
_CONTAINERS = (list, dict)


class TooDeeplyNested(BadRequest):
    """The body nests arrays/objects deeper than this API accepts: 400 with this message.

    An HTTP error rather than a ValueError: Flask replaces a ValueError's message with a generic one."""

    description = f"The JSON body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep"


def within_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether value nests lists/dicts at most limit levels (iteratively: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, _CONTAINERS):
                stack.append((child, depth + 1))
    return True


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing bodies nested deeper than MAX_JSON_DEPTH."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError as exc:
            raise TooDeeplyNested() from exc
        openers = s.count(b"[" if isinstance(s, bytes) else "[") + s.count(b"{" if isinstance(s, bytes) else "{")
        if openers > MAX_JSON_DEPTH and isinstance(value, _CONTAINERS) and not within_depth(value):
            raise TooDeeplyNested()
        return value
