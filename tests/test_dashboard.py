"""Dashboard tests: its helpers as plain functions, and the page through Streamlit's ``AppTest``.

The page tests drive ``dashboard.py`` against the real REST API process (``rest_server``: gunicorn
over a real MLflow server on PostgreSQL + S3); no HTTP call is mocked. Every model they train is
deleted again.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from mlservice.dashboard.client import (
    ApiClient,
    ApiError,
    ApiUnavailable,
    binding_of,
    github_login_url,
    load_settings,
    mlflow_model_url,
    mlflow_run_url,
    resolve_token,
)
from mlservice.dashboard.forms import (
    DataError,
    changed_params,
    confusion_counts,
    field_spec,
    prediction_rows,
    predictions_table,
    read_table,
    training_data,
)
from mlservice.dashboard.tables import key_metric, metrics_wide, models_table
from mlservice.dashboard.text import md
from tests.conftest import ROOT, free_port

DASHBOARD = str(ROOT / "dashboard.py")
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]

# --------------------------------------------------------------------------------------------------
# Helpers, without a server
# --------------------------------------------------------------------------------------------------


def test_settings_come_from_the_environment(tmp_path):
    settings = load_settings(
        {
            "API_URL": "http://api:5000/",
            "DASHBOARD_URL": "http://dash.example:8501",
            "MLFLOW_UI_URL": "http://mlflow.example",
            "MLSERVICE_STATE_DIR": str(tmp_path),
        }
    )
    assert settings.api_url == "http://api:5000"
    assert settings.api_public_url == "http://api:5000"  # defaults to API_URL
    assert settings.minio_console_url is None  # no link unless configured
    assert github_login_url(settings, "n" * 43) == (
        "http://api:5000/login?next=http%3A%2F%2Fdash.example%3A8501&binding=" + binding_of("n" * 43)
    )
    assert mlflow_run_url(settings, "abc123") == "http://mlflow.example/#/runs/abc123"
    assert mlflow_model_url(settings, "iris", 2) == "http://mlflow.example/#/models/iris/versions/2"
    assert load_settings({"API_URL": "http://api", "API_PUBLIC_URL": "https://api.example"}).api_public_url == (
        "https://api.example"
    )


def test_a_visitor_gets_their_own_token_or_the_local_token_on_loopback_only(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_API_TOKEN", "mls_dashboards_own")  # never used for a visitor any more
    settings = load_settings({"MLSERVICE_STATE_DIR": str(tmp_path), "DASHBOARD_API_TOKEN": "mls_dashboards_own"})
    assert resolve_token(None, settings, "127.0.0.1") == (None, None)
    (tmp_path / "local_api_token").write_text("mls_local\n")
    for loopback in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert resolve_token(None, settings, loopback) == ("mls_local", "local token")
    for published in ("0.0.0.0", "", None, "192.168.1.5", "::"):
        assert resolve_token(None, settings, published) == (None, None)
    assert resolve_token("mls_session", settings, "0.0.0.0") == ("mls_session", "session")
    assert ApiClient("http://x", token="mls_session").headers()["Authorization"] == "Bearer mls_session"
    assert "Authorization" not in ApiClient("http://x").headers()


@pytest.mark.parametrize(
    ("hyperparameter", "kind", "default", "bounds"),
    [
        ({"name": "fit_intercept", "types": ["bool"], "default": True}, "checkbox", True, (None, None)),
        (
            {"name": "solver", "types": ["str"], "default": "lbfgs", "choices": ["lbfgs", "saga"]},
            "select",
            "lbfgs",
            (None, None),
        ),
        (
            {
                "name": "max_iter",
                "types": ["int"],
                "default": 100,
                "ranges": [{"type": "int", "min": 0, "max": None, "closed": "left"}],
            },
            "int",
            100,
            (0, None),
        ),
        (
            {
                "name": "C",
                "types": ["float"],
                "default": 1.0,
                "ranges": [{"type": "float", "min": 0, "max": None, "closed": "right"}],
            },
            "float",
            1.0,
            (None, None),  # 0 is excluded: no minimum the widget could enforce
        ),
        (
            {
                "name": "max_depth",
                "types": ["int", "null"],
                "default": None,
                "ranges": [{"type": "int", "min": 1, "max": None, "closed": "left"}],
            },
            "int",
            None,
            (1, None),
        ),
        (
            {"name": "max_features", "types": ["float", "int", "null", "str"], "default": "sqrt", "choices": ["sqrt"]},
            "text",
            "sqrt",
            (None, None),
        ),
    ],
)
def test_form_fields_follow_the_hyperparameter_schema(hyperparameter, kind, default, bounds):
    spec = field_spec(hyperparameter)
    assert (spec.kind, spec.default, (spec.min_value, spec.max_value)) == (kind, default, bounds)
    assert str(hyperparameter["default"]) in spec.help


def test_only_changed_hyperparameters_are_sent():
    specs = [
        field_spec({"name": "C", "types": ["float"], "default": 1.0}),
        field_spec({"name": "max_iter", "types": ["int"], "default": 100}),
        field_spec({"name": "penalty", "types": ["null", "str"], "default": "deprecated", "choices": ["l1", "l2"]}),
        field_spec({"name": "max_features", "types": ["float", "str"], "default": "sqrt"}),
    ]
    assert specs[2].options == ("deprecated", "l1", "l2", None)
    unchanged = {"C": 1.0, "max_iter": 100, "penalty": "deprecated", "max_features": "sqrt"}
    assert not changed_params(specs, unchanged)
    assert changed_params(specs, {**unchanged, "C": 0.5, "penalty": None, "max_features": " 0.5 "}) == {
        "C": 0.5,
        "penalty": None,
        "max_features": "0.5",
    }


def test_tables_pasted_from_a_spreadsheet_become_training_data():
    frame = read_table("a\tb\tlabel\n1\t2\tcat\n3\t4.5\tdog\n")
    assert training_data(frame, "label") == {
        "X": [[1.0, 2.0], [3.0, 4.5]],
        "y": ["cat", "dog"],
        "feature_names": ["a", "b"],
    }
    assert training_data(read_table("x;y\n1;0\n2;1"), "y")["y"] == [0, 1]
    with pytest.raises(DataError, match="Column 'b' must be numeric.*row 2"):
        training_data(read_table("a,b,label\n1,2,x\n3,oops,y"), "label")
    with pytest.raises(DataError, match="empty"):
        read_table("   ")


def test_prediction_rows_match_the_model_features_by_name_or_position():
    frame = read_table("petal_width,sepal_length,sepal_width,petal_length\n0.2,5.1,3.5,1.4")
    assert prediction_rows(frame, IRIS_FEATURES) == [SETOSA]
    assert prediction_rows(read_table("a,b,c,d\n5.1,3.5,1.4,0.2"), IRIS_FEATURES) == [SETOSA]
    with pytest.raises(DataError, match="expects 4 features"):
        prediction_rows(read_table("a,b\n1,2"), IRIS_FEATURES)
    table = predictions_table(
        [SETOSA], IRIS_FEATURES, {"predictions": [0], "classes": [0, 1], "probabilities": [[0.9, 0.1]]}
    )
    assert list(table.columns) == [*IRIS_FEATURES, "prediction", "P(0)", "P(1)"]


def test_confusion_counts_every_label_pair():
    counts = confusion_counts([0, 0, 1, 2], [0, 1, 1, 1])
    assert len(counts) == 9 and counts["count"].sum() == 4
    assert counts.set_index(["actual", "predicted"]).loc[("0", "1"), "count"] == 1
    assert counts.set_index(["actual", "predicted"]).loc[("2", "2"), "count"] == 0


def test_model_tables_show_the_key_metric_newest_first():
    models = [
        {"id": "old", "task": "regression", "metrics": {"r2": 0.5, "rmse": 1.0}, "created_at": "2026-01-01T10:00:00"},
        {"id": "new", "task": "classification", "metrics": {"accuracy": 0.97}, "model_type": "svc"},
    ]
    table = models_table(models, {"svc": {"class_name": "SVC"}})
    assert table["id"].tolist() == ["new", "old"]
    assert table["key metric"].tolist() == ["accuracy 0.970", "r2 0.500"]
    assert table["class"].iloc[0] == "SVC"
    assert key_metric("classification", {}) == (None, None)
    wide = metrics_wide(
        [
            {"model_id": "m", "version": 1, "metrics": {"accuracy": 0.9}},
            {"model_id": "m", "version": 2, "metrics": {"accuracy": 0.95}},
        ]
    )
    assert wide.to_dict("records") == [{"model": "m v1", "accuracy": 0.9}, {"model": "m v2", "accuracy": 0.95}]


def test_unreachable_api_is_reported_as_unavailable():
    with pytest.raises(ApiUnavailable, match="Cannot reach the API"):
        ApiClient(f"http://127.0.0.1:{free_port()}", timeout=2).list_models()


def test_api_down_shows_a_banner_with_retry(monkeypatch, tmp_path):
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLSERVICE_STATE_DIR", str(tmp_path))
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    assert not at.exception
    assert "not reachable" in at.error[0].value
    assert at.button(key="retry").label == "Retry"
    assert not at.tabs  # nothing else is drawn while the API is down


# --------------------------------------------------------------------------------------------------
# The page, against the real REST API
# --------------------------------------------------------------------------------------------------


def server_state_dir(rest_server) -> Path:
    """The REST process's state directory (where the embedded default keeps local_api_token)."""
    state_dir = Path(rest_server.env.get("MLSERVICE_STATE_DIR") or ".state")
    return state_dir if state_dir.is_absolute() else ROOT / state_dir


