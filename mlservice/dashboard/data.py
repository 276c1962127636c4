"""Tables the user brings to the dashboard (CSV files, pasted spreadsheets) and what the API answers about them.

Training data always reaches the API as a stored dataset (``POST /datasets``, then a training with
``dataset=name@version``), so text columns are one-hot encoded by the core and every model keeps its
lineage. Batch predictions are sent as named records of the cells as typed: the API types them per
feature. Plain pandas, testable without Streamlit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

SEPARATORS = ("\t", ";", ",")
NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class DataError(ValueError):
    """The table the user supplied cannot be sent to the API as it is; the message says why."""


def _text(content: bytes | str) -> str:
    return content.decode("utf-8-sig", errors="replace") if isinstance(content, bytes) else content


def separator_of(text: str) -> str:
    """The separator of a table: the one the header line uses most (tab, semicolon or comma)."""
    first_line = text.strip().splitlines()[0]
    return max(SEPARATORS, key=first_line.count)


def _check_shape(text: str, separator: str) -> None:
    """A ragged table, said the way a person counts: which line, how many fields, how many in the header."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, skipinitialspace=True)
    header = next(reader, [])
    for fields in reader:
        if fields and len(fields) != len(header):
            raise DataError(
                f"Line {reader.line_num} has {len(fields)} fields, but the header has {len(header)} "
                f"({', '.join(header)}). Check for a missing or extra separator '{separator}'."
            )
    if len({column.strip() for column in header}) != len(header):
        raise DataError("Two columns of the header have the same name; give each column its own name.")


def read_table(content: bytes | str, as_text: bool = False) -> pd.DataFrame:
    """A CSV (or TSV / semicolon-separated, as pasted from a spreadsheet) with a header row.

    Args:
        as_text: every cell as the text typed (empty cells as None), for the API to type per feature.

    Raises:
        DataError: empty, ragged (naming the line), duplicate column names, or a header without rows.
    """
    text = _text(content).strip()
    if not text:
        raise DataError("The table is empty: upload or paste a CSV with a header row and at least one data row.")
    separator = separator_of(text)
    _check_shape(text, separator)
    options: dict[str, Any] = {"sep": separator, "skipinitialspace": True}
    if as_text:
        options.update(dtype=str, keep_default_na=False)
    try:
        frame = pd.read_csv(io.StringIO(text), **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Could not read the table: {str(exc).splitlines()[0]}") from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.empty:
        raise DataError("The table has a header but no rows.")
    if as_text:
        frame = frame.astype(object).where(frame != "", None)
    return frame


def table_csv(content: bytes | str) -> bytes:
    """The table as comma-separated CSV with every cell as it was typed ("01" stays "01"), for upload."""
    frame = read_table(content, as_text=True)
    return frame.to_csv(index=False).encode("utf-8")


def content_digest(content: bytes | str | None) -> str:
    """A short fingerprint of what the user brought (ties results to the inputs that made them)."""
    data = _text(content or "").encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def dataset_name_for(filename: str | None, fallback: str = "pasted-table") -> str:
    """A dataset name (letters, digits, _ . -; at most 63) from an uploaded file's name."""
    stem = (filename or "").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    name = NAME_CHARS.sub("-", stem).strip("-._")[:63]
    return name if name else fallback


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """The columns whose every cell is a number."""
    return [str(column) for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])]


def default_target(columns: Sequence[str], numeric: Sequence[str], task: str | None) -> int:
    """Which column to offer as the target: the last one, or for a regressor the last numeric one."""
    if task == "regression":
        for index in range(len(columns) - 1, -1, -1):
            if columns[index] in numeric:
                return index
    return max(len(columns) - 1, 0)


def prediction_records(frame: pd.DataFrame, feature_names: Sequence[str]) -> list[dict[str, Any]]:
    """Rows to predict as records keyed by the model's features: by name when the header has them all,
    else by position when the widths match; cells as typed (the API types them per feature).

    Raises:
        DataError: the table matches the features neither by name nor by position.
    """
    names = list(feature_names)
    if all(name in frame.columns for name in names):
        chosen = frame[names]
    elif len(frame.columns) == len(names):
        chosen = frame.set_axis(names, axis=1)
    else:
        raise DataError(
            f"The model expects {len(names)} features ({', '.join(names)}); "
            f"the table has {len(frame.columns)} columns ({', '.join(map(str, frame.columns))})."
        )
    return chosen.astype(object).where(chosen.notna(), None).to_dict(orient="records")


def predictions_table(records: Sequence[Mapping[str, Any]], result: Mapping[str, Any]) -> pd.DataFrame:
    """Inputs, the prediction and (for classifiers) one ``P(class)`` column per class."""
    table = pd.DataFrame(list(records))
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


def confusion_long(confusion: Mapping[str, Any] | None) -> pd.DataFrame:
    """The API's confusion matrix (labels, matrix) in long form: actual, predicted, count."""
    if not confusion:
        return pd.DataFrame(columns=["actual", "predicted", "count"])
    labels = [str(label) for label in confusion.get("labels") or []]
    rows = [
        {"actual": actual, "predicted": predicted, "count": int(count)}
        for actual, counts in zip(labels, confusion.get("matrix") or [], strict=False)
        for predicted, count in zip(labels, counts, strict=False)
    ]
    return pd.DataFrame(rows, columns=["actual", "predicted", "count"])
