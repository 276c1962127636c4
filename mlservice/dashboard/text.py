"""User-supplied text (model ids, feature names, logins, API messages) made safe for Streamlit's markdown.

Streamlit renders markdown in ``st.markdown``, captions, alerts, labels and expanders: a crafted
name with backticks, ``*``, ``[`` or ``<`` could close a code span, add links or formatting, and
Streamlit's own ``:color[...]`` and ``$math$`` directives. ``md`` escapes every ASCII punctuation
character with a backslash (CommonMark allows that for all of them) and flattens line breaks, so the
text shows exactly as it was given. Use it for every user-supplied value put into markdown; never
put such a value in a code span (a backslash does not escape inside one).
"""

from __future__ import annotations

import string
from typing import Any

_ESCAPES = str.maketrans({char: "\\" + char for char in string.punctuation} | {"\n": " ", "\r": " "})


def md(value: Any) -> str:
    """value as markdown text that renders literally (no formatting, links, HTML or Streamlit directives)."""
    return str(value).translate(_ESCAPES)


def md_list(values: Any, separator: str = ", ") -> str:
    """Several user-supplied values, each escaped, joined."""
    return separator.join(md(value) for value in values)
