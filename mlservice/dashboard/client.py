"""The dashboard's REST client: its settings, sign-in helpers and one method per REST endpoint.

The dashboard (``dashboard.py``) is a front end like ``app.py``: it talks only to the REST API and
never imports scikit-learn or MLflow. Failures become ``ApiError`` (the API's ``message``) or
``ApiUnavailable`` (nothing answers at ``API_URL``). ``tables`` and ``forms`` turn API payloads into
what the page shows; everything here is plain Python and pandas, testable without Streamlit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests

CLASSIFICATION = "classification"
KEY_METRIC = {CLASSIFICATION: "accuracy", "regression": "r2"}
LOCAL_CREDENTIALS_FILE = "local_api_token"
# The cookie (of the dashboard's origin) that keeps a browser's sign-in nonce across the round trip to
# GitHub: a full page navigation starts a new Streamlit session, whose session state is empty.
NONCE_COOKIE = "mlservice_signin_nonce"
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


def is_loopback(address: str | None) -> bool:
    """Whether the dashboard listens on a loopback address only (unset: Streamlit listens on every interface)."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(
    session_token: str | None, settings: DashboardSettings, bind_address: str | None
) -> tuple[str | None, str | None]:
    """The token to send for this visitor and where it came from: their own sign-in, else nothing.

    The one exception is the embedded default's local token: used automatically only when the
    dashboard listens on loopback (so every visitor is on this machine) and the file exists. The
    dashboard never uses a token of its own on a visitor's behalf.
    """
    if session_token:
        return session_token, "session"
    if is_loopback(bind_address):
        local = read_local_token(settings.state_dir)
        if local:
            return local, "local token"
    return None, None


def new_nonce() -> str:
    """A fresh secret for one browser's sign-in (kept in a cookie of the dashboard's origin)."""
    return secrets.token_urlsafe(32)


def valid_nonce(value: str | None) -> bool:
    """Whether a cookie's value looks like a nonce this dashboard made (43 URL-safe characters)."""
    return bool(value) and len(value) == 43 and all(c.isalnum() or c in "-_" for c in value)


def binding_of(nonce: str) -> str:
    """What the API binds the hand-off code to: the SHA-256 (hex) of the nonce; the nonce never leaves the dashboard
    but to redeem the code."""
    return hashlib.sha256(nonce.encode()).hexdigest()


def github_login_url(settings: DashboardSettings, nonce: str) -> str:
    """The API's GitHub sign-in, which hands the browser back to the dashboard with ``?handoff=`` for this nonce."""
    query = urlencode({"next": settings.dashboard_url, "binding": binding_of(nonce)})
    return f"{settings.api_public_url}/login?{query}"


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
class ApiClient:  # pylint: disable=too-many-public-methods  # one method per REST endpoint
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

    def exchange_handoff(self, code: str, nonce: str) -> dict[str, Any]:
        """Trade the one-time code of the GitHub sign-in (and this browser's nonce) for ``{"token", "id", "login"}``."""
        return self.request("POST", "/auth/handoff", json={"code": code, "nonce": nonce})

    def revoke_token(self, token_id: str) -> None:
        """Revoke one of the caller's tokens (the dashboard's sign-in token, at sign-out)."""
        self.request("DELETE", f"/tokens/{quote(token_id, safe='')}")

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
        """One dataset version with its columns, a preview and the models trained on it (``used_by``)."""
        return self.request("GET", f"/datasets/{quote(name, safe='')}/{quote(version or 'latest', safe='')}")

    def upload_dataset(self, name: str, content: bytes, filename: str = "data.csv") -> dict[str, Any]:
        """Store a CSV as a version of dataset ``name`` (identical bytes: the existing version)."""
        return self.request(
            "POST", "/datasets", data={"name": name}, files={"file": (filename, content, "text/csv")},
            timeout=self.train_timeout,
        )  # fmt: skip

    def delete_dataset(self, name: str, version: str) -> None:
        self.request("DELETE", f"/datasets/{quote(name, safe='')}/{quote(version, safe='')}")

    def jobs(self) -> list[dict[str, Any]]:
        """Your most recent training jobs, newest first."""
        return self.request("GET", "/jobs")

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/jobs/{quote(job_id, safe='')}")

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/jobs/{quote(job_id, safe='')}/cancel")

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

    def set_alias(self, model_id: str, alias: str, version: int) -> dict[str, Any]:
        """Point an alias at a version (``current``: promote or roll back)."""
        path = f"/models/{quote(model_id, safe='')}/aliases/{quote(alias, safe='')}"
        return self.request("PUT", path, json={"version": int(version)})

    def delete_alias(self, model_id: str, alias: str) -> None:
        self.request("DELETE", f"/models/{quote(model_id, safe='')}/aliases/{quote(alias, safe='')}")

    def predict(  # pylint: disable=too-many-arguments
        self,
        model_id: str,
        X: list[list[Any]] | None = None,
        version: int | None = None,
        *,
        records: list[dict[str, Any]] | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """Predictions for rows (``X``) or named ``records``, from a version, an alias or ``current``."""
        payload: dict[str, Any] = {"records": records} if records is not None else {"X": X}
        if version:
            payload["version"] = int(version)
        if alias:
            payload["alias"] = alias
        return self.request("POST", f"/models/{quote(model_id, safe='')}/predict", json=payload)


def make_client(settings: DashboardSettings, token: str | None) -> ApiClient:
    """The client for this settings object and token."""
    return ApiClient(
        settings.api_url, token=token, timeout=settings.timeout_seconds, train_timeout=settings.train_timeout_seconds
    )
