"""Streamlit dashboard (port 8501): where users start. Sign in, bring data, train, inspect, retrain, promote and
roll back, predict, compare, manage datasets and jobs.

A front end like ``app.py``: it talks only to the REST API at ``API_URL`` through ``mlservice.dashboard``
and holds no training or MLflow code. Run it with ``streamlit run dashboard.py`` (``docker/entrypoint.sh
dashboard`` does); ``docs/DASHBOARD.md`` is the user guide.

Two rules the page keeps: a result is shown only beside the inputs that made it (each stored result
carries a fingerprint of its inputs; when they change it is dropped, and a new attempt drops it before
it starts), and no training starts from a key press (no forms: only the Train and Retrain buttons start
one; Enter in a text box merely applies the value).
"""

# pylint: disable=too-many-lines  # one Streamlit script is the page, by design (docs/ARCHITECTURE.md, rule 7)
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from mlservice.dashboard.client import (
    NONCE_COOKIE,
    ApiClient,
    ApiError,
    ApiUnavailable,
    DashboardSettings,
    github_login_url,
    load_settings,
    make_client,
    mlflow_model_url,
    new_nonce,
    resolve_token,
    valid_nonce,
)
from mlservice.dashboard.data import (
    DataError,
    confusion_long,
    content_digest,
    dataset_name_for,
    default_target,
    numeric_columns,
    prediction_records,
    predictions_table,
    probabilities_long,
    read_table,
    table_csv,
)
from mlservice.dashboard.forms import (
    FieldSpec,
    changed_params,
    feature_fields,
    field_spec,
    fingerprint,
    schema_with_defaults,
    value_problem,
)
from mlservice.dashboard.tables import (
    alias_log_table,
    compare_records,
    dataset_choices,
    datasets_table,
    jobs_table,
    key_metric,
    metrics_long,
    metrics_wide,
    models_table,
    params_table,
    rollback_target,
    short_time,
    version_choices,
    version_details,
    versions_table,
)
from mlservice.dashboard.text import md, md_list

logger = logging.getLogger(__name__)

SOURCE_UPLOAD, SOURCE_PASTE, SOURCE_DATASET = "Upload a CSV", "Paste a table", "Dataset version"
# Less empty space above the page header; nothing else is restyled.
PAGE_STYLE = "<style>.block-container{padding-top:2.5rem;padding-bottom:2rem}</style>"
PASTE_PLACEHOLDER = "sepal_length,sepal_width,petal_length,petal_width,site,species\n5.1,3.5,1.4,0.2,north,setosa\n..."
JOB_POLL_SECONDS = 0.5
FINISHED = ("succeeded", "failed", "cancelled")


CREDENTIAL_NOTES = {
    "session": "Signed in for this browser session.",
    "local token": "Using the local token of the embedded default (this dashboard listens on this machine only).",
}
# Sets the sign-in nonce as a cookie of the dashboard's origin (the component's iframe shares it), so it
# survives the browser's round trip to GitHub, which starts a new Streamlit session.
SET_NONCE_COOKIE = (
    "<script>const c = '%s=%s; path=/; max-age=3600; SameSite=Lax';"
    "try { window.parent.document.cookie = c; } catch (e) { document.cookie = c; }</script>"
)


@dataclass
class Context:
    """What every tab needs: settings, the API client, the models and the model catalogue."""

    settings: DashboardSettings
    client: ApiClient
    models: list[dict[str, Any]]
    classes: dict[str, dict[str, Any]]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def show_api_error(exc: ApiError, action: str = "") -> None:
    """The API's message, readable; never a traceback."""
    prefix = f"{action}: " if action else ""
    if exc.status == 401:
        st.warning(f"{md(prefix)}sign in first (see the sidebar). {md(exc.message)}", icon=":material/lock:")
    elif exc.status == 403:
        st.warning(f"{md(prefix)}not allowed. {md(exc.message)}", icon=":material/lock:")
    else:
        st.error(f"{md(prefix)}{md(exc.message)}", icon=":material/error:")


def api_call(action: str, function, *args, **kwargs) -> Any:
    """Call a client method; show its error and return None when it fails."""
    try:
        return function(*args, **kwargs)
    except ApiError as exc:
        show_api_error(exc, action)
        return None


@st.cache_data(ttl=60, show_spinner=False)
def cached_model_classes(api_url: str, _client: ApiClient) -> dict[str, dict[str, Any]]:
    """GET /model-classes, kept for a minute (the catalogue changes only with a deployment)."""
    logger.debug("loading model classes from %s", api_url)
    return _client.model_classes()


@st.cache_data(ttl=300, show_spinner=False)
def cached_github_available(api_url: str, _client: ApiClient) -> bool:
    """Whether to offer "Sign in with GitHub" (the API has a GitHub OAuth app configured)."""
    logger.debug("probing GitHub sign-in at %s", api_url)
    return _client.github_sign_in_available()


def number_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def class_label(classes: dict[str, dict[str, Any]], key: str) -> str:
    info = classes.get(key, {})
    return f"{info.get('class_name', key)} · {info.get('task', '')}"


def notices(prefix: str) -> None:
    """Messages a button callback left for this run (``<prefix>_notice`` / ``<prefix>_error``), in a
    container that is always there: a notice coming or going never shifts what follows (an open
    expander below would otherwise be drawn anew, closed)."""
    with st.container():
        for key, show in ((f"{prefix}_notice", st.success), (f"{prefix}_error", st.error)):
            if st.session_state.get(key):
                show(st.session_state.pop(key))


def keep_if_same_inputs(state_key: str, inputs_key: str) -> dict[str, Any] | None:
    """The stored result of ``state_key`` when it was made from these inputs; otherwise it is dropped."""
    stored = st.session_state.get(state_key)
    if stored and stored.get("inputs") != inputs_key:
        st.session_state.pop(state_key)
        return None
    return stored


# --------------------------------------------------------------------------------------------------
# Sign-in
# --------------------------------------------------------------------------------------------------


def signin_nonce() -> str:
    """This browser's sign-in nonce: its cookie (set before it left for GitHub), else a new one set as the cookie."""
    nonce = st.context.cookies.get(NONCE_COOKIE)
    if valid_nonce(nonce):
        return nonce
    nonce = st.session_state.get("signin_nonce")
    if not valid_nonce(nonce):
        nonce = st.session_state["signin_nonce"] = new_nonce()
    components.html(SET_NONCE_COOKIE % (NONCE_COOKIE, nonce), height=0)
    return nonce


