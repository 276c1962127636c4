"""Dataset bytes and names: CSV parsing with clear errors, column types, md5 versions, DVC's paths.

A dataset version is the md5 of the CSV's bytes, kept at DVC's content address
(``files/md5/<2>/<30>``), so ``dvc pull`` fetches an uploaded version and ``dvc push`` feeds one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from typing import Any

import pandas as pd
import yaml

from mlservice.core.inputs import check_name_lengths
from mlservice.errors import DatasetNotFound, InvalidInput, PayloadTooLarge

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")
VERSION_PREFIX_PATTERN = re.compile(r"^[0-9a-f]{6,32}$")
METADATA_PREFIX = "mlservice/datasets"
PREVIEW_ROWS = 20

Record = dict[str, Any]
Records = list[Record]


def validate_name(name: str) -> str:
    """Return name if it is a valid dataset name, else raise InvalidInput saying what is allowed."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"invalid dataset name {name!r}: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def md5_hex(data: bytes) -> str:
    """The md5 hex digest of data: the dataset version and DVC's content address."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()  # a content address, as DVC uses it


def object_path(md5: str) -> str:
    """Where DVC 3 keeps the bytes with this md5, relative to the remote's root."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def trusted_record(record: Any, relative: str) -> Record | None:
    """A stored metadata record, only if it agrees with where it lies (``.../<name>/<md5>.json``).

    Its name and md5 must be those of its path, and the paths it carries are replaced by the ones the
    md5 gives: a planted record (``"path": "../../.."``) can never point reads or deletes elsewhere.
    """
    name, _, file = relative.rpartition("/")
    name, md5 = name.rpartition("/")[2], file.removesuffix(".json")
    if not (isinstance(record, dict) and MD5_PATTERN.match(md5) and NAME_PATTERN.match(name)):
        return None
    if record.get("md5") != md5 or record.get("name") != name:
        return None
    return {**record, "version": md5, "path": object_path(md5)}


def parse_csv(
    data: bytes, max_rows: int | None = None, max_columns: int | None = None, text_columns: list[str] | None = None
) -> pd.DataFrame:
    """Parse CSV bytes with a header row into a DataFrame, or raise InvalidInput naming the problem.

    Args:
        text_columns: columns read as text whatever they look like (a model's categorical features).

    Raises:
        InvalidInput: not UTF-8, empty, no header, duplicate or empty column names, malformed rows, no rows.
        PayloadTooLarge: more than max_rows rows or max_columns columns.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (bad byte at offset {exc.start})") from exc
    if not text.strip():
        raise InvalidInput("the file is empty: expected CSV with a header row and at least one data row")
    _check_header(next(csv.reader(io.StringIO(text.lstrip("\r\n")))), max_columns)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            nrows=None if max_rows is None else max_rows + 1,
            dtype=dict.fromkeys(text_columns or [], str),
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInput(f"malformed CSV: {_ragged_line(text) or str(exc).strip()}") from exc
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first field as an index
        raise InvalidInput("malformed CSV: the data rows have more fields than the header")
    if frame.empty:
        raise InvalidInput("the file has a header but no data rows")
    if max_rows is not None and len(frame) > max_rows:
        raise PayloadTooLarge(f"the dataset has more than {max_rows} rows, the limit")
    return frame


def _ragged_line(text: str) -> str | None:
    """Which line has a different number of fields than the header (pandas' tokenizer error, readable)."""
    reader = csv.reader(io.StringIO(text.lstrip("\r\n")))
    width = len(next(reader, []))
    for fields in reader:
        if fields and len(fields) != width:
            return f"line {reader.line_num} has {len(fields)} fields but the header has {width}"
    return None


def _check_header(header: list[str], max_columns: int | None) -> None:
    if max_columns is not None and len(header) > max_columns:
        raise PayloadTooLarge(f"the dataset has {len(header)} columns; the limit is {max_columns}")
    if any(not column.strip() for column in header):
        raise InvalidInput("malformed CSV: the header has an empty column name")
    check_name_lengths("header", header, what="column name")
    duplicates = sorted(column for column, count in Counter(header).items() if count > 1)
    if duplicates:
        raise InvalidInput(f"duplicate column names in the header: {', '.join(duplicates)}")
    if all(_is_number(column) for column in header):
        raise InvalidInput(
            f"the first line must be a header naming the columns, but it looks like data: {','.join(header)[:80]}"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def column_types(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Each column's name and type: ``int``, ``float``, ``bool`` or ``string``."""
    return [{"name": str(name), "dtype": _dtype_name(frame[name])} for name in frame.columns]


def _dtype_name(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``"name"`` or ``"name@version"`` into (name, version or None)."""
    name, _, version = ref.partition("@")
    return validate_name(name), (version or None)


def lineage(record: Record) -> dict[str, Any]:
    """What the core logs with a training run: name, digest (md5), source URI, rows and column names."""
    return {
        "name": record["name"],
        "digest": record["md5"],
        "source": record["uri"],
        "rows": record.get("rows"),
        "columns": [column["name"] for column in record.get("columns", [])],
    }


def dvc_file_text(record: Record, path: str | None = None) -> str:
    """The text of a ``.dvc`` file that makes DVC fetch this version (``dvc pull``) to path (default name.csv)."""
    out = {"md5": record["md5"], "size": record["size"], "hash": "md5", "path": path or f"{record['name']}.csv"}
    return yaml.safe_dump({"outs": [out]}, sort_keys=False)


def newest_first(records: Records) -> Records:
    """Records sorted newest first (ties by md5)."""
    return sorted(records, key=lambda record: (record["created_at"], record["md5"]), reverse=True)


def match_prefix(name: str, prefix: str, records: Records) -> Record:
    """The one record whose md5 starts with prefix (DatasetNotFound if none, InvalidInput if several)."""
    matches = [record for record in records if record["md5"].startswith(prefix)]
    if not matches:
        raise DatasetNotFound(f"dataset {name!r} has no version {prefix}")
    if len(matches) > 1:
        raise InvalidInput(f"version {prefix} of dataset {name!r} is ambiguous: give more digits")
    return matches[0]
