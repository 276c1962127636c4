"""GitHub sign-in through the dashboard in a real headless Chromium: the sign-in nonce must survive the
browser's round trip to GitHub (a full page navigation, so a new Streamlit session) in a cookie of the
dashboard's origin, and a hand-off code planted in another browser's dashboard (login CSRF) is refused.

Real parts: ``streamlit run dashboard.py``, the REST app over HTTP (GitHub mode, in this process), the
GitHub stand-in, the system Chromium."""

from __future__ import annotations

import re
import sys

import pytest

from mlservice.dashboard.client import NONCE_COOKIE
from mlservice.rest.app import create_app
from tests.conftest import ROOT, ManagedProcess, base_env, free_port, http_ok, wait_until
from tests.github_stub import GitHubStub
from tests.test_auth import LiveApp, github_settings
from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, wait_idle

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run 'make system-deps'"),
]


@pytest.fixture(scope="module")
def stack(settings, service, log_dir, tmp_path_factory):
    """(dashboard URL, GitHub stand-in): the dashboard in front of a GitHub-mode REST API."""
    github = GitHubStub(free_port()).start()
    port = free_port()
    dashboard = f"http://127.0.0.1:{port}"
    api = LiveApp(create_app(github_settings(settings, github, dashboard_url=dashboard), service=service))
    env = base_env(API_URL=api.url, API_PUBLIC_URL=api.url, DASHBOARD_URL=dashboard,
                   MLSERVICE_STATE_DIR=str(tmp_path_factory.mktemp("signin-dashboard-state")))  # fmt: skip
    args = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true"]
    args += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    process = ManagedProcess("signin-dashboard", args, env, log_dir).start()
    try:
        wait_until(http_ok(f"{dashboard}/_stcore/health"), 30, "Streamlit dashboard", process.process)
        yield dashboard, github
    finally:
        process.stop()
        api.stop()
        github.stop()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def test_github_sign_in_through_the_dashboard_survives_the_round_trip(stack, browser):
    dashboard, _ = stack
    context, page = new_page(browser)
    page.goto(dashboard)
    page.get_by_text("Sign in to use the dashboard").wait_for()
    assert not page.get_by_role("tab").count()  # nothing but sign-in before signing in
    link = page.get_by_role("link", name=re.compile("Sign in with GitHub"))
    link.wait_for()
    wait_idle(page)
    cookies = {c["name"]: c["value"] for c in context.cookies(dashboard)}
    assert NONCE_COOKIE in cookies  # set in the dashboard's origin before leaving for GitHub
    with context.expect_page() as opened:  # Streamlit's link button opens a new tab: a new Streamlit session
        link.click()  # -> API /login -> GitHub -> API /authorize -> dashboard ?handoff=
    page = opened.value
    page.get_by_text("Signed in for this browser session.").wait_for()
    assert page.get_by_text(re.compile(r"Signed in as\s+octocat")).count()
    page.get_by_role("tab").nth(4).wait_for()
    wait_idle(page)
    (ROOT / "screenshots").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "screenshots" / "dashboard-github-sign-in.png"))
    assert "handoff" not in page.url


def test_a_code_planted_in_another_browser_is_refused(stack, browser):
    dashboard, _ = stack
    attacker_context, attacker = new_page(browser)
    attacker.goto(dashboard)
    attacker.get_by_role("link", name=re.compile("Sign in with GitHub")).wait_for()
    wait_idle(attacker)
    href = attacker.get_by_role("link", name=re.compile("Sign in with GitHub")).get_attribute("href")
    attacker.route(re.compile(r".*\?handoff=.*"), lambda route: route.abort())  # keep the code unused
    from playwright.sync_api import Error as PlaywrightError  # pylint: disable=import-outside-toplevel

    with attacker.expect_request(re.compile(r".*\?handoff=.*")) as caught:
        try:
            attacker.goto(href)
        except PlaywrightError:  # the navigation back to the dashboard was aborted on purpose
            pass
    planted = caught.value.url
    attacker_context.close()
    _, victim = new_page(browser)
    victim.goto(planted)
    victim.get_by_text("GitHub sign-in did not complete").wait_for()
    victim.get_by_text("Sign in to use the dashboard").wait_for()
    assert not victim.get_by_role("tab").count()