def accept_handoff(settings: DashboardSettings) -> None:
    """Finish a GitHub sign-in: trade ``?handoff=<code>`` and this browser's nonce for a token for this session."""
    code = st.query_params.get("handoff")
    if not code:
        return
    del st.query_params["handoff"]
    nonce = st.context.cookies.get(NONCE_COOKIE) or st.session_state.get("signin_nonce")
    if not valid_nonce(nonce):
        st.session_state["auth_error"] = "GitHub sign-in did not complete: it was not started in this browser."
        return
    try:
        answer = make_client(settings, None).exchange_handoff(code, nonce)
        st.session_state["session_token"] = answer["token"]
        st.session_state["session_token_id"] = answer.get("id")
        st.session_state["session_login"] = answer.get("login")
        st.session_state["auth_notice"] = f"Signed in as {md(answer.get('login') or 'GitHub user')}."
    except (ApiError, KeyError) as exc:
        message = exc.message if isinstance(exc, ApiError) else "the API's answer had no token"
        st.session_state["auth_error"] = f"GitHub sign-in did not complete: {md(message)}"


def use_pasted_token(settings: DashboardSettings) -> None:
    """Button callback: check the pasted token with GET /me and keep it for this session."""
    token = (st.session_state.get("token_input") or "").strip()
    st.session_state["token_input"] = ""
    if not token:
        st.session_state["auth_error"] = "Paste an API token first."
        return
    try:
        user = make_client(settings, token).me()
    except ApiError as exc:
        st.session_state["auth_error"] = f"The API did not accept this token: {md(exc.message)}"
        return
    st.session_state["session_token"] = token
    st.session_state["session_login"] = (user or {}).get("login")
    st.session_state["auth_notice"] = "Token saved for this browser session."


def sign_out(settings: DashboardSettings) -> None:
    """Button callback: forget this session's token; a GitHub sign-in's token is revoked at the API too."""
    token, token_id = st.session_state.get("session_token"), st.session_state.get("session_token_id")
    if token and token_id:
        try:
            make_client(settings, token).revoke_token(token_id)
        except ApiError:
            pass  # already expired or revoked
    for key in ("session_token", "session_token_id", "session_login"):
        st.session_state.pop(key, None)
    st.session_state["auth_notice"] = "Signed out."


def current_user(client: ApiClient, credentials_from: str | None) -> tuple[dict[str, Any] | None, bool]:
    """(the signed-in user or None, whether the API checks credentials at all)."""
    try:
        user = client.me()
    except ApiUnavailable:
        return None, True
    except ApiError as exc:
        if client.token:
            st.warning(f"The API rejected the token ({credentials_from}): {md(exc.message)}", icon=":material/lock:")
        return None, True
    return user, user is not None


