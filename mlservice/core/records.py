"""What the service shows of a model and its versions, read from the registry's tags.

Every front end shows these dictionaries (REST as JSON, gRPC converted to messages, the dashboard
through REST), so a field added here appears everywhere.
"""

from __future__ import annotations

from typing import Any

from mlservice.core.aliases import alias_log, aliases_of
from mlservice.core.registry import CURRENT_ALIAS, MANAGED_TAG, TAG_PREFIX, parse_json


def _tag(tags: dict[str, str], name: str, default: str = "") -> str:
    return tags.get(TAG_PREFIX + name, default)


def version_record(model_version) -> dict[str, Any]:
    """One registry version: params, metrics, evaluation, features, classes, its run and dataset."""
    tags = model_version.tags
    return {
        "version": int(model_version.version),
        "params": parse_json(_tag(tags, "params"), {}),
        "metrics": parse_json(_tag(tags, "metrics"), {}),
        "evaluation": _tag(tags, "evaluation"),
        "trained_at": _tag(tags, "trained_at"),
        "owner": _tag(tags, "owner"),
        "owner_name": _tag(tags, "owner_name") or _tag(tags, "owner"),
        "n_features": int(_tag(tags, "n_features", "0") or 0),
        "n_rows": int(_tag(tags, "n_rows", "0") or 0),
        "feature_names": parse_json(_tag(tags, "feature_names"), None),
        "classes": parse_json(_tag(tags, "classes"), None),
        "feature_schema": parse_json(_tag(tags, "feature_schema"), None),
        "confusion_matrix": parse_json(_tag(tags, "confusion_matrix"), None),
        "run_id": model_version.run_id,
        "dataset": {
            "name": tags[TAG_PREFIX + "dataset"],
            "version": _tag(tags, "dataset_version"),
            "target": _tag(tags, "target"),
        }
        if TAG_PREFIX + "dataset" in tags
        else None,
    }


def model_record(registered, current: dict[str, Any] | None) -> dict[str, Any]:
    """A model with the data of its current version (``version_record``) and its aliases."""
    tags = registered.tags
    current = current or {}
    return {
        "id": registered.name,
        "aliases": aliases_of(registered),
        "model_type": _tag(tags, "model_type"),
        "task": _tag(tags, "task"),
        "created_at": _tag(tags, "created_at"),
        "owner": _tag(tags, "owner"),
        "owner_name": _tag(tags, "owner_name") or _tag(tags, "owner"),
        "version": current.get("version", 0),
        "params": current.get("params", {}),
        "metrics": current.get("metrics", {}),
        "evaluation": current.get("evaluation", ""),
        "updated_at": current.get("trained_at", ""),
        "feature_names": current.get("feature_names"),
        "n_features": current.get("n_features", 0),
        "classes": current.get("classes"),
        "feature_schema": current.get("feature_schema"),
        "run_id": current.get("run_id"),
    }


def current_version_of(registered) -> str | None:
    """The version number ``current`` points at, as the registry spells it."""
    version = (registered.aliases or {}).get(CURRENT_ALIAS)
    return None if version is None else str(version)


def list_records(registered: list, versions: list) -> list[dict[str, Any]]:
    """Model records, oldest first, of models whose current version is known (not mid-create or mid-delete)."""
    by_key = {(mv.name, str(mv.version)): mv for mv in versions}
    records = []
    for model in sorted(registered, key=lambda m: (m.creation_timestamp, m.name)):
        current = by_key.get((model.name, current_version_of(model)))
        if current is not None:
            records.append(model_record(model, version_record(current)))
    return records


def detail_record(registered, versions: list) -> dict[str, Any] | None:
    """A model record plus every managed version, newest first (each with the aliases pointing at it),
    and the aliases' audit trail; None when it has no current version."""
    aliases = aliases_of(registered)
    version_records = sorted(
        (
            {**version_record(mv), "aliases": sorted(a for a, v in aliases.items() if v == int(mv.version))}
            for mv in versions
            if mv.tags.get(MANAGED_TAG) == "true"
        ),
        key=lambda record: record["version"],
        reverse=True,
    )
    current_version = current_version_of(registered)
    current = next((r for r in version_records if str(r["version"]) == current_version), None)
    if current is None:
        return None
    return {**model_record(registered, current), "versions": version_records, "alias_log": alias_log(registered)}
