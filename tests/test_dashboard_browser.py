"""End-to-end: the dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``streamlit run dashboard.py`` runs as a real process against the real REST API (``rest_server``). The
test opens the page, signs in by pasting a token, trains an Iris model through the generated form,
predicts one row and saves screenshots under ``screenshots/`` (git-ignored). It waits for concrete
elements, never fixed sleeps: Streamlit draws only after its websocket connects, and again after
every rerun. Playwright never downloads a browser here: ``executable_path`` is the system one.
"""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest
import requests

from mlservice.dashboard.client import ApiClient
from tests.conftest import ROOT, ManagedProcess, base_env, free_port, http_ok, wait_until
from tests.test_dashboard import IRIS_FEATURES, VIRGINICA, find_api_token

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "screenshots"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium: run 'make system-deps' (Debian package 'chromium')"
    ),
]


@pytest.fixture(scope="module")
def dashboard_url(rest_server, log_dir, tmp_path_factory):
    """``streamlit run dashboard.py`` on a free port, talking to the test REST API; stopped afterwards.

    Its state directory is empty, so it starts signed out and the test signs in like a person would.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(
        API_URL=rest_server.url,
        DASHBOARD_URL=url,
        MLSERVICE_STATE_DIR=str(tmp_path_factory.mktemp("dashboard-state")),
    )
    env.pop("DASHBOARD_API_TOKEN", None)
    args = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless", "true"]
    args += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    process = ManagedProcess("dashboard", args, env, log_dir).start()
    try:
        wait_until(http_ok(f"{url}/_stcore/health"), 30, "Streamlit dashboard", process.process)
    except Exception:  # pylint: disable=broad-exception-caught
        process.stop()
        pytest.fail(f"dashboard did not start:\n{process.log_tail()}")
    yield url
    process.stop()


@pytest.fixture(scope="module")
def api_token(rest_server) -> str | None:
    return find_api_token(rest_server)


@pytest.fixture
def page():
    """A fresh Chromium page (the system browser; nothing downloaded)."""
    from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1700})
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def iris_csv() -> str:
    from sklearn.datasets import load_iris  # pylint: disable=import-outside-toplevel

    X, y = load_iris(return_X_y=True)
    rows = [",".join([*map(str, features), str(int(label))]) for features, label in zip(X, y, strict=True)]
    return "\n".join([",".join([*IRIS_FEATURES, "species"]), *rows])


def wait_idle(page) -> None:
    """Until Streamlit's script run is over (widgets of a finished run are not replaced under the mouse)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def open_tab(page, name: str):
    """Select a tab (once the page has settled) and return its visible panel."""
    wait_idle(page)
    page.get_by_role("tab", name=re.compile(rf"\b{name}$")).click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    panel.wait_for()
    return panel


def test_sign_in_train_and_predict_in_a_real_browser(page, dashboard_url, rest_server, api_token):
    api = ApiClient(rest_server.url, token=api_token, timeout=60)
    model_id = f"browser-{uuid.uuid4().hex[:8]}"
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        page.goto(dashboard_url)
        page.locator('[data-testid="stApp"]').wait_for()
        page.get_by_text("Models dashboard").wait_for()  # drawn after the websocket connected

        if api_token:  # sign in by pasting a token, as a person without GitHub would
            page.get_by_label("API token").fill(api_token)
            page.get_by_role("button", name="Use token").click()
            page.get_by_text("Signed in for this browser session.").wait_for()
        page.get_by_role("tab").nth(4).wait_for()  # the tabs of the signed-in run are drawn
        wait_idle(page)

        panel = open_tab(page, "Train")
        panel.get_by_text("Paste a table").click()
        wait_idle(page)
        table = panel.get_by_label("Table (header row first; commas, semicolons or tabs)")
        table.fill(iris_csv())
        table.press("Control+Enter")  # Streamlit applies a text area on Ctrl+Enter or blur
        panel.get_by_text("150 rows × 5 columns").wait_for()
        panel.get_by_label("Model id (optional)").fill(model_id)
        panel.get_by_role("button", name="Train model").click()
        panel.get_by_text("is trained and registered").wait_for(timeout=90_000)
        panel.get_by_text("Confusion matrix", exact=True).wait_for()
        panel.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
        wait_idle(page)
        page.screenshot(path=SCREENSHOTS / "dashboard-train.png")
        assert api.get_model(model_id)["version"] == 1  # the registry has it, not only the page

        panel = open_tab(page, "Predict")
        for name, value in zip(IRIS_FEATURES, VIRGINICA, strict=True):
            field = panel.get_by_label(name, exact=True)
            field.fill(str(value))
            field.press("Tab")
        panel.get_by_role("button", name="Predict", exact=True).click()
        panel.get_by_text(f"{model_id} v1 predicts 2").wait_for()  # the new model was preselected
        panel.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
        panel.get_by_role("button", name="Download predictions (CSV)").wait_for()
        wait_idle(page)
        page.screenshot(path=SCREENSHOTS / "dashboard-predict.png")
    finally:
        requests.delete(f"{rest_server.url}/models/{model_id}", headers=api.headers(), timeout=60)
    assert (SCREENSHOTS / "dashboard-predict.png").stat().st_size > 10_000
