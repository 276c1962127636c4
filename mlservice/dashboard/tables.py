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
                "owner": model.get("owner_name") or model.get("owner") or NO_VALUE,
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
    """Every version of a model with its aliases, metrics (one column each) and MLflow run: numbers, short.

    Who trained it, on which data and with which hyperparameters is in ``version_details``: long text
    wraps there instead of being cut off.
    """
    versions = model.get("versions") or []
    metric_names = sorted({name for version in versions for name in (version.get("metrics") or {})})
    rows = []
    for version in versions:
        row: dict[str, Any] = {
            "version": version.get("version"),
            "aliases": ", ".join(version.get("aliases") or []) or NO_VALUE,
            "trained": short_time(version.get("trained_at")),
            "evaluated on": version.get("evaluation") or NO_VALUE,
        }
        for name in metric_names:
            row[name] = (version.get("metrics") or {}).get(name)
        row["MLflow run"] = mlflow_run_url(settings, version.get("run_id"))
        rows.append(row)
    return pd.DataFrame(rows)


def version_details(model: Mapping[str, Any]):
    """Per version: who trained it, on which data (dataset, rows x features), with which hyperparameters."""
    rows = [
        {
            "version": f"v{version.get('version')}",
            "trained by": version.get("owner_name") or version.get("owner") or NO_VALUE,
            "data": f"{dataset_text(version)} ({version.get('n_rows')} rows × {version.get('n_features')} features)",
            "hyperparameters": params_text(version.get("params")) or "defaults",
        }
        for version in model.get("versions") or []
    ]
    return pd.DataFrame(rows, columns=["version", "trained by", "data", "hyperparameters"])


def params_table(records: Sequence[Mapping[str, Any]]):
    """(model) version → the hyperparameters set for it, as wrapping text (``st.table``)."""
    rows = [
        {
            "version": f"{r['model_id']} v{r['version']}" if r.get("model_id") else f"v{r.get('version')}",
            "hyperparameters": params_text(r.get("params")) or "defaults",
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=["version", "hyperparameters"])


def rollback_target(model: Mapping[str, Any]) -> int | None:
    """The version a roll back returns to: the newest one older than the one ``current`` points at."""
    current = model.get("version") or 0
    older = [v.get("version") for v in model.get("versions") or [] if (v.get("version") or 0) < current]
    return max(older) if older else None


def version_choices(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a prediction can be asked of: ``current``, the other aliases, then every version, newest first."""
    aliases = model.get("aliases") or {}
    choices = [{"label": f"current (v{model.get('version')})", "alias": None, "version": None}]
    choices += [
        {"label": f"alias {name} (v{version})", "alias": name, "version": None}
        for name, version in sorted(aliases.items())
        if name != "current"
    ]
    choices += [
        {"label": f"v{v.get('version')}", "alias": None, "version": v.get("version")}
        for v in model.get("versions") or []
    ]
    return choices


def alias_log_table(log: Sequence[Mapping[str, Any]]):
    """The aliases' audit trail, newest first: when, who, which alias, from which version to which."""
    rows = [
        {
            "when": short_time(e.get("at")),
            "who": e.get("by_name") or e.get("by") or NO_VALUE,
            "alias": e.get("alias"),
            "to": f"v{e['version']}" if e.get("version") else "(removed)",
            "from": f"v{e['previous_version']}" if e.get("previous_version") else NO_VALUE,
            "by way of": e.get("reason"),
        }
        for e in log
    ]
    return pd.DataFrame(rows, columns=["when", "who", "alias", "to", "from", "by way of"])


LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "log_loss"})  # errors, in the target's units: unbounded


def metric_direction(name: str) -> str:
    """``lower`` for error metrics (rmse, mae), ``higher`` for scores (accuracy, f1, roc_auc, r2)."""
    return "lower" if name in LOWER_IS_BETTER else "higher"


