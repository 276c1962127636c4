"""Dashboard tests: its helpers as plain functions, and the page through Streamlit's ``AppTest``.

The page tests drive ``dashboard.py`` against the real REST API process (``rest_server``: gunicorn
over a real MLflow server on PostgreSQL + S3); no HTTP call is mocked. Every model they train is
deleted again.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pandas as pd
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
from mlservice.dashboard.data import (
    DataError,
    confusion_long,
    dataset_name_for,
    default_target,
    prediction_records,
    predictions_table,
    read_table,
    table_csv,
)
from mlservice.dashboard.forms import changed_params, feature_fields, field_spec, fingerprint, value_problem
from mlservice.dashboard.tables import (
    dataset_choices,
    key_metric,
    metric_direction,
    metrics_wide,
    models_table,
    rollback_target,
    version_choices,
)
from mlservice.dashboard.text import md
from tests.conftest import ROOT, free_port, wait_for

DASHBOARD = str(ROOT / "dashboard.py")
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]
SPECIES = ["setosa", "versicolor", "virginica"]
SITES = ["north", "south"]

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


RANGE_0_OPEN = {"type": "float", "min": 0, "max": None, "closed": "right"}


@pytest.mark.parametrize(
    ("hyperparameter", "kind", "default"),
    [
        ({"name": "fit_intercept", "types": ["bool"], "default": True}, "checkbox", True),
        ({"name": "solver", "types": ["str"], "default": "lbfgs", "choices": ["lbfgs", "saga"]}, "select", "lbfgs"),
        ({"name": "max_iter", "types": ["int"], "default": 100,
          "ranges": [{"type": "int", "min": 0, "max": None, "closed": "left"}]}, "int", 100),
        ({"name": "C", "types": ["float"], "default": 1.0, "ranges": [RANGE_0_OPEN]}, "float", 1.0),
        ({"name": "max_depth", "types": ["int", "null"], "default": None,
          "ranges": [{"type": "int", "min": 1, "max": None, "closed": "left"}]}, "int", None),
        ({"name": "max_features", "types": ["float", "int", "null", "str"], "default": "sqrt", "choices": ["sqrt"]},
         "text", "sqrt"),
    ],
)  # fmt: skip
def test_form_fields_follow_the_hyperparameter_schema(hyperparameter, kind, default):
    spec = field_spec({**hyperparameter, "description": "scikit-learn's first sentence."})
    assert (spec.kind, spec.default) == (kind, default)
    assert spec.help.startswith("scikit-learn's first sentence.")  # the tooltip leads with the library's words
    assert str(hyperparameter["default"]) in spec.help


def test_an_out_of_range_value_is_said_beside_its_field():
    spec = field_spec({"name": "C", "types": ["float"], "default": 1.0, "ranges": [RANGE_0_OPEN]})
    assert value_problem(spec, 0.5) is None
    assert value_problem(spec, 0.0) == "C = 0 is out of range: it must be float in (0, ∞)."
    assert value_problem(spec, -3.0) == "C = -3 is out of range: it must be float in (0, ∞)."
    nullable = field_spec({"name": "max_depth", "types": ["int", "null"], "default": None,
                           "ranges": [{"type": "int", "min": 1, "max": None, "closed": "left"}]})  # fmt: skip
    assert value_problem(nullable, None) is None and value_problem(nullable, 0) is not None


def test_only_changed_hyperparameters_are_sent():
    specs = [
        field_spec({"name": "C", "types": ["float"], "default": 1.0}),
        field_spec({"name": "max_iter", "types": ["int"], "default": 100}),
        field_spec({"name": "penalty", "types": ["null", "str"], "default": "l2", "choices": ["l1", "l2"]}),
        field_spec({"name": "max_features", "types": ["float", "str"], "default": "sqrt"}),
    ]
    assert specs[2].options == ("l1", "l2", None)
    unchanged = {"C": 1.0, "max_iter": 100, "penalty": "l2", "max_features": "sqrt"}
    assert not changed_params(specs, unchanged)
    assert changed_params(specs, {**unchanged, "C": 0.5, "penalty": None, "max_features": " 0.5 "}) == {
        "C": 0.5,
        "penalty": None,
        "max_features": "0.5",
    }


def test_tables_pasted_from_a_spreadsheet_keep_their_text():
    frame = read_table("a\tb\tsite\tlabel\n1\t2\tnorth\tcat\n3\t4.5\t01\tdog\n")
    assert list(frame.columns) == ["a", "b", "site", "label"] and frame["b"].tolist() == [2.0, 4.5]
    assert table_csv("a;site\n1;01\n2;\n") == b"a,site\n1,01\n2,\n"  # "01" stays text; a gap stays a gap
    assert dataset_name_for("Sales 2026 (final).csv") == "Sales-2026-final" and dataset_name_for("") == "pasted-table"
    assert default_target(["a", "site", "label"], ["a"], "classification") == 2
    assert default_target(["price", "site", "label"], ["price"], "regression") == 0  # never a text target


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("   ", "The table is empty"),
        ("a,b,label\n1,2,x\n3,4,5,y\n", "Line 3 has 4 fields, but the header has 3 (a, b, label)"),
        ("a,a\n1,2\n", "Two columns of the header have the same name"),
        ("a,b\n", "a header but no rows"),
    ],
)
def test_bad_tables_are_said_in_words(content, message):
    with pytest.raises(DataError, match=re.escape(message)):
        read_table(content)


def test_prediction_records_match_the_model_features_by_name_or_position():
    by_name = read_table("site,size\nnorth,1.5\n,2", as_text=True)
    assert prediction_records(by_name, ["size", "site"]) == [{"size": "1.5", "site": "north"},
                                                              {"size": "2", "site": None}]  # fmt: skip
    by_position = read_table("a,b\n1.5,north", as_text=True)
    assert prediction_records(by_position, ["size", "site"]) == [{"size": "1.5", "site": "north"}]
    with pytest.raises(DataError, match="expects 2 features"):
        prediction_records(read_table("a\n1"), ["size", "site"])
    table = predictions_table([{"size": 1.5}], {"predictions": [0], "classes": [0, 1], "probabilities": [[0.9, 0.1]]})
    assert list(table.columns) == ["size", "prediction", "P(0)", "P(1)"]


def test_the_confusion_matrix_is_the_apis_held_out_one():
    counts = confusion_long({"labels": ["a", "b"], "matrix": [[3, 1], [0, 2]], "n_rows": 6})
    assert len(counts) == 4 and counts["count"].sum() == 6
    assert counts.set_index(["actual", "predicted"]).loc[("a", "b"), "count"] == 1
    assert confusion_long(None).empty


def test_one_row_fields_are_typed_by_the_feature_schema():
    schema = [{"name": "size", "kind": "numeric", "median": 4.5},
              {"name": "site", "kind": "categorical", "categories": ["north", "south"]}]  # fmt: skip
    size, site, old = feature_fields(schema, ["size", "site", "old"])  # pylint: disable=unbalanced-tuple-unpacking
    assert (size.kind, size.default) == ("number", 4.5)
    assert (site.kind, site.options, site.default) == ("select", ("north", "south"), "north")
    assert (old.kind, old.default) == ("number", 0.0)  # a model trained before schemas were recorded


def test_versions_and_aliases_to_choose_from():
    model = {"version": 3, "aliases": {"current": 3, "challenger": 4},
             "versions": [{"version": 4}, {"version": 3}, {"version": 1}]}  # fmt: skip
    assert [c["label"] for c in version_choices(model)] == ["current (v3)", "alias challenger (v4)", "v4", "v3", "v1"]
    assert rollback_target(model) == 1  # the newest version older than current
    assert rollback_target({"version": 1, "versions": [{"version": 2}, {"version": 1}]}) is None
    assert fingerprint("m", [1.0]) == fingerprint("m", [1.0]) != fingerprint("m", [2.0])


def test_metric_directions_keep_errors_off_the_score_axis():
    assert [metric_direction(m) for m in ("accuracy", "roc_auc", "r2", "mae", "rmse")] == [
        "higher", "higher", "higher", "lower", "lower"]  # fmt: skip


def test_dataset_choices_name_what_a_training_refers_to():
    uploaded = {"name": "d", "source": "upload", "versions": [{"version": "a" * 32, "rows": 3, "columns": []}]}
    tracked = {"name": "train", "source": "dvc", "md5": "b" * 32}
    assert [c["ref"] for c in dataset_choices([uploaded, tracked])] == [f"d@{'a' * 32}", "train"]


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


def sites_csv(rows: int = 150, extra: str = "") -> str:
    """Iris with a text column `site` (north/south) and string labels: the table of issue 16."""
    from sklearn.datasets import load_iris  # pylint: disable=import-outside-toplevel

    X, y = load_iris(return_X_y=True)
    lines = [",".join([*IRIS_FEATURES, "site", "species"])]
    for i, (row, label) in enumerate(zip(X.tolist()[:rows], y.tolist()[:rows], strict=True)):
        lines.append(",".join([*(f"{v:.1f}" for v in row), SITES[i % 2], SPECIES[label]]))
    return "\n".join(lines) + extra


@pytest.fixture
def cleanup(api):
    """Model ids (and then dataset names) to delete after the test, whatever happened."""
    made: dict[str, list[str]] = {"models": [], "datasets": []}
    yield made
    for model_id in made["models"]:
        try:
            api.delete_model(model_id)
        except ApiError:
            pass
    for name in made["datasets"]:
        try:
            for version in api.request("GET", f"/datasets/{name}")["versions"]:
                api.delete_dataset(name, version["version"])
        except ApiError:
            pass


@pytest.fixture
def trained_model(api, iris, cleanup) -> str:
    """An Iris logistic regression trained on inline rows through the REST API (as another user would)."""
    X, y = iris
    model_id = f"dash-{uuid.uuid4().hex[:8]}"
    api.train(
        {"model_type": "logistic_regression", "model_id": model_id, "X": X, "y": y, "feature_names": IRIS_FEATURES}
    )
    cleanup["models"].append(model_id)
    return model_id


@pytest.fixture
def site_model(api, cleanup) -> str:
    """A model trained through the REST API on a stored dataset with the text column `site`."""
    name = f"sites-{uuid.uuid4().hex[:6]}"
    stored = api.upload_dataset(name, sites_csv().encode())
    cleanup["datasets"].append(name)
    model_id = f"dash-sites-{uuid.uuid4().hex[:8]}"
    api.train({"model_type": "logistic_regression", "model_id": model_id, "dataset": f"{name}@{stored['version']}",
               "target": "species", "params": {"max_iter": 500}})  # fmt: skip
    cleanup["models"].append(model_id)
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


def paste_training_table(at: AppTest, content: str, prefix: str = "train") -> AppTest:
    at.radio(key=f"{prefix}_source").set_value("Paste a table").run()
    return at.text_area(key=f"{prefix}_paste").input(content).run()


def test_a_table_with_text_columns_trains_through_a_dataset_with_held_out_evaluation(signed_in, api, cleanup):
    """Issue 16: a text column was refused ("must be numeric"); the confusion matrix counted all 150 rows
    beside metrics from the 30 held-out ones."""
    at = signed_in
    model_id = f"dash-form-{uuid.uuid4().hex[:8]}"
    cleanup["models"].append(model_id)
    at.selectbox(key="train_model_type").set_value("logistic_regression").run()
    # the form comes from the schema: defaults filled in, numbers as number inputs, choices as selects
    assert at.number_input(key="train_logistic_regression_hp_max_iter").value == 100
    assert at.selectbox(key="train_logistic_regression_hp_solver").value == "lbfgs"
    assert at.selectbox(key="train_logistic_regression_hp_penalty").value == "l2"  # never 'deprecated'
    assert at.number_input(key="train_logistic_regression_hp_C").help.startswith("Inverse of regularization strength")
    paste_training_table(at, sites_csv())
    assert at.selectbox(key="train_target").value == "species"
    at.text_input(key="train_dataset_name").input(dataset := f"dash-{uuid.uuid4().hex[:6]}")
    cleanup["datasets"].append(dataset)
    at.number_input(key="train_logistic_regression_hp_max_iter").set_value(300)
    at.text_input(key="train_model_id").input(model_id)
    at.button(key="train_submit").click().run()
    assert_no_errors(at)

    result = at.session_state["train_result"]["result"]
    assert result["model_id"] == model_id and result["version"] == 1 and result["evaluation"] == "holdout"
    assert any(f"**{md(model_id)}** version **1** is trained" in s.value for s in at.success)
    assert {m.label for m in at.metric} >= {"accuracy", "f1"}
    held_out = result["confusion_matrix"]
    assert sum(map(sum, held_out["matrix"])) == result["n_eval"] == 30  # the metrics' rows, not all 150
    assert any("Confusion matrix** on the 30 held-out rows" in m.value for m in at.markdown)
    stored = api.get_model(model_id)  # what the registry has, not what the page says
    assert stored["params"]["max_iter"] == 300 and stored["feature_names"] == [*IRIS_FEATURES, "site"]
    assert stored["versions"][0]["dataset"]["name"] == dataset  # lineage: the table was stored as a dataset
    assert {f["name"]: f["kind"] for f in stored["feature_schema"]}["site"] == "categorical"


def test_enter_in_any_box_never_starts_a_training(signed_in, api, cleanup):
    """Issue 16: Enter in a hyperparameter or model-id box submitted the form (three Enters, three models)."""
    at = paste_training_table(signed_in, sites_csv())
    model_id = f"dash-enter-{uuid.uuid4().hex[:8]}"
    cleanup["models"].append(model_id)
    jobs_before = len(api.jobs())
    at.selectbox(key="train_model_type").set_value("random_forest").run()
    for _ in range(3):  # Enter applies a text box's value: a rerun with the new value, nothing more
        at.text_input(key="train_model_id").input(model_id).run()
        at.text_input(key="train_random_forest_hp_max_features").input("log2").run()
        at.number_input(key="train_random_forest_hp_n_estimators").set_value(20).run()
    assert_no_errors(at)
    assert "train_result" not in at.session_state and not at.get("status")
    assert len(api.jobs()) == jobs_before
    with pytest.raises(ApiError) as missing:
        api.get_model(model_id)
    assert missing.value.status == 404


def test_a_result_goes_when_its_inputs_change_and_never_sits_beside_a_failure(signed_in, cleanup):
    """Issue 16: the previous success card stayed while data or class changed, even above a new failure."""
    at = paste_training_table(signed_in, sites_csv())
    model_id = f"dash-stale-{uuid.uuid4().hex[:8]}"
    cleanup["models"].append(model_id)
    at.text_input(key="train_model_id").input(model_id)
    at.button(key="train_submit").click().run()
    assert any("is trained and registered" in s.value for s in at.success)
    at.text_area(key="train_paste").input(sites_csv(rows=120)).run()  # other data: the old result goes
    assert not any("is trained and registered" in s.value for s in at.success)
    assert "train_result" not in at.session_state
    at.text_area(key="train_paste").input(sites_csv()).run()  # and it does not come back
    assert not any("is trained and registered" in s.value for s in at.success)
    at.button(key="train_submit").click().run()  # the same id again: refused (409)
    assert any("already taken" in e.value for e in at.error)
    assert not any("is trained and registered" in s.value for s in at.success)  # no stale success beside it


def test_train_on_a_stored_dataset_version_with_its_preview(signed_in, api, iris_csv_text, cleanup):
    name = f"dash-{uuid.uuid4().hex[:6]}"
    stored = api.upload_dataset(name, iris_csv_text.encode())
    cleanup["datasets"].append(name)
    model_id = f"dash-ds-{uuid.uuid4().hex[:8]}"
    cleanup["models"].append(model_id)
    at = signed_in.run()
    at.radio(key="train_source").set_value("Dataset version").run()
    at.selectbox(key="train_dataset").set_value(f"{name}@{stored['version']}").run()
    assert at.selectbox(key="train_dataset_target").value == "species"
    assert any(len(df.value) == 6 and "sepal_length" in df.value.columns for df in at.dataframe)  # a preview
    at.selectbox(key="train_model_type").set_value("ridge").run()  # a regressor: the target must be a number
    assert at.selectbox(key="train_dataset_target").value == "species"  # kept: the user chose it
    at.selectbox(key="train_model_type").set_value("logistic_regression").run()
    at.text_input(key="train_model_id").input(model_id)
    at.button(key="train_submit").click().run()
    assert_no_errors(at)
    versions = api.get_model(model_id)["versions"]
    assert versions[0]["dataset"]["name"] == name and versions[0]["dataset"]["version"] == stored["version"]
    at.selectbox(key="detail_model").set_value(model_id).run()
    details = next(table.value for table in at.table if "data" in table.value.columns)
    assert details["data"].tolist() == [f"{name}@{stored['version'][:8]} (150 rows × 4 features)"]


def test_a_regressor_defaults_to_a_numeric_target(signed_in):
    """Issue 16: dataset mode defaulted the target to the last column even when it was text."""
    at = signed_in
    at.selectbox(key="train_model_type").set_value("ridge").run()
    paste_training_table(at, sites_csv())
    assert at.selectbox(key="train_target").value == "petal_width"  # the last numeric column, not 'species'


def test_api_errors_carry_the_api_message(api):
    with pytest.raises(ApiError) as invalid:
        api.train({"X": [[1.0]], "y": [0]})  # no model_type: the API's schema validation answers 400
    assert invalid.value.status == 400
    assert "model_type" in invalid.value.message  # the per-field "errors" are part of the message


def test_api_errors_are_shown_as_messages(signed_in):
    at = signed_in
    at.selectbox(key="train_model_type").set_value("random_forest").run()
    paste_training_table(at, sites_csv())
    at.text_input(key="train_random_forest_hp_max_features").input("not-a-choice")
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert any(md("max_features") in e.value for e in at.error)  # the API's 400 message, not a traceback
    assert "train_result" not in at.session_state


def test_bad_input_is_said_at_the_field_that_caused_it(signed_in):
    """Issue 16: an empty file showed nothing until Train; a ragged CSV showed pandas' tokenizer error; an
    out-of-range hyperparameter showed only a small red icon."""
    at = signed_in
    at.file_uploader(key="train_upload").upload("empty.csv", b"", "text/csv").run()
    assert any("empty.csv is empty" in e.value for e in at.error)
    assert at.button(key="train_submit").disabled
    paste_training_table(at, "a,b,label\n1,2,x\n3,4,5,y\n")
    assert any("Line 3 has 4 fields, but the header has 3" in e.value for e in at.error)
    assert not any("Error tokenizing" in e.value for e in at.error)
    paste_training_table(at, sites_csv())
    at.number_input(key="train_logistic_regression_hp_C").set_value(-1.0).run()
    assert any(e.value == "C = -1 is out of range: it must be float in (0, ∞)." for e in at.error)
    assert at.button(key="train_submit").disabled


def test_predict_one_row_typed_per_feature_and_a_batch(signed_in, site_model):
    """Issue 16: `site` was a number box (its 0 made the API answer 500), inputs started at 0 and the
    version was a free number box; a new error appeared above old results and their Download button."""
    at = signed_in.run()  # again: the model was trained after the first run
    at.selectbox(key="predict_model").set_value(site_model).run()
    assert at.selectbox(key=f"predict_version_{site_model}").options == ["current (v1)", "v1"]
    assert at.selectbox(key=f"predict_{site_model}_site").options == SITES
    assert at.number_input(key=f"predict_{site_model}_petal_length").value == 4.35  # the training median
    for name, value in zip(IRIS_FEATURES, SETOSA, strict=True):
        at.number_input(key=f"predict_{site_model}_{name}").set_value(value)
    at.button(key="predict_submit").click().run()
    assert_no_errors(at)
    assert any("predicts **setosa**" in s.value for s in at.success)
    at.number_input(key=f"predict_{site_model}_petal_length").set_value(5.2).run()  # new inputs: old answer goes
    assert not any("predicts" in s.value for s in at.success) and not at.get("download_button")

    at.radio(key="predict_mode").set_value("Batch (table)").run()
    at.radio(key="predict_source").set_value("Paste a table").run()
    header = ",".join([*IRIS_FEATURES, "site"])
    rows = [",".join([*map(str, SETOSA), "north"]), ",".join([*map(str, VIRGINICA), "east"])]
    at.text_area(key="predict_paste").input("\n".join([header, *rows])).run()
    at.button(key="predict_batch_submit").click().run()
    assert_no_errors(at)
    table = at.session_state["predict_result"]["table"]
    assert table["prediction"].tolist() == ["setosa", "virginica"]
    assert list(table.columns[-3:]) == ["P(setosa)", "P(versicolor)", "P(virginica)"]
    assert at.get("download_button")  # CSV download offered
    at.text_area(key="predict_paste").input("\n".join([header, "big,3.5,1.4,0.2,north"])).run()
    at.button(key="predict_batch_submit").click().run()
    assert any("feature 'sepal_length' must be numeric" in e.value for e in at.error)
    assert "predict_result" not in at.session_state and not at.get("download_button")  # nothing stale


def test_retrain_as_challenger_then_promote_and_roll_back(signed_in, api, site_model):
    """Issue 16: retrain always moved current and nothing could promote or roll back; retrain did not
    preselect the model's own dataset and target; the Models tab showed v1 after a retrain."""
    at = signed_in.run()
    at.selectbox(key="retrain_model").set_value(site_model).run()
    assert at.radio(key=f"retrain_{site_model}_source").value == "Dataset version"
    assert at.selectbox(key=f"retrain_{site_model}_dataset_target").value == "species"
    at.number_input(key=f"retrain_{site_model}_hp_C").set_value(0.05)
    at.checkbox(key=f"retrain_{site_model}_challenger").check().run()
    at.button(key="retrain_submit").click().run()
    assert_no_errors(at)
    assert any("version 2 is registered as the challenger; current stays on v1" in s.value for s in at.success)
    assert api.get_model(site_model)["aliases"] == {"current": 1, "challenger": 2}
    assert at.get("vega_lite_chart")  # the two versions' scores side by side
    at.selectbox(key="detail_model").set_value(site_model).run()
    assert [m.value for m in at.metric if m.label == "Versions"] == ["2"]  # the Models tab knows at once

    assert at.button(key="promote_button").disabled  # nothing moves without the confirmation
    assert at.selectbox(key="promote_version").value == 2  # the challenger is offered first
    at.checkbox(key="promote_confirm").check().run()
    at.button(key="promote_button").click().run()
    assert any(f"Promoted: {site_model} now serves v2 (was v1)" in s.value for s in at.success)
    assert api.get_model(site_model)["version"] == 2
    at.checkbox(key="rollback_confirm").check().run()
    at.button(key="rollback_button").click().run()
    assert any(f"Rolled back: {site_model} now serves v1 (was v2)" in s.value for s in at.success)
    assert api.get_model(site_model)["version"] == 1
    assert [e["reason"] for e in api.get_model(site_model)["alias_log"][:2]] == ["set", "set"]