def find_api_token(rest_server) -> str | None:
    """A token the REST process accepts (service token or its local token); None when it checks none."""
    if requests.get(f"{rest_server.url}/me", timeout=10).status_code in (200, 404):
        return None
    candidates = [
        entry.rpartition("=")[2].strip() for entry in rest_server.env.get("MLSERVICE_API_TOKENS", "").split(",")
    ]
    local = server_state_dir(rest_server) / "local_api_token"
    if local.exists():
        candidates.append(local.read_text().strip())
    working = [
        token
        for token in filter(None, candidates)
        if requests.get(f"{rest_server.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    ]
    if not working:
        pytest.fail("the REST API requires a token but neither MLSERVICE_API_TOKENS nor local_api_token works")
    return working[0]


@pytest.fixture(scope="module")
def api_token(rest_server) -> str | None:
    """Credentials for the test REST API (see find_api_token)."""
    return find_api_token(rest_server)


@pytest.fixture(scope="module")
def api(rest_server, api_token) -> ApiClient:
    """A REST client of the test server with working credentials, for setup, checks and cleanup."""
    return ApiClient(rest_server.url, token=api_token, timeout=60, train_timeout=120)


@pytest.fixture
def iris_csv(iris) -> str:
    X, y = iris
    lines = [",".join([*IRIS_FEATURES, "species"])]
    lines += [",".join([*map(str, row), str(label)]) for row, label in zip(X, y, strict=True)]
    return "\n".join(lines)


@pytest.fixture
def cleanup(api):
    """Model ids to delete after the test, whatever happened."""
    ids: list[str] = []
    yield ids
    for model_id in ids:
        try:
            api.delete_model(model_id)
        except ApiError:
            pass


@pytest.fixture
def trained_model(api, iris, cleanup) -> str:
    """An Iris logistic regression trained through the REST API (as another user of the service would)."""
    X, y = iris
    model_id = f"dash-{uuid.uuid4().hex[:8]}"
    api.train(
        {"model_type": "logistic_regression", "model_id": model_id, "X": X, "y": y, "feature_names": IRIS_FEATURES}
    )
    cleanup.append(model_id)
    return model_id


@pytest.fixture
def bind_address():
    """The address the dashboard under test says it listens on (Streamlit's server.address); loopback by default."""
    from streamlit import config  # pylint: disable=import-outside-toplevel

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)


def dashboard(monkeypatch, rest_server, state_dir: Path) -> AppTest:
    """The dashboard pointed at the test API; state_dir decides whether a local token signs it in."""
    monkeypatch.setenv("API_URL", rest_server.url)
    monkeypatch.setenv("MLSERVICE_STATE_DIR", str(state_dir))
    monkeypatch.delenv("DASHBOARD_API_TOKEN", raising=False)
    return AppTest.from_file(DASHBOARD, default_timeout=120)


@pytest.fixture
def signed_in(monkeypatch, rest_server, api_token, tmp_path, bind_address) -> AppTest:  # pylint: disable=unused-argument,redefined-outer-name
    """The dashboard signed in the embedded default's way: a local token file in its state directory."""
    if api_token:
        (tmp_path / "local_api_token").write_text(api_token)
    at = dashboard(monkeypatch, rest_server, tmp_path).run()
    assert not at.exception, at.exception
    return at


def assert_no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_sign_in_with_a_pasted_token(monkeypatch, rest_server, api_token, tmp_path, bind_address):  # pylint: disable=unused-argument,redefined-outer-name
    at = dashboard(monkeypatch, rest_server, tmp_path).run()  # empty state dir: no local token
    assert not at.exception
    if api_token is None:
        pytest.skip("the REST API does not check tokens (no /me): nothing to sign in to")
    assert signed_out_page(at)
    at.text_input(key="token_input").input("mls_not-a-real-token")
    at.button(key="token_submit").click().run()
    assert any("did not accept this token" in e.value for e in at.sidebar.error)
    assert "session_token" not in at.session_state

    at.text_input(key="token_input").input(api_token)
    at.button(key="token_submit").click().run()
    assert_no_errors(at)
    assert at.session_state["session_token"] == api_token
    assert any(m.value.startswith("Signed in as **") for m in at.sidebar.markdown)
    assert at.tabs and not signed_out_page(at)

    at.button(key="sign_out").click().run()
    assert "session_token" not in at.session_state
    assert signed_out_page(at)


def signed_out_page(at: AppTest) -> bool:
    """Only sign-in is offered: no tabs, no models, nobody signed in."""
    return (
        any("Sign in to use the dashboard" in info.value for info in at.info)
        and not at.tabs
        and not any(m.value.startswith("Signed in as") for m in at.sidebar.markdown)
        and not at.dataframe
        and at.text_input(key="token_input") is not None
    )


def test_a_visitor_who_has_not_signed_in_can_only_sign_in(monkeypatch, rest_server, api_token, tmp_path,
                                                          bind_address):  # fmt: skip  # pylint: disable=redefined-outer-name
    # the reproduction: in Docker mode a fresh browser session, nobody signed in, showed "Signed in as
    # dashboard" and could delete a model (the dashboard used DASHBOARD_API_TOKEN for anonymous visitors)
    if api_token is None:
        pytest.skip("the REST API does not check tokens")
    monkeypatch.setenv("DASHBOARD_API_TOKEN", api_token)
    (tmp_path / "local_api_token").write_text(api_token)  # even a local token file is not used when published
    bind_address("0.0.0.0")
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    monkeypatch.setenv("API_URL", rest_server.url)
    monkeypatch.setenv("MLSERVICE_STATE_DIR", str(tmp_path))
    at.run()
    assert not at.exception, at.exception
    assert signed_out_page(at)
    assert not [b for b in at.button if b.key == "delete_button"]


def test_embedded_default_signs_in_with_the_local_token(signed_in, api_token):
    if api_token is None:
        pytest.skip("the REST API does not check tokens")
    assert any(m.value.startswith("Signed in as **") for m in signed_in.sidebar.markdown)
    assert not signed_in.warning
    # signed in: no sign-in offers (it said "GitHub sign-in is not set up... use an API token")
    assert not any("not set up" in c.value for c in signed_in.sidebar.caption)
    assert not [t for t in signed_in.text_input if t.key == "token_input"]


def test_train_through_the_generated_form(signed_in, api, iris_csv, cleanup):
    at = signed_in
    model_id = f"dash-form-{uuid.uuid4().hex[:8]}"
    cleanup.append(model_id)
    at.selectbox(key="train_model_type").set_value("logistic_regression").run()
    # the form comes from the schema: defaults filled in, numbers as number inputs, choices as selects
    assert at.number_input(key="train_logistic_regression_hp_max_iter").value == 100
    assert at.selectbox(key="train_logistic_regression_hp_solver").value == "lbfgs"
    assert at.checkbox(key="train_logistic_regression_hp_fit_intercept").value is True
    at.radio(key="train_source").set_value("Paste a table").run()
    at.text_area(key="train_paste").input(iris_csv).run()
    assert at.selectbox(key="train_target").value == "species"
    at.number_input(key="train_logistic_regression_hp_max_iter").set_value(300)
    at.text_input(key="train_model_id").input(model_id)
    at.button(key="train_submit").click().run()
    assert_no_errors(at)

    outcome = at.session_state["train_result"]
    assert outcome["result"]["model_id"] == model_id and outcome["result"]["version"] == 1
    assert any(f"**{md(model_id)}** version **1** is trained" in s.value for s in at.success)
    assert {m.label for m in at.metric} >= {"accuracy", "f1"}
    assert outcome["confusion"]["count"].sum() == 150  # on the pasted table, via the API's predictions
    stored = api.get_model(model_id)  # what the registry has, not what the page says
    assert stored["params"]["max_iter"] == 300 and stored["feature_names"] == IRIS_FEATURES


def test_train_on_a_stored_dataset_version(signed_in, api, iris_csv, cleanup):
    if "/datasets" not in api.api_paths():
        pytest.skip("this API has no datasets")
    name = f"dash-{uuid.uuid4().hex[:6]}"
    stored = api.request("POST", "/datasets", data={"name": name}, files={"file": ("iris.csv", iris_csv.encode())})
    model_id = f"dash-ds-{uuid.uuid4().hex[:8]}"
    cleanup.append(model_id)
    try:
        at = signed_in.run()
        at.toggle(key="train_use_dataset").set_value(True).run()
        labels = [str(option) for option in at.selectbox(key="train_dataset").options]
        at.selectbox(key="train_dataset").set_value(next(i for i, label in enumerate(labels) if name in label)).run()
        assert at.selectbox(key="train_dataset_target").value == "species"
        at.text_input(key="train_model_id").input(model_id)
        at.button(key="train_submit").click().run()
        assert_no_errors(at)
        versions = api.get_model(model_id)["versions"]
        assert versions[0]["dataset"]["name"] == name and versions[0]["dataset"]["version"] == stored["version"]
        at.selectbox(key="detail_model").set_value(model_id).run()
        versions_shown = next(df.value for df in at.dataframe if "dataset" in df.value.columns)
        assert versions_shown["dataset"].tolist() == [f"{name}@{stored['version'][:8]}"]
    finally:
        api.delete_model(model_id)
        api.request("DELETE", f"/datasets/{name}/{stored['version']}")


def test_api_errors_carry_the_api_message(api):
    with pytest.raises(ApiError) as invalid:
        api.train({"X": [[1.0]], "y": [0]})  # no model_type: the API's schema validation answers 400
    assert invalid.value.status == 400
    assert "model_type" in invalid.value.message  # the per-field "errors" are part of the message


def test_api_errors_are_shown_as_messages(signed_in, iris_csv):
    at = signed_in
    at.selectbox(key="train_model_type").set_value("random_forest").run()
    at.radio(key="train_source").set_value("Paste a table").run()
    at.text_area(key="train_paste").input(iris_csv).run()
    at.text_input(key="train_random_forest_hp_max_features").input("not-a-choice")
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert any(md("max_features") in e.value for e in at.error)  # the API's 400 message, not a traceback
    assert "train_result" not in at.session_state


def test_predict_one_row_and_a_batch(signed_in, trained_model):
    at = signed_in.run()  # again: the model was trained after the first run
    at.selectbox(key="predict_model").set_value(trained_model).run()
    for name, value in zip(IRIS_FEATURES, SETOSA, strict=True):
        at.number_input(key=f"predict_{trained_model}_{name}").set_value(value)
    at.button(key="predict_submit").click().run()
    assert_no_errors(at)
    result = at.session_state["predict_result"]["result"]
    assert result["predictions"] == [0] and len(result["probabilities"][0]) == 3
    assert any("predicts **0**" in s.value for s in at.success)

    at.radio(key="predict_mode").set_value("Batch (table)").run()
    at.radio(key="predict_source").set_value("Paste a table").run()
    batch = "\n".join([",".join(IRIS_FEATURES), ",".join(map(str, SETOSA)), ",".join(map(str, VIRGINICA))])
    at.text_area(key="predict_paste").input(batch).run()
    at.button(key="predict_batch_submit").click().run()
    assert_no_errors(at)
    table = at.session_state["predict_result"]["table"]
    assert table["prediction"].tolist() == [0, 2]
    assert list(table.columns[-3:]) == ["P(0)", "P(1)", "P(2)"]
    assert at.get("download_button")  # CSV download offered


def test_retrain_shows_the_new_version_beside_the_old(signed_in, api, trained_model, iris_csv):
    at = signed_in.run()  # again: the model was trained after the first run
    at.selectbox(key="retrain_model").set_value(trained_model).run()
    at.radio(key="retrain_source").set_value("Paste a table").run()
    at.text_area(key="retrain_paste").input(iris_csv).run()
    at.button(key="retrain_submit").click().run()
    assert_no_errors(at)
    assert any("version 2 is now current (was 1)" in s.value for s in at.success)
    assert api.get_model(trained_model)["version"] == 2
    outcome = at.session_state["retrain_result"]
    assert (outcome["before"]["version"], outcome["result"]["version"]) == (1, 2)
    assert at.get("vega_lite_chart")  # the two versions' metrics in one chart


def test_models_detail_and_delete_with_confirmation(signed_in, api, trained_model):
    at = signed_in.run()  # again: the model was trained after the first run
    at.selectbox(key="detail_model").set_value(trained_model).run()
    assert_no_errors(at)
    assert at.metric[0].label == "Current version"
    assert at.button(key="delete_button").disabled  # nothing is deleted without the confirmation
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete_button").click().run()
    assert_no_errors(at)
    assert any(f"Deleted model {md(trained_model)}" in s.value for s in at.success)
    with pytest.raises(ApiError) as missing:
        api.get_model(trained_model)
    assert missing.value.status == 404
    remaining = [box for box in at.selectbox if box.key == "detail_model"]
    assert not remaining or trained_model not in remaining[0].options


# --------------------------------------------------------------------------------------------------
# User-supplied names in markdown
# --------------------------------------------------------------------------------------------------

CRAFTED = "f`x` **b** [l](http://evil.example) <img src=x> $m$ :red[c] _i_ \\"


def rendered_text(markdown_text: str) -> tuple[str, str]:
    """(HTML, text) of markdown as CommonMark renders it (Streamlit's renderer follows CommonMark)."""
    from markdown_it import MarkdownIt  # pylint: disable=import-outside-toplevel

    html = MarkdownIt("commonmark").render(markdown_text)
    text = html.replace("<p>", "").replace("</p>", "").strip()
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return html, text


def test_md_shows_crafted_names_literally():
    html, text = rendered_text(f"features: {md(CRAFTED)} · **owner**")
    assert text == f"features: {CRAFTED} · <strong>owner</strong>"
    assert "<code>" not in html and "<a " not in html and "<img" not in html and "<em>" not in html
    assert "\\$" in md("$m$") and "\\:" in md(":red[c]")  # Streamlit's own math and colour directives
    assert md("line\nbreak") == "line break"


def test_a_crafted_feature_name_stays_inside_the_page_text(signed_in, api, iris, cleanup):
    X, y = iris
    model_id = f"dash-md-{uuid.uuid4().hex[:8]}"
    names = [CRAFTED, "a*b", "c[d]", "<e>"]
    api.train({"model_type": "logistic_regression", "model_id": model_id, "X": X, "y": y, "feature_names": names})
    cleanup.append(model_id)
    at = signed_in
    at.run()
    at.selectbox(key="detail_model").set_value(model_id).run()
    assert_no_errors(at)
    details = next(m.value for m in at.markdown if "features:" in m.value)
    html, text = rendered_text(details)
    assert all(name in text for name in names)
    assert "<code>" not in html and "<img" not in html and "evil.example" not in html.split("href=")[-1]