def metrics_long(records: Sequence[Mapping[str, Any]]):
    """Metrics of several (model, version) records in long form: label, metric, value, direction."""
    rows = [
        {
            "model": f"{record['model_id']} v{record['version']}",
            "metric": name,
            "value": float(value),
            "direction": metric_direction(name),
        }
        for record in records
        for name, value in sorted((record.get("metrics") or {}).items())
        if isinstance(value, (int, float))
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "value", "direction"])


def metrics_wide(records: Sequence[Mapping[str, Any]]):
    """Metrics side by side: one row per (model, version), one column per metric."""
    long = metrics_long(records)
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="model", columns="metric", values="value", sort=False)
    wide.columns.name = None
    return wide.reset_index()


def compare_records(model: Mapping[str, Any], all_versions: bool) -> list[dict[str, Any]]:
    """The (model, version, metrics, params) records of a model: its current version or all of them."""
    versions = model.get("versions") or []
    if not all_versions:
        versions = [v for v in versions if v.get("version") == model.get("version")] or versions[:1]
    return [
        {"model_id": model["id"], "version": v.get("version"), "task": model.get("task"), "metrics": v.get("metrics"),
         "params": v.get("params"), "evaluation": v.get("evaluation")}
        for v in versions
    ]  # fmt: skip


def datasets_table(datasets: Sequence[Mapping[str, Any]]):
    """One row per dataset: name, where it lives, its versions, the newest version's rows and columns."""
    rows = []
    for dataset in datasets:
        versions = dataset.get("versions") or [dataset]
        newest = versions[0]
        rows.append(
            {
                "name": dataset.get("name"),
                "source": dataset.get("source", "upload"),
                "versions": len(versions),
                "newest": str(newest.get("version") or newest.get("md5") or "")[:8],
                "rows": newest.get("rows"),
                "columns": ", ".join(
                    c.get("name") if isinstance(c, Mapping) else str(c) for c in newest.get("columns") or []
                ),
                "uploaded": short_time(newest.get("created_at")),
            }
        )
    return pd.DataFrame(rows, columns=["name", "source", "versions", "newest", "rows", "columns", "uploaded"])


def jobs_table(jobs: Sequence[Mapping[str, Any]]):
    """Training jobs, newest first: status, phase, progress, the model and version it made, or its error."""
    rows = [
        {
            "job": job.get("id"),
            "kind": job.get("kind"),
            "model": job.get("model_id") or NO_VALUE,
            "status": job.get("status"),
            "phase": job.get("phase"),
            "progress": float(job.get("progress") or 0.0),
            "version": job.get("version"),
            "created": short_time(job.get("created_at")),
            "finished": short_time(job.get("finished_at")),
            "error": job.get("error") or "",
        }
        for job in jobs
    ]
    columns = ["job", "kind", "model", "status", "phase", "progress", "version", "created", "finished", "error"]
    return pd.DataFrame(rows, columns=columns)


def dataset_choices(datasets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every trainable dataset version from GET /datasets: uploaded versions (newest first), then DVC files.

    Each has the ``ref`` a training names: ``name@version`` for an uploaded version, ``name`` for a DVC file.
    """
    choices = []
    for dataset in datasets:
        source = dataset.get("source", "upload")
        versions = dataset.get("versions") or [{"version": dataset.get("md5"), **dataset}]
        for version in versions:
            rev = str(version.get("version") or version.get("md5") or "")
            rows = f", {version['rows']} rows" if version.get("rows") else ""
            when = f", {short_time(version.get('created_at'))}" if version.get("created_at") else ""
            choices.append(
                {
                    "name": dataset.get("name"),
                    "version": rev,
                    "source": source,
                    "ref": dataset.get("name") if source == "dvc" else f"{dataset.get('name')}@{rev}",
                    "label": f"{dataset.get('name')} @ {rev[:8]} ({source}{rows}{when})",
                    "columns": [c.get("name") if isinstance(c, Mapping) else c for c in version.get("columns") or []],
                }
            )
    return choices
