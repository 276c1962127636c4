"""The dataset store: versioned CSV datasets in an S3 bucket (MinIO) or a local folder, laid out as DVC does.

The store root holds ``files/md5/<2>/<30>`` (the bytes, where ``dvc push`` puts them, so when the root
is the DVC remote, ``dvc pull`` fetches uploads by md5) and ``mlservice/datasets/<name>/<md5>.json``
(one metadata record per version). Nothing but the store holds state: every process that opens the
same root sees the same datasets.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
from botocore.exceptions import BotoCoreError
from fsspec.implementations.local import LocalFileSystem

from mlservice.core.datasets.parsing import (
    MD5_PATTERN,
    METADATA_PREFIX,
    PREVIEW_ROWS,
    VERSION_PREFIX_PATTERN,
    Record,
    Records,
    column_types,
    match_prefix,
    md5_hex,
    newest_first,
    object_path,
    parse_csv,
    parse_ref,
    trusted_record,
    validate_name,
)
from mlservice.core.datasets.repo import repo_datasets
from mlservice.errors import DatasetNotFound, InUse, InvalidInput, PayloadTooLarge, Unavailable
from mlservice.identity.principal import Principal
from mlservice.settings import Settings

logger = logging.getLogger(__name__)


class DatasetStore:
    """Versioned CSV datasets under one fsspec root (``s3://bucket[/prefix]`` or a local directory).

    Thread-safe: uploads and deletes of one store object are serialised by a lock; reads take none.
    Several processes may share a root: records are single objects written after the data, so readers
    never see a record without its data (except after a concurrent delete, reported as not found).
    """

    def __init__(
        self,
        root_url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        max_bytes: int = 32 * 1024 * 1024,
        max_rows: int = 1_000_000,
        max_columns: int = 10_001,
        repo_root: str | Path | None = None,
    ):
        """Describe the store; nothing is contacted until the first call.

        Args:
            root_url: ``s3://bucket`` (optionally ``/prefix``) or a local directory (embedded mode).
            storage_options: fsspec options, for S3 ``{"endpoint_url", "key", "secret"}``; without key and
                secret, boto's usual chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``) applies.
            max_bytes / max_rows / max_columns: largest accepted upload.
            repo_root: a repository whose DVC-tracked data (``data/*.dvc``) must never be deleted from the
                store by :meth:`delete` (set it when the store is also the repository's DVC remote).
        """
        self.root_url = root_url
        # other processes write to the same root: never answer from a cached listing
        self._storage_options = {"use_listings_cache": False, **(storage_options or {})}
        self.max_bytes, self.max_rows, self.max_columns = max_bytes, max_rows, max_columns
        self._repo_root = Path(repo_root) if repo_root is not None else None
        self._lock = threading.Lock()
        self._fs_lock = threading.Lock()
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> DatasetStore:
        """The store the settings name (``<state_dir>/datasets`` by default), with the request limits."""
        return cls(
            settings.dataset_store_url or str((settings.state_dir / "datasets").resolve()),
            settings.dataset_storage_options or None,
            max_bytes=settings.max_body_bytes,
            max_rows=settings.max_rows,
            max_columns=settings.max_features + 1,
            repo_root=settings.repo_root,
        )

    # --- storage plumbing ---------------------------------------------------------------------

    def _filesystem(self) -> tuple[fsspec.AbstractFileSystem, str]:
        """The filesystem and the root path in it, created on first use (so a store built before a fork works)."""
        with self._fs_lock:
            if self._fs is None:
                fs, root = fsspec.core.url_to_fs(self.root_url, **self._storage_options)
                if not root.rstrip("/"):
                    raise ValueError(f"dataset store root {self.root_url!r} names no bucket or directory")
                self._fs, self._root = fs, root.rstrip("/")
            return self._fs, self._root

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem of the store."""
        return self._filesystem()[0]

    @property
    def is_local(self) -> bool:
        """True for a local directory store (embedded mode)."""
        return isinstance(self.fs, LocalFileSystem)

    def _path(self, relative: str) -> str:
        return f"{self._filesystem()[1]}/{relative}"

    def uri(self, relative: str) -> str:
        """The full address of a path in the store: ``s3://bucket/...`` or an absolute local path."""
        path = self._path(relative)
        return path if self.is_local else self.fs.unstrip_protocol(path)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Turn a storage failure (other than a missing object) into Unavailable with a user message."""
        try:
            yield
        except FileNotFoundError:
            raise
        except (OSError, BotoCoreError) as exc:
            logger.warning("dataset store %s failed: %s", self.root_url, exc)
            raise Unavailable(f"the dataset store ({self.root_url}) cannot be reached or refused the request") from exc

    def _write(self, relative: str, data: bytes) -> None:
        path = self._path(relative)
        try:
            self._write_once(path, data)
        except FileNotFoundError:  # the bucket or the directory does not exist yet
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            self._write_once(path, data)

    def _write_once(self, path: str, data: bytes) -> None:
        if not self.is_local:  # an S3 PUT is atomic
            self.fs.pipe_file(path, data)
            return
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"  # readers never see half a file
        self.fs.pipe_file(temporary, data)
        self.fs.mv(temporary, path)

    def _read(self, relative: str) -> bytes:
        return self.fs.cat_file(self._path(relative))

    def _exists(self, relative: str) -> bool:
        return self.fs.exists(self._path(relative))

    def _record_paths(self, name: str | None = None) -> list[str]:
        """Paths (relative to the root) of the metadata records, of one dataset or of all."""
        prefix = self._path(f"{METADATA_PREFIX}/{name}/" if name else f"{METADATA_PREFIX}/")
        try:
            paths = self.fs.find(prefix)
        except FileNotFoundError:  # no bucket / directory yet: no datasets
            return []
        start = len(self._path(""))
        return [path[start:] for path in paths if path.endswith(".json")]

    def _read_records(self, relatives: list[str]) -> Records:
        if not relatives:
            return []
        contents = self.fs.cat([self._path(relative) for relative in relatives], on_error="omit")
        start = len(self._path(""))
        return [record for path, content in contents.items() if (record := self._trusted(content, path[start:]))]

    def _trusted(self, content: bytes, relative: str) -> Record | None:
        """A stored record checked against its own path (see ``trusted_record``); None (logged) if it is not."""
        try:
            record = trusted_record(json.loads(content), relative)
        except ValueError:
            record = None
        if record is None:
            logger.warning("ignoring dataset record %s: it does not match its path", relative)
            return None
        return {**record, "uri": self.uri(record["path"])}

    # --- public API ---------------------------------------------------------------------------

    def upload(self, name: str, data: bytes, owner: Principal | None = None) -> Record:
        """Store CSV bytes as a version of dataset name; known bytes return the existing version.

        Returns:
            The version's record (see :meth:`resolve`) plus ``"created"``: False when these bytes were
            already a version of this dataset.

        Raises:
            InvalidInput: bad name, not a CSV with a header and rows, duplicate columns.
            PayloadTooLarge: more than max_bytes, max_rows or max_columns.
            Unavailable: the store cannot be reached.
        """
        validate_name(name)
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"the dataset is {len(data)} bytes; the limit is {self.max_bytes} bytes")
        frame = parse_csv(data, self.max_rows, self.max_columns)
        md5 = md5_hex(data)
        record_path = f"{METADATA_PREFIX}/{name}/{md5}.json"
        with self._lock, self._storage_errors():
            try:
                return {**json.loads(self._read(record_path)), "created": False}
            except FileNotFoundError:
                pass  # new bytes for this name
            if not self._exists(object_path(md5)):
                self._write(object_path(md5), data)
            record = self._new_record(name, md5, len(data), frame, owner)
            self._write(record_path, json.dumps(record, indent=1).encode("utf-8"))
        logger.info("stored dataset %s version %s (%d rows)", name, md5, len(frame))
        return {**record, "created": True}

    def _new_record(self, name: str, md5: str, size: int, frame: pd.DataFrame, owner: Principal | None) -> Record:
        return {
            "name": name,
            "version": md5,
            "md5": md5,
            "size": size,
            "rows": len(frame),
            "columns": column_types(frame),
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "owner": owner.id if owner else None,
            "owner_name": owner.login if owner else None,
            "path": object_path(md5),
            "uri": self.uri(object_path(md5)),
            "source": "upload",
        }

    def list(self) -> Records:
        """Every dataset, sorted by name: ``[{"name", "latest": md5, "versions": [records, newest first]}]``."""
        with self._storage_errors():
            records = self._read_records(self._record_paths())
        by_name: dict[str, Records] = {}
        for record in records:
            by_name.setdefault(record["name"], []).append(record)
        return [
            {"name": name, "latest": versions[0]["version"], "versions": versions}
            for name, versions in sorted((name, newest_first(versions)) for name, versions in by_name.items())
        ]

    def versions(self, name: str) -> Records:
        """The records of one dataset's versions, newest first (DatasetNotFound if it has none)."""
        validate_name(name)
        with self._storage_errors():
            records = self._read_records(self._record_paths(name))
        if not records:
            raise DatasetNotFound(f"dataset {name!r} not found")
        return newest_first(records)

    def resolve(self, ref: str, version: str | None = None) -> Record:
        """The record of ``"name"`` (newest version) or ``"name@version"`` (full md5 or a unique prefix).

        Returns:
            ``{"name", "version" (= md5), "md5", "size", "rows", "columns": [{"name", "dtype"}],
            "created_at" (ISO 8601, UTC), "owner", "path" (files/md5/..), "uri", "source": "upload"}``.

        Raises:
            InvalidInput: bad name or version syntax, or an ambiguous version prefix.
            DatasetNotFound: no such dataset or version.
        """
        name, ref_version = parse_ref(ref)
        version = version or ref_version
        if version is None:
            return self.versions(name)[0]
        version = version.lower()
        if not VERSION_PREFIX_PATTERN.match(version):
            raise InvalidInput(f"invalid dataset version {version!r}: expected an md5 (32 hex digits) or 6+ of them")
        if MD5_PATTERN.match(version):
            relative = f"{METADATA_PREFIX}/{name}/{version}.json"
            with self._storage_errors():
                try:
                    record = self._trusted(self._read(relative), relative)
                except FileNotFoundError:
                    record = None
            if record is not None:
                return record
            self.versions(name)  # raises when the dataset itself is unknown
            raise DatasetNotFound(f"dataset {name!r} has no version {version}")
        return match_prefix(name, version, self.versions(name))

    def get(self, name: str, version: str | None = None) -> Record:
        """One version (newest when version is None): its record plus ``"schema"`` and ``"preview"``.

        Returns:
            The record (see :meth:`resolve`) plus ``"schema": {column: dtype}`` and ``"preview"``: the first
            20 rows as ``[{column: value}]`` (missing values as None).
        """
        record = self.resolve(name, version)
        head = pd.read_csv(io.BytesIO(self._verified_bytes(object_path(record["md5"]), record)), nrows=PREVIEW_ROWS)
        return {
            **record,
            "schema": {column["name"]: column["dtype"] for column in record["columns"]},
            "preview": json.loads(head.to_json(orient="records")),
        }

    def load_frame(self, name: str, version: str | None = None) -> pd.DataFrame:
        """The version's data as a DataFrame, after checking its bytes against the md5.

        Raises:
            DatasetNotFound: no such dataset or version.
            Unavailable: the store cannot be reached, or the stored bytes are missing or corrupt.
        """
        record = self.resolve(name, version)
        return parse_csv(self._verified_bytes(object_path(record["md5"]), record))

    def _verified_bytes(self, relative: str, record: Record) -> bytes:
        """The bytes at relative, checked against the record's md5 (Unavailable when missing or corrupt)."""
        with self._storage_errors():
            try:
                data = self._read(relative)
            except FileNotFoundError as exc:
                raise _missing_data(record) from exc
        if md5_hex(data) != record["md5"]:
            raise Unavailable(f"the stored data of dataset {record['name']!r} is corrupt (md5 mismatch)")
        return data

    def delete(self, name: str, version: str, in_use: Callable[[str, str], Iterable[str]]) -> Record:
        """Delete one version unless a model was trained on it; return the deleted record.

        Args:
            in_use: called with (name, md5); returns the ids of models trained on that version.

        The data object is removed only when no other dataset version (and no DVC-tracked repository file
        of repo_root) has the same md5.

        Raises:
            Conflict: in_use named models (listed in the message).
            DatasetNotFound / InvalidInput: as :meth:`resolve`.
        """
        record = self.resolve(name, version)
        models = sorted(in_use(record["name"], record["md5"]))
        if models:
            raise InUse(
                f"dataset {name!r} version {record['md5']} is used by model(s) {', '.join(models)}: "
                "delete those models first"
            )
        with self._lock:
            with self._storage_errors():
                self.fs.rm_file(self._path(f"{METADATA_PREFIX}/{name}/{record['md5']}.json"))
                if not self._digest_referenced(record["md5"]) and self._exists(object_path(record["md5"])):
                    self.fs.rm_file(self._path(object_path(record["md5"])))
        logger.info("deleted dataset %s version %s", name, record["md5"])
        return record

    def _digest_referenced(self, md5: str) -> bool:
        if any(posixpath.basename(path) == f"{md5}.json" for path in self._record_paths()):
            return True
        return self._repo_root is not None and any(entry["md5"] == md5 for entry in repo_datasets(self._repo_root))

    def load_repo_dataset(self, repo_root: str | Path, name: str) -> tuple[pd.DataFrame, Record]:
        """Read a DVC-tracked repository dataset: the workspace file if its md5 matches, else from the store.

        The store is expected to be the repository's DVC remote (``init_dvc.sh`` pushes there), where the
        bytes live at ``files/md5/..``.

        Returns:
            (frame, record) with the record as from :func:`repo_datasets` plus ``"version"``, ``"rows"``,
            ``"columns"`` and ``"uri"`` (where the bytes were read), ready for :func:`lineage`.

        Raises:
            DatasetNotFound: no ``.dvc`` file of that name.
            Unavailable: the bytes are neither in the workspace nor in the store.
        """
        entry = next((entry for entry in repo_datasets(repo_root) if entry["name"] == name), None)
        if entry is None:
            raise DatasetNotFound(f"no DVC-tracked dataset {name!r} in {repo_root}")
        local_file = Path(repo_root) / entry["path"]
        if local_file.is_file() and md5_hex(local_file.read_bytes()) == entry["md5"]:
            frame = parse_csv(local_file.read_bytes())
            uri = str(local_file.resolve())
        else:
            frame = parse_csv(self._verified_bytes(object_path(entry["md5"]), entry))
            uri = self.uri(object_path(entry["md5"]))
        record = {**entry, "version": entry["md5"], "rows": len(frame), "columns": column_types(frame), "uri": uri}
        return frame, record


def _missing_data(record: Record) -> Unavailable:
    return Unavailable(
        f"the data of dataset {record['name']!r} (md5 {record['md5']}) is missing from the store: "
        "upload it again, or for a DVC-tracked file run init_dvc.sh (dvc push)"
    )