def chart_rows(chart) -> pd.DataFrame:
    """The data of a chart as Streamlit sends it to the browser (Arrow)."""
    import pyarrow as pa  # pylint: disable=import-outside-toplevel

    return pd.concat([pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets])


def test_compare_keeps_errors_off_the_score_axis_and_shows_params(signed_in, api, iris, cleanup):
    """Issue 16: the compare chart put MAE/RMSE on accuracy's 0-1 axis."""
    X, _ = iris
    model_id = f"dash-reg-{uuid.uuid4().hex[:8]}"
    cleanup["models"].append(model_id)
    api.train({"model_type": "ridge", "model_id": model_id, "X": X, "y": [r[0] * 10 for r in X],
               "params": {"alpha": 2.5}})  # fmt: skip
    at = signed_in.run()
    at.multiselect(key="compare_models").set_value([model_id]).run()
    assert_no_errors(at)
    charts = {json.loads(chart.proto.spec).get("title"): chart_rows(chart) for chart in at.get("vega_lite_chart")}
    assert set(charts["Higher is better (scores)"]["metric"]) == {"r2"}  # r2 apart from the errors
    assert set(charts["Lower is better (errors, in the target's units)"]["metric"]) == {"mae", "rmse"}
    assert any("alpha=2.5" in str(table.value) for table in at.table)


