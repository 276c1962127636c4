"""End-to-end: the dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

``streamlit run dashboard.py`` runs as a real process against the real REST API (``rest_server``). One
test walks the story of issue 16 the way a user would, in the dashboard alone: sign in, upload a CSV with
a text column, train (Enter in a box starts nothing), predict one row (typed fields) and a batch,
retrain as a challenger, compare, promote it, roll back, delete. Another reads the Swagger page.
Screenshots are kept under ``screenshots/`` (git-ignored). It waits for concrete elements, never
fixed sleeps: Streamlit draws only after its websocket connects, and again after every rerun.
Playwright never downloads a browser here: ``executable_path`` is the system one.
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
from tests.test_dashboard import IRIS_FEATURES, SETOSA, find_api_token, sites_csv

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


def sign_in(page, dashboard_url: str, api_token: str | None) -> None:
    page.goto(dashboard_url)
    page.locator('[data-testid="stApp"]').wait_for()
    page.get_by_text("Models dashboard").wait_for()  # drawn after the websocket connected
    if api_token:  # sign in by pasting a token, as a person without GitHub would
        page.get_by_label("API token").fill(api_token)
        page.get_by_role("button", name="Use token").click()
        page.get_by_text("Signed in for this browser session.").wait_for()
    page.get_by_role("tab").nth(6).wait_for()  # the tabs of the signed-in run are drawn
    wait_idle(page)


def shot(page, name: str) -> None:
    wait_idle(page)
    page.screenshot(path=SCREENSHOTS / f"dashboard-{name}.png", full_page=True)


def pick(page, panel, label: str, option: str) -> None:
    """Choose an option of a Streamlit select box by its label."""
    panel.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def train_from_an_uploaded_csv(page, api: ApiClient, model_id: str, csv_path: Path) -> None:
    panel = open_tab(page, "Train")
    panel.locator('input[type="file"]').first.set_input_files(str(csv_path))
    panel.get_by_text("150 rows × 6 columns").wait_for()
    panel.get_by_text("text, one-hot encoded: site").wait_for()
    iterations = panel.get_by_label("max_iter", exact=True)
    iterations.fill("500")
    iterations.press("Enter")  # applies the value; never starts a training
    wait_idle(page)
    box = panel.get_by_label("Model id (optional)")
    box.fill(model_id)
    box.press("Enter")
    wait_idle(page)
    assert panel.get_by_text("Training Logistic").count() == 0
    assert requests.get(f"{api.base_url}/models/{model_id}", headers=api.headers(), timeout=30).status_code == 404
    panel.get_by_role("button", name="Train model").click()
    panel.get_by_text("is trained and registered").wait_for(timeout=120_000)
    panel.get_by_text("held-out rows").first.wait_for()
    panel.get_by_text("Confusion matrix").wait_for()
    panel.locator('[data-testid="stVegaLiteChart"]').first.scroll_into_view_if_needed()
    shot(page, "train")
    assert api.get_model(model_id)["version"] == 1  # the registry has it, not only the page


def predict_a_row_and_a_batch(page, model_id: str) -> None:
    panel = open_tab(page, "Predict")
    pick(page, panel, "site", "south")  # a select of the categories the model knows, not a number box
    for name, value in zip(IRIS_FEATURES, SETOSA, strict=True):
        field = panel.get_by_label(name, exact=True)
        field.fill(str(value))
        field.press("Tab")
    wait_idle(page)
    panel.get_by_role("button", name="Predict", exact=True).click()
    panel.get_by_text(f"{model_id} v1 predicts setosa").wait_for()
    shot(page, "predict")
    panel.get_by_text("Batch (table)").click()
    wait_idle(page)
    panel.get_by_text("Paste a table").click()
    wait_idle(page)
    table = panel.get_by_label("Table (header row first; commas, semicolons or tabs)")
    table.fill(sites_csv(rows=12))
    table.press("Control+Enter")
    wait_idle(page)
    panel.get_by_role("button", name="Predict", exact=True).click()
    panel.get_by_text(f"{model_id} v1: 12 predictions").wait_for()
    panel.get_by_role("button", name="Download predictions (CSV)").wait_for()
    shot(page, "predict-batch")


def retrain_as_challenger_and_compare(page, model_id: str) -> None:
    panel = open_tab(page, "Retrain")
    strength = panel.get_by_label("C", exact=True)  # its own dataset and target are preselected
    strength.fill("0.05")
    strength.press("Tab")
    wait_idle(page)
    panel.get_by_text("Register as the challenger").click()
    wait_idle(page)
    panel.get_by_role("button", name="Retrain", exact=True).click()
    panel.get_by_text("version 2 is registered as the challenger; current stays on v1").wait_for(timeout=120_000)
    panel = open_tab(page, "Compare")
    panel.get_by_text("Every version, not only the current one").click()
    panel.locator('[data-testid="stTable"]').get_by_text(f"{model_id} v2").wait_for()  # every version listed
    panel.locator('[data-testid="stVegaLiteChart"]').nth(0).wait_for()
    cell = panel.locator('[data-testid="stTable"] td').filter(has_text="max_iter=500").first
    assert cell.evaluate("cell => cell.scrollWidth <= cell.clientWidth")  # the params wrap: nothing cut off
    shot(page, "compare")


def promote_and_roll_back(page, model_id: str) -> None:
    panel = open_tab(page, "Models")
    panel.get_by_text("Yes, serve v2 instead of v1").click()
    wait_idle(page)
    panel.get_by_role("button", name="Promote v2").click()
    panel.get_by_text(f"Promoted: {model_id} now serves v2 (was v1).").wait_for()
    shot(page, "promoted")
    panel.get_by_text("Yes, roll back from v2 to v1").click()
    wait_idle(page)
    panel.get_by_role("button", name="Roll back to v1").click()
    panel.get_by_text(f"Rolled back: {model_id} now serves v1 (was v2).").wait_for()


def delete_the_model(page, model_id: str) -> None:
    panel = open_tab(page, "Models")
    panel.get_by_text(f"Delete {model_id}", exact=True).click()
    panel.get_by_text(f"Yes, delete {model_id} for good").click()
    wait_idle(page)
    panel.get_by_role("button", name="Delete model").click()
    panel.get_by_text(f"Deleted model {model_id} and all its versions.").wait_for()


def test_the_whole_lifecycle_in_the_dashboard_alone(page, dashboard_url, rest_server, api_token, tmp_path):
    """Upload a CSV with text columns, train, predict one row and a batch, retrain as a challenger,
    compare, promote it, roll back, and delete: all in Chromium, checked against the API."""
    api = ApiClient(rest_server.url, token=api_token, timeout=60)
    model_id = f"browser-{uuid.uuid4().hex[:8]}"
    csv_path = tmp_path / "flowers-with-sites.csv"
    csv_path.write_text(sites_csv())
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        sign_in(page, dashboard_url, api_token)
        train_from_an_uploaded_csv(page, api, model_id, csv_path)
        predict_a_row_and_a_batch(page, model_id)
        retrain_as_challenger_and_compare(page, model_id)
        promote_and_roll_back(page, model_id)
        assert api.get_model(model_id)["aliases"] == {"current": 1, "challenger": 2}
        delete_the_model(page, model_id)
    finally:
        requests.delete(f"{rest_server.url}/models/{model_id}", headers=api.headers(), timeout=60)
        for version in (api.request("GET", "/datasets/flowers-with-sites") or {}).get("versions", []):
            requests.delete(f"{rest_server.url}/datasets/flowers-with-sites/{version['version']}",
                            headers=api.headers(), timeout=60)  # fmt: skip
    assert requests.get(f"{rest_server.url}/models/{model_id}", headers=api.headers(), timeout=30).status_code == 404
    assert (SCREENSHOTS / "dashboard-promoted.png").stat().st_size > 10_000


def test_swagger_shows_how_to_authorize(page, rest_server):
    """Issue 16: the intro read "Authorize with 'Bearer '": the <token> placeholder was taken for an HTML tag."""
    page.goto(f"{rest_server.url}/")
    intro = page.locator(".info .description")
    intro.wait_for()
    assert "Authorize with Bearer <token>: an API token" in intro.inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "swagger-intro.png")
