"""The datasets a training can name: uploaded versions in the store, then the repository's DVC-tracked files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mlservice.core.datasets.parsing import Record, Records
from mlservice.core.datasets.repo import repo_datasets
from mlservice.core.datasets.store import DatasetStore
from mlservice.errors import DatasetNotFound, InvalidInput


class DatasetCatalog:
    """Uploaded datasets (the store) and DVC-tracked repository datasets under one set of names."""

    def __init__(self, store: DatasetStore, repo_root: Path, models_using: Callable[[str, str], list[str]]):
        """Args:
        models_using: (name, md5) -> ids of models trained on that version (the registry's lineage).
        """
        self.store = store
        self.repo_root = repo_root
        self._models_using = models_using

    def _repo_names(self) -> set[str]:
        return {entry["name"] for entry in repo_datasets(self.repo_root)}

    def list(self) -> Records:
        """Uploaded datasets with their versions, then the DVC-tracked repository datasets."""
        uploaded = [{**entry, "source": "upload"} for entry in self.store.list()]
        return uploaded + [{**entry, "source": "dvc"} for entry in repo_datasets(self.repo_root)]

    def resolve_for_training(self, ref: str) -> None:
        """Check that a training's dataset reference names something, without loading it.

        Raises:
            InvalidInput: a malformed reference. DatasetNotFound: nothing by that name and version.
        """
        if ref not in self._repo_names():
            self.store.resolve(ref)

    def load_for_training(self, ref: str) -> tuple[pd.DataFrame, Record]:
        """A stored version (``name`` or ``name@version``), else a DVC-tracked repository dataset: (frame, record)."""
        if not isinstance(ref, str) or not ref:
            raise InvalidInput("dataset must be a dataset name, optionally with @version")
        try:
            record = self.store.resolve(ref)
        except DatasetNotFound:
            if "@" not in ref and ref in self._repo_names():
                return self.store.load_repo_dataset(self.repo_root, ref)
            raise
        return self.store.load_frame(record["name"], record["version"]), record

    def version_to_delete(self, name: str, version: str) -> Record:
        """The record of the version a delete names (resolved, as the delete itself will).

        Raises:
            InvalidInput: no version given (a version is always named: never "the newest" by accident).
            DatasetNotFound: no such version.
        """
        if not isinstance(version, str) or not version.strip():
            raise InvalidInput("version is required to delete a dataset version")
        return self.store.resolve(name, version)

    def get(self, name: str, version: str | None = None) -> Record:
        """One stored version (newest when version is None) with its schema, preview, and ``used_by``: the
        models trained on it, which keep it from being deleted."""
        record = self.store.get(name, version)
        return {**record, "used_by": self._models_using(record["name"], record["version"])}

    def delete(self, name: str, version: str) -> dict[str, Any]:
        """Delete one uploaded version that no model was trained on.

        Raises:
            InvalidInput: no version given. InUse: models were trained on it (named). DatasetNotFound.
        """
        self.version_to_delete(name, version)
        return self.store.delete(name, version, self._models_using)