def test_datasets_view_uploads_previews_and_guards_deletion(signed_in, api, site_model, cleanup):
    at = signed_in.run()
    name = f"dash-up-{uuid.uuid4().hex[:6]}"
    cleanup["datasets"].append(name)
    at.text_input(key="datasets_upload_name").input(name)
    at.file_uploader(key="datasets_upload_file").upload("flowers.csv", sites_csv(rows=12).encode(), "text/csv")
    at.button(key="datasets_upload_button").click().run()
    assert any(f"{name}@" in s.value and "12 rows, stored as a new version" in s.value for s in at.success)
    assert at.selectbox(key="datasets_name").value == name  # the new dataset is listed and shown at once
    preview = next(df.value for df in at.dataframe if "species" in df.value.columns and len(df.value) == 12)
    assert "site" in preview.columns  # the whole (12-row) preview of the new version
    at.checkbox(key="dataset_delete_confirm").check().run()
    at.button(key="dataset_delete_button").click().run()
    assert any("Deleted" in s.value for s in at.success)

    used = api.get_model(site_model)["versions"][0]["dataset"]
    at.selectbox(key="datasets_name").set_value(used["name"]).run()
    assert any(f"Models trained on this version: {site_model}" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "dataset_delete_button"]  # no delete while models use it


def test_jobs_view_lists_jobs_and_cancels_an_unfinished_one(signed_in, api, cleanup):
    name = f"dash-big-{uuid.uuid4().hex[:6]}"
    stored = api.upload_dataset(name, sites_csv().encode())
    cleanup["datasets"].append(name)
    slow = {"model_type": "random_forest", "dataset": f"{name}@{stored['version']}", "target": "species",
            "params": {"n_estimators": 5000, "max_depth": 1000}, "async": True}  # fmt: skip
    job = api.train(slow)
    at = signed_in.run()
    assert_no_errors(at)
    shown = next(df.value for df in at.dataframe if "phase" in df.value.columns)
    assert job["id"] in shown["job"].tolist()
    at.selectbox(key="jobs_cancel_pick").set_value(job["id"]).run()
    at.button(key="jobs_cancel_button").click().run()
    assert any(f"Job {job['id']}" in s.value for s in at.success)
    finished = wait_for(lambda: (j := api.job(job["id"]))["status"] in ("cancelled", "succeeded") and j, 240)
    assert finished["status"] == "cancelled"


