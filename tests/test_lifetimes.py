"""Lifetimes of what signs a caller in: personal tokens (default expiry, bounded by and revoked with the
token that made them), server-side sessions (/logout revokes), the dashboard hand-off (atomic, bound to
the dashboard session's nonce) and the allow-lists re-checked on every request (users, organisations).

Over real HTTP, against a GitHub stand-in: each reproduction of issue 13 is a test here."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
import sqlalchemy as sa

from mlservice.identity import tables, tokens
from mlservice.rest.app import create_app
from tests.conftest import free_port
from tests.github_stub import GitHubStub
from tests.test_auth import DASHBOARD, NONCE, LiveApp, github_settings, sign_in

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def github():
    stub = GitHubStub(free_port()).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def live(settings, service, github):
    # These tests change token rows behind the server's back (as another process would); a process trusts a
    # token it verified for MLSERVICE_TOKEN_CACHE_SECONDS (tests/test_token_cache.py), so here it trusts none.
    server = LiveApp(create_app(github_settings(settings, github, token_cache_seconds=0), service=service))
    yield server
    server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dashboard_token(live, nonce: str = NONCE) -> dict:
    """What the dashboard gets after a GitHub sign-in: the hand-off exchanged for a session-length token."""
    done = sign_in(requests.Session(), live.url, next_url=DASHBOARD, nonce=nonce)
    code = parse_qs(urlparse(done.headers["Location"]).query)["handoff"][0]
    answer = requests.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": nonce}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def set_column(settings, table, key, value, **values) -> None:
    with sa.create_engine(settings.database_url).begin() as conn:
        conn.execute(table.update().where(key == value).values(**values))


# --- personal tokens ---------------------------------------------------------------------------------


def test_a_token_without_expiry_gets_the_default_and_never_more_than_the_maximum(live, settings):
    browser = requests.Session()
    sign_in(browser, live.url)
    created = browser.post(f"{live.url}/tokens", json={"name": "no-expiry"}).json()
    expected = datetime.now(UTC) + timedelta(days=settings.token_default_days)
    assert abs(when(created["expires_at"]) - expected) < timedelta(hours=1)
    too_long = browser.post(f"{live.url}/tokens", json={"name": "x", "expires_in_days": settings.token_max_days + 1})
    assert too_long.status_code == 400 and "at most" in too_long.json()["message"]


def test_a_token_made_with_the_dashboard_token_is_bounded_by_it_and_revoked_with_it(live):
    # the reproduction: a 12-hour dashboard sign-in token minted a never-expiring token that survived
    # the parent's revocation
    parent = dashboard_token(live)
    child = requests.post(f"{live.url}/tokens", json={"name": "minted", "expires_in_days": 365},
                          headers=bearer(parent["token"]), timeout=10).json()  # fmt: skip
    assert when(child["expires_at"]) <= when(parent["expires_at"])
    grandchild = requests.post(f"{live.url}/tokens", json={"name": "minted-2"}, headers=bearer(child["token"]),
                               timeout=10).json()  # fmt: skip
    assert requests.get(f"{live.url}/me", headers=bearer(grandchild["token"]), timeout=10).status_code == 200
    revoked = requests.delete(f"{live.url}/tokens/{parent['id']}", headers=bearer(parent["token"]), timeout=10)
    assert revoked.status_code == 204
    for token in (parent, child, grandchild):
        assert requests.get(f"{live.url}/me", headers=bearer(token["token"]), timeout=10).status_code == 401


def test_a_token_stops_when_an_ancestor_expires(live, settings):
    parent = dashboard_token(live)
    child = requests.post(f"{live.url}/tokens", json={"name": "c"}, headers=bearer(parent["token"]), timeout=10)
    child_token = child.json()["token"]
    assert requests.get(f"{live.url}/me", headers=bearer(child_token), timeout=10).status_code == 200
    set_column(settings, tables.api_tokens, tables.api_tokens.c.id, parent["id"],
               expires_at=datetime.now(UTC) - timedelta(minutes=1))  # fmt: skip
    assert requests.get(f"{live.url}/me", headers=bearer(child_token), timeout=10).status_code == 401


def test_chains_of_tokens_are_bounded(live):
    token = dashboard_token(live)["token"]
    for _ in range(tokens.MAX_TOKEN_CHAIN - 1):
        made = requests.post(f"{live.url}/tokens", json={"name": "link"}, headers=bearer(token), timeout=10)
        assert made.status_code == 201
        token = made.json()["token"]
    too_deep = requests.post(f"{live.url}/tokens", json={"name": "link"}, headers=bearer(token), timeout=10)
    assert too_deep.status_code == 400 and "deep" in too_deep.json()["message"]
    assert requests.get(f"{live.url}/me", headers=bearer(token), timeout=10).status_code == 200


# --- sessions ----------------------------------------------------------------------------------------


def test_a_cookie_captured_before_logout_no_longer_works(live):
    # the reproduction: a cookie captured before /logout still worked for 31 days
    browser = requests.Session()
    sign_in(browser, live.url)
    captured = browser.cookies.get("session")
    assert browser.get(f"{live.url}/me", headers=JSON).status_code == 200
    assert browser.get(f"{live.url}/logout", headers=JSON).status_code == 200
    replay = requests.get(f"{live.url}/me", cookies={"session": captured}, headers=JSON, timeout=10)
    assert replay.status_code == 401


def test_the_cookie_carries_only_a_session_id_that_lives_the_session_lifetime(live, settings):
    browser = requests.Session()
    sign_in(browser, live.url)
    cookie = next(c for c in browser.cookies if c.name == "session")
    lifetime = cookie.expires - datetime.now(UTC).timestamp()
    assert abs(lifetime - settings.session_hours * 3600) < 3600
    payload = live.app.session_interface.get_signing_serializer(live.app).loads(cookie.value)
    assert set(payload) - {"_permanent"} == {"sid"} and "octocat" not in str(payload)
    with sa.create_engine(settings.database_url).connect() as conn:
        stored = conn.execute(sa.select(tables.sessions.c.id_hash)).scalars().all()
    assert payload["sid"] not in stored  # only its hash is kept
    set_column(settings, tables.sessions, tables.sessions.c.principal, "github:583231",
               expires_at=datetime.now(UTC) - timedelta(minutes=1))  # fmt: skip
    assert browser.get(f"{live.url}/me", headers=JSON).status_code == 401


# --- the dashboard hand-off ---------------------------------------------------------------------------


def handoff_code(live, nonce: str) -> str:
    done = sign_in(requests.Session(), live.url, next_url=DASHBOARD, nonce=nonce)
    return parse_qs(urlparse(done.headers["Location"]).query)["handoff"][0]


def test_a_code_minted_for_one_dashboard_session_cannot_be_redeemed_by_another(live):
    # login CSRF: an attacker's code, planted in a victim's dashboard, is refused there
    code = handoff_code(live, nonce="session-a")
    stolen = requests.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": "session-b"}, timeout=10)
    assert stolen.status_code == 400
    own = requests.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": "session-a"}, timeout=10)
    assert own.status_code == 200 and own.json()["login"] == "octocat"


def test_sign_in_for_the_dashboard_needs_a_binding(live):
    answer = requests.get(f"{live.url}/login?{urlencode({'next': DASHBOARD})}", allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "binding" in answer.json()["message"]


def test_one_code_redeemed_from_many_threads_gives_exactly_one_token(live):
    code = handoff_code(live, nonce=NONCE)
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def redeem():
        barrier.wait()
        answer = requests.post(f"{live.url}/auth/handoff", json={"code": code, "nonce": NONCE}, timeout=30)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=redeem) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [400] * 11


# --- allow-lists re-checked on every request ----------------------------------------------------------


def app_with(settings, service, github, **lists) -> LiveApp:
    return LiveApp(create_app(github_settings(settings, github, github_allow_any_user=False, **lists), service=service))


def test_a_user_removed_from_the_allow_list_loses_sessions_and_tokens_at_once(settings, service, github):
    before = app_with(settings, service, github, github_allowed_users="octocat")
    after = app_with(settings, service, github, github_allowed_users="github:42")  # octocat removed (a restart)
    by_id = app_with(settings, service, github, github_allowed_users="github:583231,someone-else")
    try:
        browser = requests.Session()
        assert sign_in(browser, before.url).status_code == 302
        token = browser.post(f"{before.url}/tokens", json={"name": "ci"}).json()["token"]
        cookie = {"session": browser.cookies.get("session")}
        assert requests.get(f"{by_id.url}/me", headers=bearer(token), timeout=10).status_code == 200
        assert requests.get(f"{by_id.url}/me", cookies=cookie, headers=JSON, timeout=10).status_code == 200
        assert requests.get(f"{after.url}/me", headers=bearer(token), timeout=10).status_code == 401
        assert requests.get(f"{after.url}/me", cookies=cookie, headers=JSON, timeout=10).status_code == 401
    finally:
        for server in (before, after, by_id):
            server.stop()


@pytest.fixture
def org_app(settings, service, github):
    server = LiveApp(
        create_app(github_settings(settings, github, github_allow_any_user=False, github_allowed_orgs="acme",
                                   allowlist_cache_seconds=0, allowlist_recheck_seconds=0.001,
                                   allowlist_grace_seconds=3600), service=service)
    )  # fmt: skip
    github.next_login = "member"
    yield server
    github.next_login, github.unavailable = "octocat", False
    github.set_orgs("member", ["acme"])
    server.stop()


def member_credentials(server) -> tuple[requests.Session, str]:
    browser = requests.Session()
    assert sign_in(browser, server.url).status_code == 302
    token = browser.post(f"{server.url}/tokens", json={"name": "ci"}).json()["token"]
    assert requests.get(f"{server.url}/me", headers=bearer(token), timeout=10).status_code == 200
    return browser, token


def test_leaving_the_organisation_refuses_and_revokes_sessions_and_tokens(org_app, github, settings):
    browser, token = member_credentials(org_app)
    github.set_orgs("member", ["elsewhere"])
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 401
    assert browser.get(f"{org_app.url}/me", headers=JSON).status_code == 401
    github.set_orgs("member", ["acme"])  # back in: what was revoked stays revoked
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 401
    with sa.create_engine(settings.database_url).connect() as conn:
        active = conn.execute(sa.select(sa.func.count()).select_from(tables.sessions).where(
            tables.sessions.c.principal == "github:42", tables.sessions.c.revoked_at.is_(None))).scalar()  # fmt: skip
    assert active == 0


def test_a_revoked_oauth_token_refuses_the_user(org_app, github):
    _, token = member_credentials(org_app)
    github.revoke_tokens("member")
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 401


def test_while_github_is_unreachable_the_last_answer_holds_until_the_grace_ends(org_app, github, settings):
    _, token = member_credentials(org_app)
    github.unavailable = True
    asked = github.org_requests
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 200
    assert github.org_requests > asked  # it did ask
    set_column(settings, tables.github_accounts, tables.github_accounts.c.principal, "github:42",
               checked_at=datetime.now(UTC) - timedelta(hours=2))  # fmt: skip
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 401
    github.unavailable = False  # GitHub is back and says "member": admitted again (nothing was revoked)
    assert requests.get(f"{org_app.url}/me", headers=bearer(token), timeout=10).status_code == 200


def test_the_oauth_token_is_stored_encrypted(org_app, github, settings):
    member_credentials(org_app)
    issued = [token for token, login in github.tokens.items() if login == "member"]
    with sa.create_engine(settings.database_url).connect() as conn:
        stored = conn.execute(sa.select(tables.github_accounts.c.access_token)).scalars().all()
    assert stored and not any(plain in (value or "") for plain in issued for value in stored)


def test_allow_list_answers_are_cached_per_principal_for_the_cache_time():
    from mlservice.identity.authenticator import AllowList  # pylint: disable=import-outside-toplevel
    from mlservice.identity.principal import Principal  # pylint: disable=import-outside-toplevel
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel

    class Membership:
        """Stands in for GitHub's membership answer, counting the questions."""

        member, asked = True, 0

        def still_member(self, _principal):
            self.asked += 1
            return self.member

    now = [0.0]
    membership = Membership()
    allow = AllowList(Settings(github_allowed_orgs="acme", allowlist_cache_seconds=60), membership, lambda: now[0])
    user = Principal.github(42, "member")
    assert allow.admits(user) and allow.admits(user) and membership.asked == 1
    membership.member = False
    now[0] = 59.0
    assert allow.admits(user)  # within the cache time
    now[0] = 61.0
    assert not allow.admits(user) and membership.asked == 2
    assert allow.admits(Principal.service("ci")) and allow.admits(Principal.local())  # not subject to the lists
