"""Datasets: versioned CSV training data in DVC's layout (S3/MinIO or a folder), and the repository's DVC files.

- ``parsing``: CSV bytes into frames with clear errors; names, md5 versions, DVC's paths, lineage;
- ``store``: the ``DatasetStore`` (upload, list, resolve, preview, load verified bytes, delete);
- ``repo``: the repository's DVC-tracked datasets (``data/*.dvc``);
- ``catalog``: both under one set of names, as trainings refer to them.
"""

from mlservice.core.datasets.catalog import DatasetCatalog
from mlservice.core.datasets.parsing import (
    column_types,
    dvc_file_text,
    lineage,
    md5_hex,
    object_path,
    parse_csv,
    parse_ref,
    validate_name,
)
from mlservice.core.datasets.repo import repo_datasets
from mlservice.core.datasets.store import DatasetStore
from mlservice.errors import DatasetNotFound

__all__ = [
    "DatasetCatalog",
    "DatasetNotFound",
    "DatasetStore",
    "column_types",
    "dvc_file_text",
    "lineage",
    "md5_hex",
    "object_path",
    "parse_csv",
    "parse_ref",
    "repo_datasets",
    "validate_name",
]
