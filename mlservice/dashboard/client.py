"""What the dashboard knows about the REST API: settings, a small HTTP client and display helpers.

The dashboard (``dashboard.py``) is a front end like ``app.py``: it talks only to the REST API and
never imports scikit-learn or MLflow. Everything here is plain Python and pandas so that the tests can
call it without Streamlit:

- ``DashboardSettings`` / ``load_settings()``: configuration read from the environment on demand;
- ``ApiClient``: one method per REST endpoint; failures become ``ApiError`` (the API's ``message``)
  or ``ApiUnavailable`` (nothing answers at ``API_URL``);
- helpers that turn API payloads into tables, form fields and chart data.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import requests

CLASSIFICATION = "classification"
KEY_METRIC = {CLASSIFICATION: "accuracy", "regression": "r2"}
LOCAL_CREDENTIALS_FILE = "local_api_token"
NO_VALUE = "—"

# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardSettings:
    """Where the dashboard finds the API and the tools it links to."""

    api_url: str = "http://127.0.0.1:5000"
    api_public_url: str = "http://127.0.0.1:5000"
    dashboard_url: str = "http://localhost:8501"
    mlflow_ui_url: str = "http://127.0.0.1:5002"
    minio_console_url: str | None = None
    env_token: str | None = None
    state_dir: Path = Path(".state")
    timeout_seconds: float = 30.0
    train_timeout_seconds: float = 600.0


def load_settings(environ: Mapping[str, str] | None = None) -> DashboardSettings:
    """Settings from the environment (``API_URL``, ``API_PUBLIC_URL``, ``DASHBOARD_URL``, ...)."""
    env = os.environ if environ is None else environ

    def url(name: str, default: str | None) -> str | None:
        value = (env.get(name) or "").strip() or default
        return value.rstrip("/") if value else None

    api_url = url("API_URL", "http://127.0.0.1:5000") or ""
    return DashboardSettings(
        api_url=api_url,
        api_public_url=url("API_PUBLIC_URL", api_url) or api_url,
        dashboard_url=url("DASHBOARD_URL", "http://localhost:8501") or "",
        mlflow_ui_url=url("MLFLOW_UI_URL", "http://127.0.0.1:5002") or "",
        minio_console_url=url("MINIO_CONSOLE_URL", None),
        env_token=(env.get("DASHBOARD_API_TOKEN") or "").strip() or None,
        state_dir=Path(env.get("MLSERVICE_STATE_DIR") or ".state"),
    )


# --------------------------------------------------------------------------------------------------
# Sign-in
# --------------------------------------------------------------------------------------------------


def read_local_token(state_dir: Path) -> str | None:
    """The embedded default's API token (``<state_dir>/local_api_token``), when the file exists."""
    try:
        token = (state_dir / LOCAL_CREDENTIALS_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def resolve_token(session_token: str | None, settings: DashboardSettings) -> tuple[str | None, str | None]:
    """The token to send and where it came from: this session's sign-in, the environment, the local file."""
    if session_token:
        return session_token, "session"
    if settings.env_token:
        return settings.env_token, "DASHBOARD_API_TOKEN"
    local = read_local_token(settings.state_dir)
    if local:
        return local, "local token"
    return None, None


def github_login_url(settings: DashboardSettings) -> str:
    """The API's GitHub sign-in, which hands the browser back to the dashboard with ``?handoff=``."""
    return f"{settings.api_public_url}/login?{urlencode({'next': settings.dashboard_url})}"


def mlflow_run_url(settings: DashboardSettings, run_id: str | None) -> str | None:
    """The MLflow UI page of a training run (MLflow's ``/#/runs/<run_id>`` route)."""
    return f"{settings.mlflow_ui_url}/#/runs/{quote(run_id)}" if run_id else None


def mlflow_model_url(settings: DashboardSettings, model_id: str, version: int | None = None) -> str:
    """The MLflow UI page of a registered model, or of one of its versions."""
    base = f"{settings.mlflow_ui_url}/#/models/{quote(model_id)}"
    return f"{base}/versions/{version}" if version else base


# --------------------------------------------------------------------------------------------------
# The REST client
# --------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """The API answered with an error; ``message`` is the API's own words for a person."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class ApiUnavailable(ApiError):
    """Nothing (or not the API) answers at ``API_URL``."""


def error_message(response: requests.Response) -> str:
    """The API's ``message`` (plus per-field ``errors``), or a short description of the response."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            message += " " + "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        return message
    return f"The API answered HTTP {response.status_code} {response.reason or ''}".strip()


@dataclass
class ApiClient:
    """One method per REST endpoint the dashboard uses; sends ``Authorization: Bearer`` when it has a token."""

    base_url: str
    token: str | None = None
    timeout: float = 30.0
    train_timeout: float = 600.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def headers(self) -> dict[str, str]:
        """Headers of every request."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call the API; the decoded JSON body (None for 204).

        Raises:
            ApiUnavailable: connection refused or timed out. ApiError: any 4xx/5xx, with its message.
        """
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method, url, headers=self.headers(), timeout=timeout or self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise ApiUnavailable(
                f"The API at {self.base_url} did not answer in time ({exc.__class__.__name__})."
            ) from exc
        except requests.RequestException as exc:
            raise ApiUnavailable(f"Cannot reach the API at {self.base_url}: {exc.__class__.__name__}.") from exc
        if response.status_code >= 400:
            raise ApiError(error_message(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiUnavailable(f"{url} did not answer with JSON: is API_URL the mlservice API?") from exc

    # --- endpoints ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health", timeout=min(self.timeout, 5.0))

    def me(self) -> dict[str, Any] | None:
        """The signed-in user; None when the API has no sign-in (``/me`` is 404)."""
        try:
            return self.request("GET", "/me")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def exchange_handoff(self, code: str) -> dict[str, Any]:
        """Trade the one-time code of the GitHub sign-in for ``{"token", "login", "expires_at"}``."""
        return self.request("POST", "/auth/handoff", json={"code": code})

    def github_sign_in_available(self) -> bool:
        """Whether the API's ``/login`` starts a GitHub sign-in (a redirect) rather than saying it is not set up."""
        try:
            response = self.session.get(f"{self.base_url}/login", allow_redirects=False, timeout=min(self.timeout, 5.0))
        except requests.RequestException:
            return False
        return response.is_redirect

    def api_paths(self) -> set[str]:
        """The paths the API documents in ``/swagger.json`` (to see optional features, e.g. /datasets)."""
        return set((self.request("GET", "/swagger.json") or {}).get("paths", {}))

    def model_classes(self) -> dict[str, dict[str, Any]]:
        return self.request("GET", "/model-classes")

    def datasets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/datasets")

    def dataset(self, name: str, version: str = "latest") -> dict[str, Any]:
        """One dataset version with its columns and a preview."""
        return self.request("GET", f"/datasets/{quote(name, safe='')}/{quote(version or 'latest', safe='')}")

    def list_models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/models")

    def get_model(self, model_id: str) -> dict[str, Any]:
        return self.request("GET", f"/models/{quote(model_id, safe='')}")

    def delete_model(self, model_id: str) -> None:
        self.request("DELETE", f"/models/{quote(model_id, safe='')}")

    def train(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/models/train", json=payload, timeout=self.train_timeout)

    def retrain(self, model_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST", f"/models/{quote(model_id, safe='')}/retrain", json=payload, timeout=self.train_timeout
        )

    def predict(self, model_id: str, X: list[list[float]], version: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"X": X}
        if version:
            payload["version"] = int(version)
        return self.request("POST", f"/models/{quote(model_id, safe='')}/predict", json=payload)


def make_client(settings: DashboardSettings, token: str | None) -> ApiClient:
    """The client for this settings object and token."""
    return ApiClient(
        settings.api_url, token=token, timeout=settings.timeout_seconds, train_timeout=settings.train_timeout_seconds
    )


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Data the user brings: CSV upload or a pasted table
# --------------------------------------------------------------------------------------------------


class DataError(ValueError):
    """The table the user supplied cannot be sent to the API as it is; the message says why."""


def read_table(content: bytes | str) -> pd.DataFrame:
    """A CSV (or TSV / semicolon-separated, as pasted from a spreadsheet) with a header row."""
    text = content.decode("utf-8-sig", errors="replace") if isinstance(content, bytes) else content
    text = text.strip()
    if not text:
        raise DataError("The table is empty: paste or upload a CSV with a header row.")
    first_line = text.splitlines()[0]
    separator = max(("\t", ";", ","), key=first_line.count)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Could not read the table: {exc}") from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.empty:
        raise DataError("The table has a header but no rows.")
    return frame


def feature_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[float]]:
    """The given columns as rows of numbers, or a DataError naming the first column that is not numeric."""
    numeric = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            bad_row = int(values.isna().to_numpy().nonzero()[0][0])
            raise DataError(
                f"Column '{column}' must be numeric without gaps (row {bad_row + 1}: {frame[column].iloc[bad_row]!r})."
            )
        numeric[column] = values.astype(float)
    return pd.DataFrame(numeric).to_numpy().tolist()


def plain_value(value: Any) -> Any:
    """A target value as JSON carries it: whole numbers as int, others as they are."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def training_data(frame: pd.DataFrame, target: str) -> dict[str, Any]:
    """``X``, ``y`` and ``feature_names`` of a train/retrain request: every column but target is a feature."""
    if target not in frame.columns:
        raise DataError(f"There is no column '{target}' in the table.")
    features = [column for column in frame.columns if column != target]
    if not features:
        raise DataError("The table needs at least one feature column besides the target.")
    if frame[target].isna().any():
        raise DataError(f"The target column '{target}' has empty cells.")
    return {
        "X": feature_matrix(frame, features),
        "y": [plain_value(value) for value in frame[target].tolist()],
        "feature_names": features,
    }


def prediction_rows(frame: pd.DataFrame, feature_names: Sequence[str] | None) -> list[list[float]]:
    """Rows to predict from a table: the model's features by name when the header has them, else in order."""
    if feature_names and all(name in frame.columns for name in feature_names):
        return feature_matrix(frame, feature_names)
    if feature_names and len(frame.columns) != len(feature_names):
        raise DataError(
            f"The model expects {len(feature_names)} features ({', '.join(feature_names)}); "
            f"the table has {len(frame.columns)} columns ({', '.join(map(str, frame.columns))})."
        )
    return feature_matrix(frame, list(frame.columns))


def predictions_table(
    rows: Sequence[Sequence[float]], feature_names: Sequence[str] | None, result: Mapping[str, Any]
) -> pd.DataFrame:
    """Inputs, the prediction and (for classifiers) one ``P(class)`` column per class."""
    names = list(feature_names or [f"x{i}" for i in range(len(rows[0]) if rows else 0)])
    table = pd.DataFrame([list(row) for row in rows], columns=names)
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


def confusion_counts(actual: Sequence[Any], predicted: Sequence[Any]) -> pd.DataFrame:
    """Counts of (actual, predicted) label pairs in long form, every pair present (zeros included)."""
    actual_labels = pd.Series([str(value) for value in actual], name="actual")
    predicted_labels = pd.Series([str(value) for value in predicted], name="predicted")
    labels = sorted(set(actual_labels) | set(predicted_labels))
    table = pd.crosstab(actual_labels, predicted_labels).reindex(index=labels, columns=labels, fill_value=0)
    return table.stack().rename("count").reset_index()


# --------------------------------------------------------------------------------------------------
# The training form, generated from GET /model-classes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:  # pylint: disable=too-many-instance-attributes  # one attribute per widget argument
    """How to ask for one hyperparameter: the widget kind and its arguments."""

    name: str
    kind: str  # "checkbox" | "select" | "int" | "float" | "text"
    default: Any
    help: str
    options: tuple[Any, ...] = ()
    min_value: float | int | None = None
    max_value: float | int | None = None
    nullable: bool = False


def _bound(value: Any) -> str:
    return "∞" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def describe_range(spec_range: Mapping[str, Any]) -> str:
    """``{"min": 0, "max": None, "closed": "right"}`` → ``(0, ∞)``; the bracket shows what is included."""
    closed = spec_range.get("closed", "both")
    low = "[" if closed in ("left", "both") and spec_range.get("min") is not None else "("
    high = "]" if closed in ("right", "both") and spec_range.get("max") is not None else ")"
    minimum = "-∞" if spec_range.get("min") is None else _bound(spec_range.get("min"))
    return f"{spec_range.get('type')} in {low}{minimum}, {_bound(spec_range.get('max'))}{high}"


def describe_hyperparameter(hyperparameter: Mapping[str, Any]) -> str:
    """The help text of a hyperparameter: accepted types, ranges, choices and the default."""
    parts = [" | ".join(t for t in hyperparameter.get("types", []) if t != "null") or "any"]
    parts += [describe_range(r) for r in hyperparameter.get("ranges", [])]
    if hyperparameter.get("choices"):
        parts.append("one of " + ", ".join(map(str, hyperparameter["choices"])))
    if "null" in hyperparameter.get("types", []):
        parts.append("empty = None")
    return "; ".join(parts) + f". Default: {hyperparameter.get('default')!r}."


def field_spec(hyperparameter: Mapping[str, Any]) -> FieldSpec:
    """The widget for a hyperparameter of the schema (number, select, checkbox, or free text)."""
    name, default = hyperparameter["name"], hyperparameter.get("default")
    types = set(hyperparameter.get("types", [])) - {"null"}
    nullable = "null" in hyperparameter.get("types", [])
    choices = list(hyperparameter.get("choices", []))
    ranges = [r for r in hyperparameter.get("ranges", []) if r.get("type") in types]
    help_text = describe_hyperparameter(hyperparameter)
    if types == {"bool"} and isinstance(default, bool):
        return FieldSpec(name, "checkbox", default, help_text)
    if types == {"str"} and choices:
        options = ([default] if default not in choices and default is not None else []) + choices
        if nullable:
            options.append(None)
        return FieldSpec(name, "select", default, help_text, options=tuple(options), nullable=nullable)
    if types in ({"int"}, {"float"}) and (default is None or isinstance(default, (int, float))):
        kind = types.pop()
        low = [r["min"] for r in ranges if r.get("min") is not None and r.get("closed") in ("left", "both")]
        high = [r["max"] for r in ranges if r.get("max") is not None and r.get("closed") in ("right", "both")]
        cast = int if kind == "int" else float
        return FieldSpec(
            name,
            kind,
            None if default is None else cast(default),
            help_text,
            min_value=cast(low[0]) if len(low) == 1 == len(ranges) else None,
            max_value=cast(high[0]) if len(high) == 1 == len(ranges) else None,
            nullable=nullable,
        )
    return FieldSpec(name, "text", "None" if default is None else str(default), help_text, nullable=nullable)


def changed_params(specs: Sequence[FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters whose form value differs from the default shown (only these are sent)."""
    params: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in values:
            continue
        value = values[spec.name]
        if spec.kind == "text":
            value = str(value).strip()
            if value == spec.default or (not value and spec.nullable and spec.default == "None"):
                continue
            params[spec.name] = value or None
        elif isinstance(value, float) and isinstance(spec.default, (int, float)) and not isinstance(value, bool):
            if not math.isclose(value, spec.default, rel_tol=1e-12, abs_tol=0.0):
                params[spec.name] = value
        elif value != spec.default:
            params[spec.name] = value
    return params


def schema_with_defaults(
    hyperparameters: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The schema with another set of defaults (a model's current params, for retraining)."""
    current = current or {}
    return [{**hp, "default": current[hp["name"]]} if hp["name"] in current else dict(hp) for hp in hyperparameters]
