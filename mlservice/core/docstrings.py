"""scikit-learn's own words for each hyperparameter: the "Parameters" section of an estimator's docstring.

scikit-learn documents every parameter in numpydoc style (``name : type, default=value`` then an
indented description). The catalogue shows the first sentence of each description, the documented
default, and the deprecation note when there is one, so the service's help never drifts from the
library's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_ENTRY = re.compile(r"^(?P<names>[A-Za-z_][\w, ]*?)\s*:\s*(?P<type>.*)$")
_DEFAULT = re.compile(r"default\s*=\s*(?P<value>.+)$")
_ROLE = re.compile(r":(?:ref|class|func|meth|term|attr|mod|obj|data|doc):`(?P<text>[^`<]*?)\s*(?:<[^`>]*>)?`")
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!a\.k\.a)(?<!\betc)(?<!\bvs)\.(?=\s|$)")


@dataclass(frozen=True)
class ParameterDoc:
    """One parameter as the docstring describes it."""

    summary: str  # the first sentence of the description
    documented_default: str | None  # the text after "default=", e.g. "'l2'"
    deprecation: str | None  # the ".. deprecated::" note, first sentence


def _plain(text: str) -> str:
    """RST markup as plain text: roles keep their title, literals lose their backticks."""
    text = _ROLE.sub(lambda match: match.group("text"), text)
    return re.sub(r"`{1,2}([^`]*)`{1,2}", r"\1", text)


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph (not fooled by "e.g." or "i.e."), whitespace collapsed."""
    text = " ".join(_plain(text).split())
    match = _SENTENCE_END.search(text)
    return text[: match.end()] if match else text


def _section(docstring: str) -> list[str]:
    lines = docstring.expandtabs().splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip() == "Parameters" and set(lines[index + 1].strip()) == {"-"}:
            body = []
            for following in lines[index + 2 :]:
                stripped = following.strip()
                if stripped and set(stripped) == {"-"} and body and body[-1].strip():
                    body.pop()  # the next section's title
                    break
                body.append(following)
            return body
    return []


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _describe(description: list[str], type_text: str) -> ParameterDoc:
    paragraphs, current = [], []
    deprecation = None
    for line in description + [""]:
        if line.strip():
            current.append(line.strip())
            continue
        if current:
            paragraphs.append(current)
            current = []
    summary = ""
    for paragraph in paragraphs:
        if paragraph[0].startswith(".. deprecated::"):
            deprecation = deprecation or first_sentence(" ".join(paragraph[1:]))
        elif not summary and not paragraph[0].startswith(".."):
            summary = first_sentence(" ".join(paragraph))
    default = _DEFAULT.search(type_text)
    return ParameterDoc(summary, default.group("value").strip() if default else None, deprecation)


@functools.cache
def parameter_docs(estimator: type) -> dict[str, ParameterDoc]:
    """Every parameter the estimator's docstring documents, by name."""
    section = _section(estimator.__doc__ or "")
    base = min((_indent(line) for line in section if line.strip()), default=0)
    docs: dict[str, ParameterDoc] = {}
    names: list[str] = []
    type_text, description = "", []
    for line in section + [" " * base + "end : end"]:
        entry = _ENTRY.match(line.strip()) if line.strip() and _indent(line) == base else None
        if entry is None:
            description.append(line)
            continue
        for name in names:
            docs[name] = _describe(description, type_text)
        names = [name.strip() for name in entry.group("names").split(",") if name.strip()]
        type_text, description = entry.group("type"), []
    return docs
