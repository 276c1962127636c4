"""Authentication: the whole GitHub sign-in flow over real HTTP (a GitHub stand-in and the service on
free ports, a cookie-keeping client), API tokens, the dashboard hand-off, and gRPC's bearer token."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlparse

import grpc
import pytest
import requests
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from werkzeug.serving import make_server

import app_pb2
import app_pb2_grpc
from mlservice.grpc.server import build_server
from mlservice.identity import tokens
from mlservice.identity.flask_adapter import PUBLIC_PATHS
from mlservice.identity.principal import Principal
from mlservice.rest.app import create_app
from mlservice.settings import Settings
from tests.conftest import TEST_SECRET_KEY, free_port, wait_for
from tests.github_stub import GitHubStub

DASHBOARD = "http://dashboard.test:8501/"
GRPC_SECRET = "grpc-shared-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def github():
    stub = GitHubStub(free_port()).start()
    yield stub
    stub.stop()


def github_settings(settings, github, **overrides) -> Settings:
    return settings.model_copy(
        update={
            "github_client_id": "client-id",
            "github_client_secret": "client-secret",
            "github_authorize_url": f"{github.url}/login/oauth/authorize",
            "github_token_url": f"{github.url}/login/oauth/access_token",
            "github_api_base": f"{github.url}/api/",
            "dashboard_url": DASHBOARD,
            "github_allow_any_user": True,
            **overrides,
        }
    )


class LiveApp:
    """The REST app served over real HTTP in a thread, for flows that need a real browser-like client."""

    def __init__(self, application):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.app = application
        self._server = make_server("127.0.0.1", port, application, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def live(settings, service, github):
    server = LiveApp(create_app(github_settings(settings, github), service=service))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def strict_live(settings, service, github):
    server = LiveApp(
        create_app(github_settings(settings, github, github_allowed_users="octocat", github_allowed_orgs="acme"),
                   service=service)
    )  # fmt: skip
    yield server
    server.stop()


NONCE = "the-dashboard-session-nonce"


def start_login(browser: requests.Session, base: str, next_url: str | None = None, nonce: str = NONCE) -> str:
    """GET /login (-> GitHub) -> GitHub's redirect back; returns the callback URL (code + state).

    With next_url (the dashboard), the sign-in is bound to the dashboard session holding nonce."""
    query = f"?{urlencode({'next': next_url, 'binding': tokens.binding_of(nonce)})}" if next_url else ""
    to_github = browser.get(f"{base}/login{query}", allow_redirects=False)
    assert to_github.status_code == 302, to_github.text
    back = browser.get(to_github.headers["Location"], allow_redirects=False)
    assert back.status_code == 302
    return back.headers["Location"]


def sign_in(browser: requests.Session, base: str, next_url: str | None = None, nonce: str = NONCE) -> requests.Response:
    return browser.get(start_login(browser, base, next_url, nonce), allow_redirects=False)


def test_browser_flow_login_callback_session_protected_call_logout(live):
    browser = requests.Session()
    assert browser.get(f"{live.url}/me", headers={"Accept": "application/json"}).status_code == 401
    done = sign_in(browser, live.url)
    assert done.status_code == 302
    me = browser.get(f"{live.url}/me").json()
    assert me == {"principal": "github:583231", "login": "octocat", "name": "The Octocat", "id": 583231,
                  "auth": "github"}  # fmt: skip
    assert browser.get(f"{live.url}/models").status_code == 200
    cookie = next(c for c in browser.cookies if c.name == "session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert browser.get(f"{live.url}/logout", headers={"Accept": "application/json"}).status_code == 200
    assert browser.get(f"{live.url}/models", headers={"Accept": "application/json"}).status_code == 401


def test_forged_state_is_refused(live, github):
    browser = requests.Session()
    callback = urlparse(start_login(browser, live.url))
    code = parse_qs(callback.query)["code"][0]
    forged = browser.get(f"{live.url}/authorize?{urlencode({'code': code, 'state': 'forged'})}")
    assert forged.status_code == 400 and "state" in forged.json()["message"]
    assert browser.get(f"{live.url}/me").status_code == 401
    assert code in github.codes  # refused before the code was ever exchanged with GitHub


def test_replayed_callback_is_refused(live):
    browser = requests.Session()
    callback = start_login(browser, live.url)
    assert browser.get(callback, allow_redirects=False).status_code == 302
    replay = requests.Session().get(callback, allow_redirects=False)  # another browser, same callback URL
    assert replay.status_code == 400


def test_wrong_code_is_refused(live):
    browser = requests.Session()
    callback = urlparse(start_login(browser, live.url))
    state = parse_qs(callback.query)["state"][0]
    wrong = browser.get(f"{live.url}/authorize?{urlencode({'code': 'not-a-code', 'state': state})}")
    assert wrong.status_code == 401
    assert browser.get(f"{live.url}/me").status_code == 401


@pytest.mark.parametrize(("login", "status"), [("octocat", 302), ("member", 302), ("mallory", 403)])
def test_allow_lists_of_users_and_orgs(strict_live, github, login, status):
    github.next_login = login
    try:
        browser = requests.Session()
        assert sign_in(browser, strict_live.url).status_code == status
        assert browser.get(f"{strict_live.url}/me").status_code == (200 if status == 302 else 401)
    finally:
        github.next_login = "octocat"


def test_dashboard_hand_off(live):
    browser = requests.Session()
    done = sign_in(browser, live.url, next_url=DASHBOARD)
    assert done.status_code == 302 and done.headers["Location"].startswith(DASHBOARD + "?handoff=")
    code = parse_qs(urlparse(done.headers["Location"]).query)["handoff"][0]
    dashboard = requests.Session()  # the dashboard's server side: no browser cookies
    exchanged = dashboard.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": NONCE}).json()
    assert exchanged["login"] == "octocat" and exchanged["token"].startswith("mls_")
    headers = {"Authorization": f"Bearer {exchanged['token']}"}
    assert dashboard.get(f"{live.url}/me", headers=headers).json()["login"] == "octocat"
    again = dashboard.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": NONCE})
    assert again.status_code == 400  # one-time


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "http://dashboard.test.evil.example/"]
)
def test_open_redirect_in_next_is_refused(live, target):
    response = requests.get(f"{live.url}/login?{urlencode({'next': target})}", allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "next" in response.json()["message"]


def test_personal_tokens_create_list_use_revoke(live, settings):
    browser = requests.Session()
    sign_in(browser, live.url)
    created = browser.post(f"{live.url}/tokens", json={"name": "ci", "expires_in_days": 30})
    assert created.status_code == 201
    token = created.json()["token"]
    listed = browser.get(f"{live.url}/tokens").json()
    assert [t["name"] for t in listed][:1] == ["ci"] and all("token" not in t for t in listed)
    script = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live.url}/me", headers=script, timeout=10).json() == {
        "principal": "github:583231", "login": "octocat", "name": "octocat", "id": 583231, "auth": "token"
    }  # fmt: skip
    with sa.create_engine(settings.database_url).connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens WHERE name = 'ci'")).scalars().all()
    assert stored and token not in stored  # only the hash is kept
    assert browser.delete(f"{live.url}/tokens/{created.json()['id']}").status_code == 204
    assert requests.get(f"{live.url}/me", headers=script, timeout=10).status_code == 401
    assert browser.delete(f"{live.url}/tokens/{created.json()['id']}").status_code == 404


def test_expired_token_is_refused(live, settings):
    browser = requests.Session()
    sign_in(browser, live.url)
    created = browser.post(f"{live.url}/tokens", json={"name": "short", "expires_in_days": 1}).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert requests.get(f"{live.url}/me", headers=headers, timeout=10).status_code == 200
    with sa.create_engine(settings.database_url).begin() as conn:
        conn.execute(
            tokens.api_tokens.update()
            .where(tokens.api_tokens.c.id == created["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    # a process trusts a token it verified for MLSERVICE_TOKEN_CACHE_SECONDS (5 s), then asks the database
    wait_for(lambda: requests.get(f"{live.url}/me", headers=headers, timeout=10).status_code == 401, timeout=30)


def test_models_record_their_owner(live, iris):
    browser = requests.Session()
    sign_in(browser, live.url)
    X, y = iris
    trained = browser.post(f"{live.url}/models/train", json={"model_type": "knn", "X": X, "y": y}).json()
    try:
        listed = {m["id"]: m for m in browser.get(f"{live.url}/models").json()}
        assert listed[trained["model_id"]]["owner"] == "github:583231"  # GitHub users by numeric id
        assert listed[trained["model_id"]]["owner_name"] == "octocat"
    finally:
        browser.delete(f"{live.url}/models/{trained['model_id']}")


def test_browser_without_session_is_sent_to_login(live):
    response = requests.get(f"{live.url}/models", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


# --- every protected path in the spec answers 401 without credentials --------------------------------


def _offline_app(tmp: Path):
    offline = Settings(
        state_dir=tmp, secret_key=TEST_SECRET_KEY, database_url="sqlite://", mlflow_tracking_uri="http://127.0.0.1:9"
    )
    return create_app(offline, service=mock.Mock())


def _protected_operations() -> list[tuple[str, str]]:
    spec = _offline_app(Path(tempfile.mkdtemp())).test_client().get("/swagger.json").get_json()
    operations = []
    for path, item in spec["paths"].items():
        for method in item:
            if method != "parameters" and path not in PUBLIC_PATHS:
                operations.append((method, path))
    return operations


@pytest.mark.parametrize(("method", "path"), _protected_operations())
def test_every_protected_operation_needs_credentials(tmp_path, method, path):
    client = _offline_app(tmp_path).test_client()
    concrete = path.replace("{model_id}", "some-model").replace("{token_id}", "some-token")
    response = client.open(concrete, method=method.upper(), json={}, headers={"Accept": "application/json"})
    assert response.status_code == 401 and "message" in response.get_json()
    wrong = client.open(concrete, method=method.upper(), json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_public_endpoints_stay_open(tmp_path):
    client = _offline_app(tmp_path).test_client()
    assert client.get("/swagger.json").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 501  # no GitHub app: explains how to configure one
    assert "GITHUB_CLIENT_ID" in client.get("/login").get_json()["message"]


# --- embedded default and startup rules -------------------------------------------------------------


def test_embedded_default_generates_a_private_local_token(tmp_path):
    client = _offline_app(tmp_path).test_client()
    token_file = tmp_path / "local_api_token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["login"] == "local"
    _offline_app(tmp_path)  # a restart of the service
    assert token_file.read_text().strip() == token  # stable across restarts


def test_github_mode_refuses_to_start_without_secret_key(tmp_path, github):
    configured = github_settings(Settings(state_dir=tmp_path, database_url="sqlite://"), github, secret_key=None)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(configured, service=mock.Mock())
    assert not (tmp_path / "local_api_token").exists()  # no local token once GitHub sign-in is on


def test_session_cookie_is_secure_behind_https(tmp_path):
    settings = Settings(
        state_dir=tmp_path, secret_key=TEST_SECRET_KEY, database_url="sqlite://", preferred_url_scheme="https"
    )
    application = create_app(settings, service=mock.Mock())
    assert application.config["SESSION_COOKIE_SECURE"] is True
    assert application.config["SESSION_COOKIE_HTTPONLY"] is True
    assert application.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_static_tokens_are_named_owners():
    settings = Settings(api_tokens="dashboard=abc,plain", github_client_id="x", github_client_secret="y")
    assert tokens.static_tokens(settings) == [(Principal.service("dashboard"), "abc"),
                                              (Principal.service("service"), "plain")]  # fmt: skip


def test_a_static_token_may_hold_an_equals_sign():
    settings = Settings(api_tokens="ci=abc=def==", github_client_id="x", github_client_secret="y")
    assert tokens.static_tokens(settings) == [(Principal.service("ci"), "abc=def==")]
    with pytest.raises(ValueError, match="not name=token"):
        tokens.static_tokens(Settings(api_tokens="bad name=t", github_client_id="x", github_client_secret="y"))


# --- gRPC bearer token ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_grpc(settings, service):
    server, port = build_server(
        settings.model_copy(update={"grpc_port": free_port(), "grpc_auth_token": GRPC_SECRET}), service
    )
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer wrong"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", GRPC_SECRET),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", f"Bearer {GRPC_SECRET}"),), None),
    ],
)
def test_grpc_token(guarded_grpc, metadata, code):
    with grpc.insecure_channel(guarded_grpc) as channel:
        stub = app_pb2_grpc.MLServiceStub(channel)
        if code is None:
            assert stub.GetModelClasses(app_pb2.Empty(), metadata=metadata).model_classes
        else:
            with pytest.raises(grpc.RpcError) as failure:
                stub.GetModelClasses(app_pb2.Empty(), metadata=metadata)
            assert failure.value.code() == code
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # always open


def test_grpc_client_script_sends_the_token(guarded_grpc):
    host, port = guarded_grpc.rsplit(":", 1)
    base = [sys.executable, "grpc_client_test.py", "--host", host, "--port", port]
    root = Path(__file__).resolve().parent.parent
    denied = subprocess.run(base, cwd=root, capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "GRPC_AUTH_TOKEN": ""})  # fmt: skip
    assert denied.returncode != 0 and "UNAUTHENTICATED" in denied.stderr
    allowed = subprocess.run([*base, "--token", GRPC_SECRET], cwd=root, capture_output=True, text=True,
                             timeout=300, check=False)  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