def render_account(  # pylint: disable=too-many-arguments
    settings: DashboardSettings, client: ApiClient, credentials_from: str | None, user: dict[str, Any] | None,
    auth_enabled: bool,
) -> None:  # fmt: skip
    """The sidebar's account box: who is signed in and sign out, or the ways to sign in."""
    st.subheader("Account")
    for key, show in (("auth_notice", st.success), ("auth_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    if user:
        name = user.get("name") if user.get("name") not in (None, "", user.get("login")) else None
        st.markdown(f"Signed in as **{md(user.get('login'))}**" + (f" ({md(name)})" if name else ""))
        st.caption(CREDENTIAL_NOTES.get(credentials_from or "", ""))
        if credentials_from == "session":
            st.button("Sign out", key="sign_out", on_click=sign_out, args=(settings,))
        return
    if not auth_enabled:
        st.caption("Sign-in is not enabled on this API: every request is allowed.")
        return
    st.info("Not signed in.", icon=":material/person:")
    if cached_github_available(settings.api_url, client):
        url = github_login_url(settings, signin_nonce())
        st.link_button("Sign in with GitHub", url, icon=":material/login:", width="stretch")
    else:
        st.caption("GitHub sign-in is not set up on this API; use an API token.")
    with st.expander("Use an API token", expanded=True):
        st.text_input("API token", type="password", key="token_input", placeholder="paste a token")
        st.button("Use token", key="token_submit", on_click=use_pasted_token, args=(settings,))


def render_links(settings: DashboardSettings) -> None:
    """Links to the tools around the service."""
    st.subheader("Tools")
    links = [
        ("REST API (Swagger)", f"{settings.api_public_url}/"),
        ("MLflow UI", settings.mlflow_ui_url),
    ]
    if settings.minio_console_url:
        links.append(("MinIO console", settings.minio_console_url))
    st.markdown("\n".join(f"- [{label}]({url})" for label, url in links))
    st.caption(f"API: `{settings.api_url}`")


# --------------------------------------------------------------------------------------------------
# Data the user brings
# --------------------------------------------------------------------------------------------------


def table_input(prefix: str, source: str, as_text: bool = False) -> tuple[pd.DataFrame, bytes | str, str] | None:
    """(frame, what was typed or uploaded, file name) of an upload or a paste; None until there is one.

    What is wrong with it (an empty file, a ragged line) is said right under the field.
    """
    if source == SOURCE_UPLOAD:
        uploaded = st.file_uploader("CSV file with a header row", type=["csv", "tsv", "txt"], key=f"{prefix}_upload")
        if uploaded is None:
            return None
        content, filename = uploaded.getvalue(), uploaded.name
        if not content.strip():
            st.error(f"{md(filename)} is empty: choose a CSV with a header row and at least one data row.",
                     icon=":material/error:")  # fmt: skip
            return None
    else:
        content = st.text_area("Table (header row first; commas, semicolons or tabs)", key=f"{prefix}_paste",
                               height=150, placeholder=PASTE_PLACEHOLDER)  # fmt: skip
        filename = ""
        if not content:
            return None
    try:
        return read_table(content, as_text=as_text), content, filename
    except DataError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def target_select(prefix: str, columns: list[str], numeric: list[str], task: str | None, preset: str | None) -> str:
    """The target column: the preset (a retrain's own), else the last column (the last numeric one for a
    regressor, whose target must be a number)."""
    index = columns.index(preset) if preset in columns else default_target(columns, numeric, task)
    return st.selectbox("Target column (what the model predicts)", columns, index=index, key=f"{prefix}_target")


def table_training_input(prefix: str, source: str, task: str | None) -> dict[str, Any] | None:
    """An uploaded or pasted table to train on: stored as a dataset version when the training starts."""
    brought = table_input(prefix, source)
    if brought is None:
        st.caption("One column is the target; every other column is a feature. Text columns are fine.")
        return None
    frame, content, filename = brought
    if len(frame.columns) < 2:
        st.error("The table needs at least two columns: features and a target.", icon=":material/error:")
        return None
    columns = [str(c) for c in frame.columns]
    target = target_select(prefix, columns, numeric_columns(frame), task, None)
    st.dataframe(frame.head(6), hide_index=True, height=200)
    features = [c for c in columns if c != target]
    text = [c for c in features if c not in numeric_columns(frame)]
    st.caption(f"{len(frame)} rows × {len(columns)} columns; features: {md_list(features)}"
               + (f" (text, one-hot encoded: {md_list(text)})" if text else ""))  # fmt: skip
    name = st.text_input("Stored as dataset", value=dataset_name_for(filename), key=f"{prefix}_dataset_name",
                         help="The table is uploaded as a version of this dataset, so the model records "
                         "exactly which data it was trained on (see the Datasets tab).")  # fmt: skip
    return {"kind": "table", "content": content, "filename": filename or "pasted.csv",
            "dataset_name": name.strip() or dataset_name_for(filename), "target": target,
            "digest": content_digest(content), "rows": len(frame)}  # fmt: skip


def dataset_training_input(prefix: str, ctx: Context, task: str | None, preset: dict | None) -> dict[str, Any] | None:
    """A stored dataset version (GET /datasets), its preview and its target column; None until chosen."""
    choices = dataset_choices(api_call("Loading datasets", ctx.client.datasets) or [])
    if not choices:
        st.info("No datasets stored yet: upload or paste a table instead (or use the Datasets tab).")
        return None
    by_ref = {c["ref"]: c for c in choices}  # stable values: a new upload shifts no choice
    wanted = (preset or {}).get("name")
    first = next((i for i, c in enumerate(choices) if c["name"] == wanted), 0)
    ref = st.selectbox("Dataset version", list(by_ref), index=first, format_func=lambda r: by_ref[r]["label"],
                       key=f"{prefix}_dataset")  # fmt: skip
    choice = by_ref[ref]
    details = {}
    if choice["source"] != "dvc":  # a DVC-tracked file's bytes are in the DVC remote: no preview here
        details = api_call("Loading the dataset", ctx.client.dataset, choice["name"], choice["version"]) or {}
    columns = [c.get("name") for c in details.get("columns") or []] or choice["columns"]
    if not columns:
        target = st.text_input("Target column", value=(preset or {}).get("target", ""), key=f"{prefix}_dataset_tt")
        return {"kind": "dataset", "dataset": ref, "target": target, "digest": ref} if target else None
    numeric = [c["name"] for c in details.get("columns") or [] if c.get("dtype") in ("int", "float", "bool")]
    target = target_select(f"{prefix}_dataset", columns, numeric, task, (preset or {}).get("target"))
    if details.get("preview"):
        st.dataframe(pd.DataFrame(details["preview"]).head(6), hide_index=True, height=200)
    st.caption(f"{details.get('rows', '?')} rows; features: every other column "
               f"({md_list(c for c in columns if c != target)}).")  # fmt: skip
    return {"kind": "dataset", "dataset": ref, "target": target, "digest": ref}


def training_input(prefix: str, ctx: Context, task: str | None, preset: dict | None = None) -> dict[str, Any] | None:
    """Training data: an uploaded or pasted table, or a stored dataset version; None until ready.

    Args:
        preset: a retrain's own dataset and target (``{"name", "target"}``), chosen by default.
    """
    sources = [SOURCE_UPLOAD, SOURCE_PASTE, SOURCE_DATASET]
    source = st.radio("Training data", sources, index=2 if preset else 0, horizontal=True, key=f"{prefix}_source")
    if source == SOURCE_DATASET:
        return dataset_training_input(prefix, ctx, task, preset)
    return table_training_input(prefix, source, task)


def hyperparameter_inputs(specs: list[FieldSpec], prefix: str, columns: int = 3) -> tuple[dict[str, Any], list[str]]:
    """One widget per hyperparameter, laid out in columns, each with scikit-learn's description as its
    tooltip; a value out of range is said right under its field. Returns (name → value, problems)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    grid = st.columns(columns)
    for index, spec in enumerate(specs):
        with grid[index % columns]:
            values[spec.name] = hyperparameter_widget(spec, f"{prefix}_hp_{spec.name}")
            problem = value_problem(spec, values[spec.name])
            if problem:
                st.error(problem, icon=":material/error:")
                problems.append(problem)
    return values, problems


def hyperparameter_widget(spec: FieldSpec, key: str) -> Any:
    """The widget of one hyperparameter (numbers are not clamped: a value out of range gets a message)."""
    label = f"{spec.name} (deprecated)" if spec.deprecated else spec.name
    if spec.kind == "checkbox":
        return st.checkbox(label, value=spec.default, help=spec.help, key=key)
    if spec.kind == "select":
        return st.selectbox(
            label, spec.options, index=spec.options.index(spec.default) if spec.default in spec.options else 0,
            format_func=lambda option: "None" if option is None else str(option), help=spec.help, key=key,
        )  # fmt: skip
    if spec.kind in ("int", "float"):
        is_int = spec.kind == "int"
        return st.number_input(
            label, value=spec.default, step=1 if is_int else None, format="%d" if is_int else "%g",
            placeholder="None" if spec.nullable else None, help=spec.help, key=key,
        )  # fmt: skip
    return st.text_input(label, value=spec.default, help=spec.help, key=key)


# --------------------------------------------------------------------------------------------------
# Charts and results
# --------------------------------------------------------------------------------------------------


def confusion_chart(counts: pd.DataFrame) -> alt.LayerChart:
    """A heatmap of (actual, predicted) counts with the numbers written in."""
    base = alt.Chart(counts).encode(
        x=alt.X("predicted:N", title="Predicted", axis=alt.Axis(labelAngle=0)), y=alt.Y("actual:N", title="Actual")
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["actual", "predicted", "count"],
    )
    text = base.mark_text(fontSize=14).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > counts["count"].max() / 2, alt.value("white"), alt.value("black")),
    )
    return (heat + text).properties(height=min(60 * counts["actual"].nunique() + 40, 420))


CHART_TITLES = {
    "higher": "Higher is better (scores)",
    "lower": "Lower is better (errors, in the target's units)",
}


def metrics_chart(records: list[dict[str, Any]], direction: str) -> alt.Chart | None:
    """Grouped bars of the metrics going one way: one group per metric, one bar per (model, version).

    Scores (accuracy, f1, roc_auc, r2: higher is better) and errors (mae, rmse: lower is better, in the
    target's units and unbounded) never share an axis.
    """
    long = metrics_long(records)
    long = long[long["direction"] == direction]
    if long.empty:
        return None
    bounded = direction == "higher" and long["value"].between(0, 1).all()
    return (
        alt.Chart(long, title=CHART_TITLES[direction])
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset="model:N",
            y=alt.Y("value:Q", title="value", scale=alt.Scale(domain=[0, 1]) if bounded else alt.Scale()),
            color=alt.Color("model:N", title="model / version"),
            tooltip=["model", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=300)
    )


def show_comparison(records: list[dict[str, Any]], key: str) -> None:
    """Metrics side by side (a table and one chart per direction) and each version's hyperparameters."""
    st.dataframe(metrics_wide(records), hide_index=True, key=f"{key}_table")
    charts = [(d, metrics_chart(records, d)) for d in ("higher", "lower")]
    charts = [(d, c) for d, c in charts if c is not None]
    for column, (direction, chart) in zip(st.columns(len(charts) or 1), charts, strict=False):
        with column:
            st.altair_chart(chart, key=f"{key}_chart_{direction}")
    st.markdown("**Hyperparameters** (the ones set; everything else is scikit-learn's default)")
    st.table(params_table(records))


def show_metrics(metrics: dict[str, Any]) -> None:
    """The metrics of a version as a row of big numbers."""
    if not metrics:
        st.caption("No metrics recorded.")
        return
    for column, (name, value) in zip(st.columns(len(metrics)), sorted(metrics.items()), strict=True):
        column.metric(name, f"{value:.3f}" if isinstance(value, float) else number_text(value))


def evaluated_on(result: dict[str, Any]) -> str:
    """Which rows the metrics (and the confusion matrix) come from, in words."""
    if result.get("evaluation") == "holdout":
        return f"the {result.get('n_eval')} held-out rows (trained on the other {result.get('n_train')})"
    return f"the {result.get('n_train')} training rows (too few rows to hold any out)"


def show_training_result(ctx: Context, result: dict[str, Any]) -> None:
    """Metrics of a freshly trained version and, for classifiers, its confusion matrix: both on the same rows."""
    aliases = ", ".join(result.get("aliases") or []) or "no alias"
    st.success(
        f"Model **{md(result['model_id'])}** version **{result['version']}** is trained and registered ({aliases}). "
        f"[Open in MLflow]({mlflow_model_url(ctx.settings, result['model_id'], result['version'])})",
        icon=":material/check_circle:",
    )
    show_metrics(result.get("metrics") or {})
    st.caption(f"Metrics on {evaluated_on(result)}.")
    counts = confusion_long(result.get("confusion_matrix"))
    if not counts.empty:
        st.markdown(f"**Confusion matrix** on {evaluated_on(result)}: the same rows as the metrics")
        st.altair_chart(confusion_chart(counts), key=f"confusion_{result['model_id']}_{result['version']}")


# --------------------------------------------------------------------------------------------------
# Training: data stored as a dataset, then a job whose progress is shown where the user is looking
# --------------------------------------------------------------------------------------------------


def wait_for_job(client: ApiClient, job: dict[str, Any]) -> dict[str, Any]:
    """Poll a training job until it finishes, with a progress bar (bounded by the training timeout)."""
    progress_bar = st.progress(0.0, text=f"{job['status']}: {job['phase']}")
    deadline = time.monotonic() + client.train_timeout
    while job["status"] not in FINISHED and time.monotonic() < deadline:
        time.sleep(JOB_POLL_SECONDS)
        job = client.job(job["id"])
        fraction = min(max(float(job.get("progress") or 0.0), 0.0), 1.0)
        progress_bar.progress(fraction, text=f"{job['status']}: {job['phase']}")
    return job


def start_training(ctx: Context, payload: dict[str, Any], data: dict[str, Any], retrain_of: str | None) -> dict:
    """Store a table as a dataset version (lineage), then queue the training; returns the job."""
    if data["kind"] == "table":
        st.write(f"Storing the table as dataset **{md(data['dataset_name'])}** ({data['rows']} rows)…")
        stored = ctx.client.upload_dataset(data["dataset_name"], table_csv(data["content"]), data["filename"])
        payload["dataset"] = f"{stored['name']}@{stored['version']}"
    else:
        payload["dataset"] = data["dataset"]
    payload.update(target=data["target"], **{"async": True})
    st.write(f"Training on **{md(payload['dataset'])}**; the new version is registered in MLflow when it is done.")
    return ctx.client.retrain(retrain_of, payload) if retrain_of else ctx.client.train(payload)


def run_training(ctx: Context, area, payload: dict[str, Any], data: dict[str, Any], retrain_of: str | None = None):
    """Train (or retrain) with the progress box at the top of the result area; the result, or None (shown)."""
    label = retrain_of if retrain_of else class_label(ctx.classes, payload["model_type"])
    what = f"{'Retraining' if retrain_of else 'Training'} {md(label)}"
    with area, st.status(f"{what}…", expanded=True) as status:
        try:
            job = wait_for_job(ctx.client, start_training(ctx, payload, data, retrain_of))
        except (ApiError, DataError) as exc:
            status.update(label=f"{what} failed", state="error", expanded=True)
            st.error(md(exc.message if isinstance(exc, ApiError) else str(exc)), icon=":material/error:")
            return None
        if job["status"] != "succeeded":
            status.update(label=f"{what}: {job['status']}", state="error", expanded=True)
            st.error(md(job.get("error") or f"The training job is {job['status']} ({job['phase']})."))
            return None
        result = job["result"]
        status.update(label=f"{md(result['model_id'])} v{result['version']} is ready", state="complete", expanded=False)
    return result


# --------------------------------------------------------------------------------------------------
# Models: the table, one model's versions and aliases, promote / roll back, delete
# --------------------------------------------------------------------------------------------------


def delete_model(client: ApiClient, model_id: str) -> None:
    """Button callback: delete after the confirmation box was ticked."""
    st.session_state["delete_confirm"] = False
    try:
        client.delete_model(model_id)
    except ApiError as exc:
        st.session_state["models_error"] = f"Could not delete {md(model_id)}: {md(exc.message)}"
        return
    st.session_state["models_notice"] = f"Deleted model {md(model_id)} and all its versions."
    for key in ("predict_result", "train_result", "retrain_result"):
        if (st.session_state.get(key) or {}).get("model_id") == model_id:
            st.session_state.pop(key)


def move_current(client: ApiClient, model_id: str, version: int, what: str) -> None:
    """Button callback: point ``current`` at a version (promote or roll back), after the confirmation."""
    for key in ("promote_confirm", "rollback_confirm"):
        st.session_state[key] = False
    try:
        moved = client.set_alias(model_id, "current", version)
    except ApiError as exc:
        st.session_state["models_error"] = f"Could not {what.lower()}: {md(exc.message)}"
        return
    st.session_state["models_notice"] = (
        f"{what}: {md(model_id)} now serves v{moved['version']} (was v{moved.get('previous_version')})."
    )


def render_serving(ctx: Context, model: dict[str, Any]) -> None:
    """Which version serves, and the two ways to change it: promote any version, roll back to the previous."""
    model_id, current = model["id"], model.get("version")
    aliases = model.get("aliases") or {"current": current}
    serving = " · ".join(f"**{md(name)}** → v{version}" for name, version in sorted(aliases.items()))
    st.markdown(f"**Serving** · {serving}")
    others = [v["version"] for v in model.get("versions") or [] if v["version"] != current]
    promote, rollback = st.columns(2)
    with promote, st.container(border=True):
        if not others:
            st.caption("Only one version: nothing to promote yet. Retrain as a challenger first.")
        else:
            preferred = aliases.get("challenger")
            version = st.selectbox(
                "Version to make current", others, key="promote_version",
                index=others.index(preferred) if preferred in others else 0,
                format_func=lambda v: f"v{v}" + (" (challenger)" if v == preferred else ""),
            )  # fmt: skip
            confirmed = st.checkbox(f"Yes, serve v{version} instead of v{current}", key="promote_confirm")
            st.button(f"Promote v{version}", key="promote_button", type="primary", disabled=not confirmed,
                      on_click=move_current, args=(ctx.client, model_id, version, "Promoted"))  # fmt: skip
    target = rollback_target(model)
    with rollback, st.container(border=True):
        if target is None:
            st.caption(f"v{current} is the oldest version: there is nothing to roll back to.")
        else:
            confirmed = st.checkbox(f"Yes, roll back from v{current} to v{target}", key="rollback_confirm")
            st.button(f"Roll back to v{target}", key="rollback_button", disabled=not confirmed,
                      on_click=move_current, args=(ctx.client, model_id, target, "Rolled back"))  # fmt: skip
            st.caption(f"v{target} is the newest version older than v{current}.")


def render_model_detail(ctx: Context, model: dict[str, Any]) -> None:
    """One model: headline numbers, versions (params wrap instead of being cut off), serving, the audit trail."""
    model_id = model["id"]
    name, value = key_metric(model.get("task"), model.get("metrics"))
    cols = st.columns(4)
    cols[0].metric("Current version", model.get("version"))
    cols[1].metric(name or "metric", number_text(value) if value is not None else "—")
    cols[2].metric("Versions", len(model.get("versions") or []))
    cols[3].metric("Features", model.get("n_features"))
    st.markdown(
        f"**{md(ctx.classes.get(model.get('model_type'), {}).get('class_name', model.get('model_type')))}** "
        f"({md(model.get('task'))}) · owner **{md(model.get('owner_name') or model.get('owner') or '—')}** · created "
        f"{short_time(model.get('created_at'))} · features: {md_list(model.get('feature_names') or [])} · "
        f"[open in MLflow]({mlflow_model_url(ctx.settings, model_id)})"
    )
    st.dataframe(
        versions_table(model, ctx.settings), hide_index=True, key="versions_table",
        column_config={"MLflow run": st.column_config.LinkColumn("MLflow run", display_text="open run")},
    )  # fmt: skip
    st.table(version_details(model))
    render_serving(ctx, model)
    if model.get("alias_log"):
        with st.expander("Alias history (who moved which alias, when)", key=f"alias_log_{model['id']}"):
            st.dataframe(alias_log_table(model["alias_log"]), hide_index=True, key="alias_log")


def render_models(ctx: Context) -> None:
    """Models tab: the table, one model's versions and aliases, promote / roll back, links to MLflow, delete."""
    notices("models")
    if not ctx.models:
        st.info("No models yet. Train your first one in the **Train** tab.", icon=":material/add_circle:")
        return
    st.dataframe(models_table(ctx.models, ctx.classes), hide_index=True, key="models_table")
    ids = [model["id"] for model in reversed(ctx.models)]
    model_id = st.selectbox("Model details", ids, key="detail_model")
    model = api_call(f"Loading {model_id}", ctx.client.get_model, model_id)
    if not model:
        return
    render_model_detail(ctx, model)
    with st.expander(f"Delete {md(model_id)}", key=f"delete_expander_{model_id}"):
        st.warning(
            f"This deletes **{md(model_id)}**, its {len(model.get('versions') or [])} version(s), runs and artifacts."
        )
        confirmed = st.checkbox(f"Yes, delete {md(model_id)} for good", key="delete_confirm")
        st.button("Delete model", key="delete_button", type="primary", disabled=not confirmed,
                  on_click=delete_model, args=(ctx.client, model_id))  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Train and retrain
# --------------------------------------------------------------------------------------------------


def training_settings(prefix: str, specs: list[FieldSpec], columns: int) -> tuple[float, dict[str, Any], list[str]]:
    """The held-out share and the hyperparameters as the form shows them (no form: Enter never starts a
    training); returns (held-out share, every field's value, problems)."""
    test_size = st.slider("Held-out share for evaluation", 0.0, 0.5, 0.2, 0.05, key=f"{prefix}_test_size",
                          help="This share of the rows is kept out of the fit; metrics and the confusion "
                          "matrix are computed on them.")  # fmt: skip
    with st.container(border=True):
        st.markdown("**Hyperparameters** (defaults filled in; hover (?) for scikit-learn's description)")
        values, problems = hyperparameter_inputs(specs, prefix, columns=columns)
    return test_size, values, problems


def render_train(ctx: Context) -> None:
    """Train tab: class, data, settings, the Train button, then the result area (progress first)."""
    if not ctx.classes:
        st.info("The model catalogue could not be loaded.")
        return
    model_type = st.selectbox("Model class", list(ctx.classes), format_func=lambda k: class_label(ctx.classes, k),
                              key="train_model_type")  # fmt: skip
    task = ctx.classes[model_type].get("task")
    st.caption(ctx.classes[model_type].get("description", ""))
    data = training_input("train", ctx, task)
    model_id = st.text_input("Model id (optional)", key="train_model_id", placeholder="empty = generated").strip()
    specs = [field_spec(hp) for hp in ctx.classes[model_type].get("hyperparameters", [])]
    test_size, values, problems = training_settings(f"train_{model_type}", specs, columns=3)
    inputs = fingerprint(model_type, data and data["digest"], data and data["target"], values, test_size, model_id)
    clicked = st.button("Train model", type="primary", key="train_submit", disabled=data is None or bool(problems),
                        help="Add training data first" if data is None else None)  # fmt: skip
    area = st.container()  # the result area: the progress box at its top, then the result
    if clicked:
        st.session_state.pop("train_result", None)  # never a stale success beside a new attempt
        payload = {"model_type": model_type, "params": changed_params(specs, values), "test_size": test_size}
        if model_id:
            payload["model_id"] = model_id
        result = run_training(ctx, area, payload, data)
        if result:
            st.session_state["train_result"] = {"inputs": inputs, "model_id": result["model_id"], "result": result}
            st.session_state["focus_model"] = result["model_id"]
            st.rerun()  # list the new model everywhere and select it
    stored = keep_if_same_inputs("train_result", inputs)
    if stored:
        with area:
            show_training_result(ctx, stored["result"])


def retrain_outcome(model: dict[str, Any], outcome: dict[str, Any]) -> None:
    """A retrain's new version beside the version that was current before it."""
    result, before = outcome["result"], outcome["before"]
    if "current" in (result.get("aliases") or []):
        st.success(f"{md(model['id'])}: version {result['version']} is now current (was {before['version']}).")
    else:
        st.success(f"{md(model['id'])}: version {result['version']} is registered as the challenger; current stays "
                   f"on v{before['version']}. Compare them below, then promote it in **Models**.")  # fmt: skip
    st.caption(f"The new version's metrics are on {evaluated_on(result)}.")
    after = {"model_id": model["id"], "version": result["version"], "metrics": result.get("metrics"),
             "params": result.get("params")}  # fmt: skip
    show_comparison([before, after], "retrain")


def retrain_header(ctx: Context, model: dict[str, Any]) -> dict[str, Any] | None:
    """What is being retrained; returns the current version's dataset (name, target) to preselect."""
    current = next((v for v in model.get("versions") or [] if v["version"] == model.get("version")), {})
    name, value = key_metric(model.get("task"), model.get("metrics"))
    st.caption(f"{md(class_label(ctx.classes, model.get('model_type', '')))} · current version v{model.get('version')} "
               f"({md(name)} {md(number_text(value))}) · trained {short_time(model.get('updated_at'))}")  # fmt: skip
    return current.get("dataset")


def render_retrain(ctx: Context) -> None:
    """Retrain tab: new data for an existing model (its own dataset and target preselected), as the new
    current version or as a challenger; the new version beside the old one."""
    if not ctx.models:
        st.info("No models to retrain yet.")
        return
    model_id = st.selectbox("Model", [model["id"] for model in reversed(ctx.models)], key="retrain_model")
    model = api_call(f"Loading {model_id}", ctx.client.get_model, model_id)
    if not model:
        return
    data = training_input(f"retrain_{model_id}", ctx, model.get("task"), retrain_header(ctx, model))
    schema = ctx.classes.get(model.get("model_type", ""), {}).get("hyperparameters", [])
    specs = [field_spec(hp) for hp in schema_with_defaults(schema, model.get("params"))]
    test_size, values, problems = training_settings(f"retrain_{model_id}", specs, columns=3)
    challenger = st.checkbox(f"Register as the challenger: keep serving v{model.get('version')}",
                             key=f"retrain_{model_id}_challenger")  # fmt: skip
    inputs = fingerprint(model_id, data and data["digest"], data and data["target"], values, test_size, challenger)
    clicked = st.button("Retrain", type="primary", key="retrain_submit", disabled=data is None or bool(problems))
    area = st.container()
    if clicked:
        st.session_state.pop("retrain_result", None)
        before = {"model_id": model_id, "version": model.get("version"), "metrics": model.get("metrics"),
                  "params": model.get("params")}  # fmt: skip
        payload = {"params": changed_params(specs, values), "test_size": test_size, "promote": not challenger}
        result = run_training(ctx, area, payload, data, retrain_of=model_id)
        if result:
            st.session_state["retrain_result"] = {"inputs": inputs, "model_id": model_id, "result": result,
                                                  "before": before}  # fmt: skip
            st.rerun()  # every tab (Models first) shows the new version at once
    stored = keep_if_same_inputs("retrain_result", inputs)
    if stored:
        with area:
            retrain_outcome(model, stored)


# --------------------------------------------------------------------------------------------------
# Predict and compare
# --------------------------------------------------------------------------------------------------


def one_row_input(model: dict[str, Any], features: list[str]) -> list[dict[str, Any]]:
    """One field per feature, typed by the model's schema: known categories to pick, numbers starting at
    the training median."""
    fields = feature_fields(model.get("feature_schema"), features)
    grid = st.columns(min(len(fields), 4) or 1)
    record: dict[str, Any] = {}
    for index, field in enumerate(fields):
        key = f"predict_{model['id']}_{field.name}"
        with grid[index % len(grid)]:
            if field.kind == "select":
                record[field.name] = st.selectbox(field.name, field.options, help=field.help, key=key)
            elif field.kind == "text":
                record[field.name] = st.text_input(field.name, value=field.default, help=field.help, key=key)
            else:
                record[field.name] = st.number_input(field.name, value=field.default, format="%g", help=field.help,
                                                     key=key)  # fmt: skip
    return [record]


def batch_input(features: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    """Rows from an uploaded or pasted table, matched to the features by name or position; (records, digest)."""
    source = st.radio("Rows to predict", [SOURCE_UPLOAD, SOURCE_PASTE], horizontal=True, key="predict_source")
    st.caption(f"Columns named {md_list(features)} (any order), or exactly {len(features)} columns in this order.")
    brought = table_input("predict", source, as_text=True)
    if brought is None:
        return None, ""
    frame, content, _ = brought
    try:
        return prediction_records(frame, features), content_digest(content)
    except DataError as exc:
        st.error(str(exc), icon=":material/error:")
        return None, ""


def render_predict(ctx: Context) -> None:
    """Predict tab: one row through a typed form, or a batch from a table; probabilities, chart, download."""
    if not ctx.models:
        st.info("No models yet: train one first.")
        return
    top = st.columns([2, 1])
    model_id = top[0].selectbox("Model", [model["id"] for model in reversed(ctx.models)], key="predict_model")
    model = api_call(f"Loading {model_id}", ctx.client.get_model, model_id)
    if not model:
        return
    choices = version_choices(model)
    labels = [choice["label"] for choice in choices]
    picked = choices[labels.index(top[1].selectbox("Version", labels, key=f"predict_version_{model_id}"))]
    features = list(model.get("feature_names") or [f"feature_{i}" for i in range(model.get("n_features") or 0)])
    one_row = st.radio("Input", ["One row", "Batch (table)"], horizontal=True, key="predict_mode") == "One row"
    if one_row:
        records, digest = one_row_input(model, features), ""
    else:
        records, digest = batch_input(features)
    inputs = fingerprint(model_id, picked, records if one_row else digest)
    clicked = st.button("Predict", type="primary", key="predict_submit" if one_row else "predict_batch_submit",
                        disabled=not records)  # fmt: skip
    if clicked:
        st.session_state.pop("predict_result", None)  # a new error never sits above old predictions
        result = api_call("Prediction", ctx.client.predict, model_id, records=records, version=picked["version"],
                          alias=picked["alias"])  # fmt: skip
        if result:
            table = predictions_table(records, result)
            st.session_state["predict_result"] = {"inputs": inputs, "model_id": model_id, "result": result,
                                                  "table": table}  # fmt: skip
    show_predictions(keep_if_same_inputs("predict_result", inputs), model_id)


def probabilities_chart(probabilities: pd.DataFrame, n_rows: int) -> alt.Chart:
    shown = probabilities[probabilities["row"] <= 50]
    x = (alt.X("row:O", title="row", axis=alt.Axis(labelAngle=0)) if n_rows > 1
         else alt.X("class:N", title="class", axis=alt.Axis(labelAngle=0)))  # fmt: skip
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("probability:Q", stack=True, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class:N"),
            tooltip=["row", "class", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(height=260, title="Class probabilities" + (" (first 50 rows)" if n_rows > 50 else ""))
    )


def show_predictions(outcome: dict[str, Any] | None, model_id: str) -> None:
    """The predictions table, a chart of probabilities (or values) and a CSV download."""
    if not outcome or outcome["model_id"] != model_id:
        return
    result, table = outcome["result"], outcome["table"]
    first = result["predictions"][0] if result["predictions"] else None
    st.success(
        f"{md(model_id)} v{result['version']} predicts **{md(first)}**"
        if len(table) == 1
        else f"{md(model_id)} v{result['version']}: {len(table)} predictions",
        icon=":material/insights:",
    )
    probability_columns = {
        column: st.column_config.ProgressColumn(column, min_value=0.0, max_value=1.0, format="%.3f")
        for column in table.columns
        if column.startswith("P(")
    }
    st.dataframe(table, hide_index=True, column_config=probability_columns, key="predictions_table")
    probabilities = probabilities_long(result)
    if not probabilities.empty:
        st.altair_chart(probabilities_chart(probabilities, len(table)), key="probabilities_chart")
    elif len(table) > 1:
        st.bar_chart(table["prediction"], height=260)
    st.download_button(
        "Download predictions (CSV)",
        table.to_csv(index=False).encode("utf-8"),
        file_name=f"{model_id}-v{result['version']}-predictions.csv",
        mime="text/csv",
        key="predict_download",
    )


def render_compare(ctx: Context) -> None:
    """Compare tab: metrics of several models (current versions, or every version) side by side, scores and
    errors on separate charts, with each version's hyperparameters."""
    if not ctx.models:
        st.info("No models to compare yet.")
        return
    ids = [model["id"] for model in reversed(ctx.models)]
    chosen = st.multiselect("Models", ids, default=ids[:3], key="compare_models")
    all_versions = st.checkbox("Every version, not only the current one", key="compare_all_versions")
    records: list[dict[str, Any]] = []
    for model_id in chosen:
        model = api_call(f"Loading {model_id}", ctx.client.get_model, model_id)
        if model:
            records.extend(compare_records(model, all_versions))
    if not records:
        st.caption("Pick at least one model.")
        return
    if len({record.get("task") for record in records}) > 1:
        st.info("Classification and regression metrics differ; each bar group shows one metric.")
    show_comparison(records, "compare")


# --------------------------------------------------------------------------------------------------
# Datasets and jobs
# --------------------------------------------------------------------------------------------------


def upload_dataset(client: ApiClient) -> None:
    """Button callback: store the chosen file as a version of the named dataset."""
    uploaded = st.session_state.get("datasets_upload_file")
    if uploaded is None:
        st.session_state["datasets_error"] = "Choose a CSV file first."
        return
    name = (st.session_state.get("datasets_upload_name") or "").strip() or dataset_name_for(uploaded.name)
    try:
        record = client.upload_dataset(name, table_csv(uploaded.getvalue()), uploaded.name)
    except DataError as exc:
        st.session_state["datasets_error"] = f"{md(uploaded.name)}: {md(exc)}"
        return
    except ApiError as exc:
        st.session_state["datasets_error"] = f"Could not store {md(uploaded.name)}: {md(exc.message)}"
        return
    fresh = "stored as a new version" if record.get("created") else "identical to a version already stored"
    st.session_state["datasets_notice"] = f"{md(name)}@{record['version'][:8]}: {record.get('rows')} rows, {fresh}."
    st.session_state["datasets_pick"] = record["name"]


def delete_dataset(client: ApiClient, name: str, version: str) -> None:
    """Button callback: delete one dataset version after the confirmation."""
    st.session_state["dataset_delete_confirm"] = False
    try:
        client.delete_dataset(name, version)
    except ApiError as exc:
        st.session_state["datasets_error"] = f"Could not delete {md(name)}@{version[:8]}: {md(exc.message)}"
        return
    st.session_state["datasets_notice"] = f"Deleted {md(name)}@{version[:8]}."


def render_dataset_version(ctx: Context, name: str, version: str) -> None:
    """One version: its schema, a preview, the models trained on it, and delete (refused while models use it)."""
    details = api_call(f"Loading {name}", ctx.client.dataset, name, version)
    if not details:
        return
    schema = pd.DataFrame(details.get("columns") or [], columns=["name", "dtype"])
    left, right = st.columns([1, 3])
    left.markdown(f"**Schema** ({details.get('rows')} rows)")
    left.dataframe(schema, hide_index=True, key="dataset_schema")
    right.markdown("**Preview** (first rows)")
    right.dataframe(pd.DataFrame(details.get("preview") or []), hide_index=True, key="dataset_preview")
    used_by = details.get("used_by") or []
    if used_by:
        st.info(f"Models trained on this version: {md_list(used_by)}. It cannot be deleted while they exist.")
    elif details.get("source", "upload") != "dvc":
        with st.expander(f"Delete {name}@{version[:8]}", key=f"dataset_delete_{name}_{version}"):
            confirmed = st.checkbox(f"Yes, delete {name}@{version[:8]} for good", key="dataset_delete_confirm")
            st.button("Delete dataset version", key="dataset_delete_button", type="primary", disabled=not confirmed,
                      on_click=delete_dataset, args=(ctx.client, name, version))  # fmt: skip


def render_datasets(ctx: Context) -> None:
    """Datasets tab: upload a CSV, every dataset with its versions, one version's schema and preview, delete."""
    notices("datasets")
    with st.container(border=True):
        st.markdown("**Upload a CSV** as a new version of a dataset (identical bytes: the existing version)")
        left, right = st.columns([1, 2])
        left.text_input("Dataset name", key="datasets_upload_name", placeholder="default: the file's name")
        right.file_uploader("CSV file with a header row", type=["csv", "tsv", "txt"], key="datasets_upload_file")
        st.button("Upload", key="datasets_upload_button", on_click=upload_dataset, args=(ctx.client,))
    datasets = api_call("Loading datasets", ctx.client.datasets) or []
    if not datasets:
        st.info("No datasets yet: upload one above, or train on a table (it is stored as a dataset).")
        return
    st.dataframe(datasets_table(datasets), hide_index=True, key="datasets_table")
    names = [d["name"] for d in datasets]
    if st.session_state.get("datasets_pick") in names:
        st.session_state["datasets_name"] = st.session_state.pop("datasets_pick")
    name = st.selectbox("Dataset", names, key="datasets_name")
    chosen = next(d for d in datasets if d["name"] == name)
    if chosen.get("source") == "dvc":
        st.caption(f"{md(name)} is tracked by DVC in the repository ({chosen.get('dvc_file') or chosen.get('path')}); "
                   f"train on it with the dataset reference `{name}`.")  # fmt: skip
        return
    versions = [str(v.get("version") or v.get("md5")) for v in chosen.get("versions") or [chosen]]
    version = st.selectbox("Version (newest first)", versions, format_func=lambda v: v[:8], key=f"datasets_{name}_v")
    render_dataset_version(ctx, name, version)


def cancel_job(client: ApiClient, job_id: str) -> None:
    """Button callback: cancel a queued job, or stop a running one before it registers anything."""
    try:
        job = client.cancel_job(job_id)
    except ApiError as exc:
        st.session_state["jobs_error"] = f"Could not cancel {job_id}: {exc.message}"
        return
    st.session_state["jobs_notice"] = f"Job {job_id}: {job['status']}" + (
        " (stopping before it registers anything)" if job.get("cancel_requested") and job["status"] == "running" else ""
    )


def render_jobs(ctx: Context) -> None:
    """Jobs tab: your training jobs (queued, running, finished) with their progress; cancel the unfinished."""
    notices("jobs")
    st.button("Refresh", key="jobs_refresh", icon=":material/refresh:")
    jobs = api_call("Loading jobs", ctx.client.jobs)
    if not jobs:
        st.info("No training jobs yet. Every training started here runs as a job.")
        return
    st.dataframe(
        jobs_table(jobs), hide_index=True, key="jobs_table",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
    )  # fmt: skip
    unfinished = [job["id"] for job in jobs if job["status"] not in FINISHED]
    if unfinished:
        job_id = st.selectbox("Unfinished job", unfinished, key="jobs_cancel_pick")
        st.button("Cancel job", key="jobs_cancel_button", on_click=cancel_job, args=(ctx.client, job_id))


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


def api_is_up(client: ApiClient, settings: DashboardSettings) -> bool:
    """A banner with a retry when the API is down; a warning when it runs without MLflow."""
    try:
        health = client.health()
    except ApiError as exc:
        st.error(
            f"**The mlservice API is not reachable.** {md(exc.message)}  \nStart it (`make run`) or check "
            f"`API_URL` (now `{settings.api_url}`), then retry.",
            icon=":material/cloud_off:",
        )
        st.button("Retry", key="retry", type="primary")
        return False
    if (health or {}).get("status") != "ok":
        st.warning(
            f"The API is up but degraded (MLflow: {(health or {}).get('mlflow', 'unknown')}); training, "
            "listing and new predictions may fail until it recovers.",
            icon=":material/error:",
        )
    return True


def focus_model(model_id: str | None) -> None:
    """Select a just-trained model in every tab (before their widgets exist in this run)."""
    if model_id:
        for key in ("detail_model", "retrain_model", "predict_model"):
            st.session_state[key] = model_id


TABS = {
    ":material/table_view: Models": render_models,
    ":material/model_training: Train": render_train,
    ":material/autorenew: Retrain": render_retrain,
    ":material/online_prediction: Predict": render_predict,
    ":material/bar_chart: Compare": render_compare,
    ":material/dataset: Datasets": render_datasets,
    ":material/work_history: Jobs": render_jobs,
}


def main() -> None:
    """Build the page for this run of the script: only sign-in until the visitor has signed in."""
    st.set_page_config(page_title="mlservice", page_icon=":material/model_training:", layout="wide")
    settings = load_settings()
    accept_handoff(settings)
    focus_model(st.session_state.pop("focus_model", None))
    bind_address = st.get_option("server.address")
    token, credentials_from = resolve_token(st.session_state.get("session_token"), settings, bind_address)
    client = make_client(settings, token)
    user, auth_enabled = current_user(client, credentials_from)
    with st.sidebar:
        st.title(":material/model_training: mlservice")
        render_account(settings, client, credentials_from, user, auth_enabled)
        render_links(settings)
    st.html(PAGE_STYLE)
    st.header("Models dashboard", anchor=False)
    if not api_is_up(client, settings):
        return
    if auth_enabled and not user:
        st.info("Sign in to use the dashboard: with GitHub, or paste an API token (in the sidebar).",
                icon=":material/lock:")  # fmt: skip
        return
    st.caption(
        "Train scikit-learn models on your own table (text columns too), compare their versions, choose which "
        "one serves, get predictions. New here? Start in **Train** with a CSV, then try the model in **Predict**."
    )
    render_tabs(settings, client)


def render_tabs(settings: DashboardSettings, client: ApiClient) -> None:
    """The tabs of a signed-in visitor."""
    models = api_call("Loading models", client.list_models)
    classes = api_call("Loading model classes", cached_model_classes, settings.api_url, client) or {}
    ctx = Context(settings, client, models or [], classes)
    for tab, render in zip(st.tabs(list(TABS)), TABS.values(), strict=True):
        with tab:
            render(ctx)


if __name__ == "__main__":
    main()
