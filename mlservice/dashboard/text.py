"""User-supplied text (model ids, feature names, logins, API messages) made safe for Streamlit's markdown.

Streamlit renders markdown in ``st.markdown``, captions, alerts, labels and expanders: a crafted
name with backticks, ``*``, ``[`` or ``<`` could close a code span, add links or formatting, and
Streamlit's own ``:color[...]`` and ``$math$`` directives. ``md`` escapes, with a backslash
(CommonMark allows one before any ASCII punctuation), every punctuation character that could start
markdown syntax, and flattens line breaks, so the text shows exactly as it was given. Use it for
every user-supplied value put into markdown; never put such a value in a code span (a backslash does
not escape inside one).
"""

from __future__ import annotations

import re
import string
from typing import Any

# Punctuation that never starts markdown syntax in the middle of a line stays as it is, so ordinary
# names read the same in widget labels and locators ("sepal_length", "iris-v2.csv"); every other
# ASCII punctuation character is escaped, "_" too unless it sits inside a word (CommonMark never
# reads an intraword "_" as emphasis), and so is whatever character comes first.
_PLAIN = frozenset(" -.,/;=@?%'\"")
_SPECIAL = "".join(sorted(set(string.punctuation) - _PLAIN))
_NEEDS_ESCAPE = re.compile(rf"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|[{re.escape(_SPECIAL.replace('_', ''))}]")


def md(value: Any) -> str:
    """value as markdown text that renders literally (no formatting, links, HTML or Streamlit directives)."""
    text = re.sub(r"[\r\n]+", " ", str(value))
    text = _NEEDS_ESCAPE.sub(lambda match: "\\" + match.group(0), text)
    text = re.sub(r"(?i)\bwww\.", lambda match: match.group(0)[:-1] + "\\.", text)  # no bare autolink
    text = re.sub(r"^(\d+)\.", r"\1\\.", text)  # not an ordered list
    if text[:1] in _PLAIN - {" "}:  # a list marker or the like at the start of a block
        text = "\\" + text
    return text


def md_list(values: Any, separator: str = ", ") -> str:
    """Several user-supplied values, each escaped, joined."""
    return separator.join(md(value) for value in values)
