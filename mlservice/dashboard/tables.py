"""Display helpers of the dashboard: API records as tables and chart data (plain pandas, no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlservice.dashboard.client import KEY_METRIC, NO_VALUE, DashboardSettings, mlflow_run_url


def key_metric(task: str | None, metrics: Mapping[str, Any] | None) -> tuple[str | None, float | None]:
    """The headline metric of a model: accuracy for classifiers, R² for regressors."""
    name = KEY_METRIC.get(task or "", None)
    metrics = metrics or {}
    if name is None or name not in metrics:
        name = next(iter(sorted(metrics)), None)
    return name, (metrics.get(name) if name else None)


def short_time(timestamp: str | None) -> str:
    """``2026-11-28T18:45:35.123+00:00`` → ``2026-11-28 18:45`` (UTC as the API reports it)."""
    if not timestamp:
        return NO_VALUE
    return timestamp.replace("T", " ")[:16]


def models_table(models: Sequence[Mapping[str, Any]], classes: Mapping[str, Mapping[str, Any]] | None = None):
    """The Models overview: one row per model, newest first."""
    rows = []
    for model in models:
        name, value = key_metric(model.get("task"), model.get("metrics"))
        class_info = (classes or {}).get(model.get("model_type", ""), {})
        rows.append(
            {
                "id": model.get("id"),
                "class": class_info.get("class_name") or model.get("model_type"),
                "task": model.get("task"),
                "owner": model.get("owner") or NO_VALUE,
                "version": model.get("version"),
                "key metric": f"{name} {value:.3f}" if name and isinstance(value, (int, float)) else NO_VALUE,
                "created": short_time(model.get("created_at")),
                "updated": short_time(model.get("updated_at")),
            }
        )
    frame = pd.DataFrame(rows, columns=["id", "class", "task", "owner", "version", "key metric", "created", "updated"])
    return frame.iloc[::-1].reset_index(drop=True)


def params_text(params: Mapping[str, Any] | None) -> str:
    """Hyperparameters as ``name=value`` pairs, sorted by name."""
    return ", ".join(f"{name}={value!r}" for name, value in sorted((params or {}).items()))


def dataset_text(version: Mapping[str, Any]) -> str:
    """The dataset a version was trained on, when the API records one."""
    dataset = version.get("dataset")
    if not dataset:
        return NO_VALUE
    if isinstance(dataset, Mapping):
        name = dataset.get("name") or dataset.get("path") or ""
        rev = str(dataset.get("version") or dataset.get("md5") or "")[:8]
        return f"{name}@{rev}" if rev else str(name) or NO_VALUE
    return str(dataset)


def versions_table(model: Mapping[str, Any], settings: DashboardSettings):
    """Every version of a model with its metrics (one column each), params, dataset and MLflow run."""
    versions = model.get("versions") or []
    metric_names = sorted({name for version in versions for name in (version.get("metrics") or {})})
    rows = []
    for version in versions:
        row: dict[str, Any] = {
            "version": version.get("version"),
            "current": version.get("version") == model.get("version"),
            "trained": short_time(version.get("trained_at")),
            "owner": version.get("owner") or NO_VALUE,
            "rows": version.get("n_rows"),
            "features": version.get("n_features"),
            "evaluated on": version.get("evaluation") or NO_VALUE,
        }
        for name in metric_names:
            row[name] = (version.get("metrics") or {}).get(name)
        row["dataset"] = dataset_text(version)
        row["params"] = params_text(version.get("params")) or "defaults"
        row["MLflow run"] = mlflow_run_url(settings, version.get("run_id"))
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_long(records: Sequence[Mapping[str, Any]]):
    """Metrics of several (model, version) records in long form: label, metric, value."""
    rows = [
        {"model": f"{record['model_id']} v{record['version']}", "metric": name, "value": float(value)}
        for record in records
        for name, value in sorted((record.get("metrics") or {}).items())
        if isinstance(value, (int, float))
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "value"])


def metrics_wide(records: Sequence[Mapping[str, Any]]):
    """Metrics side by side: one row per (model, version), one column per metric."""
    long = metrics_long(records)
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="model", columns="metric", values="value", sort=False)
    wide.columns.name = None
    return wide.reset_index()


def compare_records(model: Mapping[str, Any], all_versions: bool) -> list[dict[str, Any]]:
    """The (model, version, metrics) records of a model: its current version or all of them."""
    versions = model.get("versions") or []
    if not all_versions:
        versions = [v for v in versions if v.get("version") == model.get("version")] or versions[:1]
    return [
        {"model_id": model["id"], "version": v.get("version"), "task": model.get("task"), "metrics": v.get("metrics")}
        for v in versions
    ]


def dataset_choices(datasets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every trainable dataset version from GET /datasets: uploaded versions (newest first), then DVC files."""
    choices = []
    for dataset in datasets:
        versions = dataset.get("versions") or [{"version": dataset.get("md5"), **dataset}]
        for version in versions:
            rev = str(version.get("version") or version.get("md5") or "")
            rows = f", {version['rows']} rows" if version.get("rows") else ""
            when = f", {short_time(version.get('created_at'))}" if version.get("created_at") else ""
            choices.append(
                {
                    "name": dataset.get("name"),
                    "version": rev,
                    "label": f"{dataset.get('name')} @ {rev[:8]} ({dataset.get('source', 'upload')}{rows}{when})",
                    "columns": [c.get("name") if isinstance(c, Mapping) else c for c in version.get("columns") or []],
                }
            )
    return choices
