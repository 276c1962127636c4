"""Repository datasets: the CSV files a checkout tracks with DVC (``data/*.dvc``), trainable by name."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from mlservice.core.datasets.parsing import MD5_PATTERN, Record, Records

logger = logging.getLogger(__name__)


def repo_datasets(repo_root: str | Path, pattern: str = "data/*.dvc") -> Records:
    """The datasets a repository tracks with DVC (one CSV per ``.dvc`` file), sorted by name.

    Returns:
        ``[{"name": file stem, "md5", "size", "path": data file relative to repo_root,
        "dvc_file": the .dvc file relative to repo_root, "source": "dvc"}]``. Files that are not a single
        tracked file (directories, pipelines, unreadable YAML) are skipped with a warning.
    """
    root = Path(repo_root)
    found = []
    for dvc_file in sorted(root.glob(pattern)):
        entry = _read_dvc_file(root, dvc_file)
        if entry is not None:
            found.append(entry)
    return found


def _read_dvc_file(root: Path, dvc_file: Path) -> Record | None:
    try:
        outs = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("outs") or []
        out = outs[0] if len(outs) == 1 else {}
        md5, size, path = str(out.get("md5", "")), int(out.get("size", -1)), str(out.get("path", ""))
    except (OSError, yaml.YAMLError, AttributeError, TypeError, ValueError) as exc:
        logger.warning("skipping %s: not a readable .dvc file (%s)", dvc_file, exc)
        return None
    if not MD5_PATTERN.match(md5) or size < 0 or not path:
        logger.warning("skipping %s: not a single tracked file with an md5", dvc_file)
        return None
    data_file = (dvc_file.parent / path).relative_to(root)
    return {
        "name": dvc_file.name.removesuffix(".dvc").rsplit(".", 1)[0],
        "md5": md5,
        "size": size,
        "path": data_file.as_posix(),
        "dvc_file": dvc_file.relative_to(root).as_posix(),
        "source": "dvc",
    }