def test_retrain_shows_the_new_version_beside_the_old(signed_in, api, trained_model, iris_csv_text):
    at = signed_in.run()  # again: the model was trained after the first run
    at.selectbox(key="retrain_model").set_value(trained_model).run()
    assert at.radio(key=f"retrain_{trained_model}_source").value == "Upload a CSV"  # trained inline: no dataset
    paste_training_table(at, iris_csv_text, prefix=f"retrain_{trained_model}")
    at.button(key="retrain_submit").click().run()
    assert_no_errors(at)
    assert any("version 2 is now current (was 1)" in s.value for s in at.success)
    assert api.get_model(trained_model)["version"] == 2
    assert at.get("vega_lite_chart")  # the two versions' metrics in one chart


@pytest.fixture
def iris_csv_text(iris) -> str:
    X, y = iris
    lines = [",".join([*IRIS_FEATURES, "species"])]
    lines += [",".join([*map(str, row), str(label)]) for row, label in zip(X, y, strict=True)]
    return "\n".join(lines)


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
    cleanup["models"].append(model_id)
    at = signed_in
    at.run()
    at.selectbox(key="detail_model").set_value(model_id).run()
    assert_no_errors(at)
    details = next(m.value for m in at.markdown if "features:" in m.value)
    html, text = rendered_text(details)
    assert all(name in text for name in names)
    assert "<code>" not in html and "<img" not in html and "evil.example" not in html.split("href=")[-1]
