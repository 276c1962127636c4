"""Streamlit dashboard (port 8501): where users start. Sign in, train, inspect, retrain, predict, compare.

A front end like ``app.py``: it talks only to the REST API at ``API_URL`` through ``dashboard_client``
and holds no training or MLflow code. Run it with ``streamlit run dashboard.py`` (``docker/entrypoint.sh
dashboard`` does); ``docs/DASHBOARD.md`` is the user guide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from mlservice.dashboard.client import (
    CLASSIFICATION,
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
from mlservice.dashboard.forms import (
    DataError,
    FieldSpec,
    changed_params,
    confusion_counts,
    field_spec,
    prediction_rows,
    predictions_table,
    probabilities_long,
    read_table,
    schema_with_defaults,
    training_data,
)
from mlservice.dashboard.tables import (
    compare_records,
    dataset_choices,
    key_metric,
    metrics_long,
    metrics_wide,
    models_table,
    short_time,
    versions_table,
)
from mlservice.dashboard.text import md, md_list

logger = logging.getLogger(__name__)

SOURCE_UPLOAD, SOURCE_PASTE, SOURCE_DATASET = "Upload a CSV", "Paste a table", "Dataset version"
# Less empty space above the page header; nothing else is restyled.
PAGE_STYLE = "<style>.block-container{padding-top:2.5rem;padding-bottom:2rem}</style>"
PASTE_PLACEHOLDER = "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n..."


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
    api_paths: set[str]


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
def cached_api_paths(api_url: str, _client: ApiClient) -> set[str]:
    """The API's documented paths, to offer optional features (e.g. /datasets) only where they exist."""
    logger.debug("loading swagger paths from %s", api_url)
    try:
        return _client.api_paths()
    except ApiError:
        return set()


@st.cache_data(ttl=300, show_spinner=False)
def cached_github_available(api_url: str, _client: ApiClient) -> bool:
    """Whether to offer "Sign in with GitHub" (the API has a GitHub OAuth app configured)."""
    logger.debug("probing GitHub sign-in at %s", api_url)
    return _client.github_sign_in_available()


def number_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


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


def table_input(prefix: str, label: str, with_upload: bool = True) -> pd.DataFrame | None:
    """A table from a CSV upload or a pasted text; None until there is one (errors shown)."""
    sources = [SOURCE_UPLOAD, SOURCE_PASTE] if with_upload else [SOURCE_PASTE]
    source = st.radio(label, sources, horizontal=True, key=f"{prefix}_source")
    if source == SOURCE_UPLOAD:
        uploaded = st.file_uploader("CSV file with a header row", type=["csv", "tsv", "txt"], key=f"{prefix}_upload")
        content = uploaded.getvalue() if uploaded else None
    else:
        content = st.text_area(
            "Table (header row first; commas, semicolons or tabs)",
            key=f"{prefix}_paste",
            height=150,
            placeholder=PASTE_PLACEHOLDER,
        )
    if not content:
        return None
    try:
        return read_table(content)
    except DataError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def dataset_input(prefix: str, ctx: Context) -> dict[str, Any] | None:
    """A stored dataset version (GET /datasets) and its target column; None until chosen."""
    choices = dataset_choices(api_call("Loading datasets", ctx.client.datasets) or [])
    if not choices:
        st.info("No datasets stored yet: upload or paste a table instead.")
        return None
    index = st.selectbox(
        "Dataset version", range(len(choices)), format_func=lambda i: choices[i]["label"], key=f"{prefix}_dataset"
    )
    choice = choices[index]
    columns = choice["columns"]
    if not columns:
        details = api_call("Loading the dataset", ctx.client.dataset, choice["name"], choice["version"]) or {}
        columns = [c.get("name") if isinstance(c, dict) else c for c in details.get("columns") or []]
    if columns:
        target = st.selectbox("Target column", columns, index=len(columns) - 1, key=f"{prefix}_dataset_target")
    else:
        target = st.text_input("Target column", key=f"{prefix}_dataset_target")
    if not target:
        return None
    st.caption(f"Features: every other column ({md_list(c for c in columns if c != target) or 'as stored'}).")
    return {"dataset": f"{choice['name']}@{choice['version']}", "target": target}


def training_input(prefix: str, ctx: Context) -> dict[str, Any] | None:
    """Training data for a request: X, y and feature names (or a dataset reference); None until ready."""
    if "/datasets" in ctx.api_paths and st.toggle("Use a dataset version", key=f"{prefix}_use_dataset"):
        return dataset_input(prefix, ctx)
    frame = table_input(prefix, "Training data")
    if frame is None:
        st.caption("The target is one column of the table; every other column is a numeric feature.")
        return None
    if len(frame.columns) < 2:
        st.error("The table needs at least two columns: features and a target.", icon=":material/error:")
        return None
    target = st.selectbox(
        "Target column (what the model predicts)",
        list(frame.columns),
        index=len(frame.columns) - 1,
        key=f"{prefix}_target",
    )
    st.dataframe(frame.head(6), hide_index=True, height=200)
    st.caption(
        f"{len(frame)} rows × {len(frame.columns)} columns; features: {md_list(c for c in frame if c != target)}"
    )
    try:
        return training_data(frame, target)
    except DataError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def hyperparameter_inputs(specs: list[FieldSpec], prefix: str, columns: int = 3) -> dict[str, Any]:
    """One widget per hyperparameter, laid out in columns; returns name → value."""
    values: dict[str, Any] = {}
    grid = st.columns(columns)
    for index, spec in enumerate(specs):
        key = f"{prefix}_hp_{spec.name}"
        with grid[index % columns]:
            if spec.kind == "checkbox":
                values[spec.name] = st.checkbox(spec.name, value=spec.default, help=spec.help, key=key)
            elif spec.kind == "select":
                values[spec.name] = st.selectbox(
                    spec.name,
                    spec.options,
                    index=spec.options.index(spec.default) if spec.default in spec.options else 0,
                    format_func=lambda option: "None" if option is None else str(option),
                    help=spec.help,
                    key=key,
                )
            elif spec.kind in ("int", "float"):
                is_int = spec.kind == "int"
                values[spec.name] = st.number_input(
                    spec.name,
                    value=spec.default,
                    min_value=spec.min_value,
                    max_value=spec.max_value,
                    step=1 if is_int else None,
                    format="%d" if is_int else "%g",
                    placeholder="None" if spec.nullable else None,
                    help=spec.help,
                    key=key,
                )
            else:
                values[spec.name] = st.text_input(spec.name, value=spec.default, help=spec.help, key=key)
    return values


# --------------------------------------------------------------------------------------------------
# Charts
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


def metrics_chart(records: list[dict[str, Any]]) -> alt.Chart | None:
    """Grouped bars: one group per metric, one bar per (model, version)."""
    long = metrics_long(records)
    if long.empty:
        return None
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset="model:N",
            y=alt.Y("value:Q", title="value"),
            color=alt.Color("model:N", title="model / version"),
            tooltip=["model", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=320)
    )


def show_metrics(metrics: dict[str, Any]) -> None:
    """The metrics of a version as a row of big numbers."""
    if not metrics:
        st.caption("No metrics recorded.")
        return
    for column, (name, value) in zip(st.columns(len(metrics)), sorted(metrics.items()), strict=True):
        column.metric(name, f"{value:.3f}" if isinstance(value, float) else number_text(value))


# --------------------------------------------------------------------------------------------------
# Tabs
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


def render_models(ctx: Context) -> None:
    """Models tab: the table, one model's versions, links to MLflow, delete."""
    for key, show in (("models_notice", st.success), ("models_error", st.error)):
        if st.session_state.get(key):
            show(st.session_state.pop(key))
    if not ctx.models:
        st.info("No models yet. Train your first one in the **Train** tab.", icon=":material/add_circle:")
        return
    st.dataframe(models_table(ctx.models, ctx.classes), hide_index=True, key="models_table")
    ids = [model["id"] for model in reversed(ctx.models)]
    model_id = st.selectbox("Model details", ids, key="detail_model")
    model = api_call(f"Loading {model_id}", ctx.client.get_model, model_id)
    if not model:
        return
    name, value = key_metric(model.get("task"), model.get("metrics"))
    cols = st.columns(4)
    cols[0].metric("Current version", model.get("version"))
    cols[1].metric(name or "metric", number_text(value) if value is not None else "—")
    cols[2].metric("Versions", len(model.get("versions") or []))
    cols[3].metric("Features", model.get("n_features"))
    st.markdown(
        f"**{md(ctx.classes.get(model.get('model_type'), {}).get('class_name', model.get('model_type')))}** "
        f"({md(model.get('task'))}) · owner **{md(model.get('owner_login') or model.get('owner') or '—')}** · "
        f"created {short_time(model.get('created_at'))} · features: {md_list(model.get('feature_names') or [])} · "
        f"[open in MLflow]({mlflow_model_url(ctx.settings, model_id)})"
    )
    st.dataframe(
        versions_table(model, ctx.settings),
        hide_index=True,
        column_config={
            "MLflow run": st.column_config.LinkColumn("MLflow run", display_text="open run"),
            "current": st.column_config.CheckboxColumn("current"),
            "params": st.column_config.TextColumn("params", width="large"),
        },
        key="versions_table",
    )
    with st.expander(f"Delete {md(model_id)}"):
        st.warning(
            f"This deletes **{md(model_id)}**, its {len(model.get('versions') or [])} version(s), runs and artifacts."
        )
        confirmed = st.checkbox(f"Yes, delete {md(model_id)} for good", key="delete_confirm")
        st.button(
            "Delete model",
            key="delete_button",
            type="primary",
            disabled=not confirmed,
            on_click=delete_model,
            args=(ctx.client, model_id),
        )


def class_label(classes: dict[str, dict[str, Any]], key: str) -> str:
    info = classes.get(key, {})
    return f"{info.get('class_name', key)} · {info.get('task', '')}"


def run_training(ctx: Context, payload: dict[str, Any], data: dict[str, Any], retrain_of: str | None = None) -> Any:
    """Call train/retrain with a progress indicator; for classifiers also fetch the confusion matrix."""
    task = ctx.classes.get(payload.get("model_type", ""), {}).get("task")
    what = (
        f"Retraining {md(retrain_of)}"
        if retrain_of
        else f"Training {md(class_label(ctx.classes, payload['model_type']))}"
    )
    rows = f" on {len(data['X'])} rows" if "X" in data else f" on {md(data.get('dataset'))}"
    with st.status(f"{what}{rows}…", expanded=True) as status:
        st.write("The API fits the model, evaluates it and registers the new version in MLflow.")
        try:
            result = ctx.client.retrain(retrain_of, payload) if retrain_of else ctx.client.train(payload)
        except ApiError as exc:
            status.update(label=f"{what} failed", state="error", expanded=True)
            show_api_error(exc)
            return None
        confusion = None
        if (result.get("task") or task) == CLASSIFICATION and "X" in data:
            st.write("Scoring the training table for the confusion matrix…")
            scored = api_call("Confusion matrix", ctx.client.predict, result["model_id"], data["X"], result["version"])
            if scored:
                confusion = confusion_counts(data["y"], scored["predictions"])
        status.update(label=f"{md(result['model_id'])} v{result['version']} is ready", state="complete", expanded=False)
    return {"model_id": result["model_id"], "result": result, "confusion": confusion}


def show_training_result(ctx: Context, outcome: dict[str, Any]) -> None:
    """Metrics of a freshly trained version and, for classifiers, its confusion matrix."""
    result = outcome["result"]
    st.success(
        f"Model **{md(result['model_id'])}** version **{result['version']}** is trained and registered. "
        f"[Open in MLflow]({mlflow_model_url(ctx.settings, result['model_id'], result['version'])})",
        icon=":material/check_circle:",
    )
    show_metrics(result.get("metrics") or {})
    evaluated = (
        f"held-out {result.get('n_eval')} rows" if result.get("evaluation") == "holdout" else "the training rows"
    )
    st.caption(f"Metrics on {evaluated}; trained on {result.get('n_train')} rows.")
    if outcome.get("confusion") is not None:
        st.markdown("**Confusion matrix** on the data you trained with")
        st.altair_chart(confusion_chart(outcome["confusion"]), key=f"confusion_{result['model_id']}")


def render_train(ctx: Context) -> None:
    """Train tab: class, data, a form generated from the hyperparameter schema, the result."""
    if not ctx.classes:
        st.info("The model catalogue could not be loaded.")
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        model_type = st.selectbox(
            "Model class", list(ctx.classes), format_func=lambda k: class_label(ctx.classes, k), key="train_model_type"
        )
        st.caption(ctx.classes[model_type].get("description", ""))
        data = training_input("train", ctx)
    specs = [field_spec(hp) for hp in ctx.classes[model_type].get("hyperparameters", [])]
    with right, st.form("train_form", border=True):
        model_id = st.text_input("Model id (optional)", key="train_model_id", placeholder="empty = generated")
        test_size = st.slider("Held-out share for evaluation", 0.0, 0.5, 0.2, 0.05, key="train_test_size")
        submitted = st.form_submit_button("Train model", type="primary", key="train_submit", width="stretch")
        st.markdown("**Hyperparameters** (defaults filled in; hover (?) for ranges)")
        values = hyperparameter_inputs(specs, f"train_{model_type}", columns=2)
    if submitted:
        if data is None:
            st.warning("Add training data first (upload or paste a table).", icon=":material/table:")
        else:
            payload = {"model_type": model_type, "params": changed_params(specs, values), "test_size": test_size}
            if model_id.strip():
                payload["model_id"] = model_id.strip()
            outcome = run_training(ctx, {**payload, **data}, data)
            if outcome:
                st.session_state["train_result"] = outcome
                st.session_state["focus_model"] = outcome["model_id"]
                st.rerun()  # list the new model everywhere and select it
    if st.session_state.get("train_result"):
        with left:
            show_training_result(ctx, st.session_state["train_result"])


def render_retrain(ctx: Context) -> None:
    """Retrain tab: new data for an existing model; the new version beside the old one."""
    if not ctx.models:
        st.info("No models to retrain yet.")
        return
    ids = [model["id"] for model in reversed(ctx.models)]
    model_id = st.selectbox("Model", ids, key="retrain_model")
    model = next(m for m in ctx.models if m["id"] == model_id)
    name, value = key_metric(model.get("task"), model.get("metrics"))
    st.caption(
        f"{md(class_label(ctx.classes, model.get('model_type', '')))} · current version v{model.get('version')} "
        f"({md(name)} {md(number_text(value))}) · trained {short_time(model.get('updated_at'))}"
    )
    data = training_input("retrain", ctx)
    schema = ctx.classes.get(model.get("model_type", ""), {}).get("hyperparameters", [])
    specs = [field_spec(hp) for hp in schema_with_defaults(schema, model.get("params"))]
    with st.form("retrain_form"):
        test_size = st.slider("Held-out share for evaluation", 0.0, 0.5, 0.2, 0.05, key="retrain_test_size")
        with st.expander("Hyperparameters (the current version's values are filled in)"):
            values = hyperparameter_inputs(specs, f"retrain_{model_id}")
        submitted = st.form_submit_button("Retrain", type="primary", key="retrain_submit")
    if submitted:
        if data is None:
            st.warning("Add the new training data first.", icon=":material/table:")
        else:
            payload = {"params": changed_params(specs, values), "test_size": test_size, **data}
            before = {"model_id": model_id, "version": model.get("version"), "metrics": model.get("metrics")}
            outcome = run_training(ctx, payload, data, retrain_of=model_id)
            if outcome:
                st.session_state["retrain_result"] = {**outcome, "before": before}
    outcome = st.session_state.get("retrain_result")
    if outcome and outcome["model_id"] == model_id:
        result = outcome["result"]
        after = {"model_id": model_id, "version": result["version"], "metrics": result.get("metrics")}
        st.success(f"{md(model_id)}: version {result['version']} is now current (was {outcome['before']['version']}).")
        st.dataframe(metrics_wide([outcome["before"], after]), hide_index=True)
        chart = metrics_chart([outcome["before"], after])
        if chart is not None:
            st.altair_chart(chart, key="retrain_chart")


def render_predict(ctx: Context) -> None:
    """Predict tab: one row through a form, or a batch from a table; probabilities, chart, download."""
    if not ctx.models:
        st.info("No models yet: train one first.")
        return
    ids = [model["id"] for model in reversed(ctx.models)]
    top = st.columns([2, 1])
    model_id = top[0].selectbox("Model", ids, key="predict_model")
    model = next(m for m in ctx.models if m["id"] == model_id)
    version = top[1].number_input(
        "Version (empty = current)", min_value=1, value=None, step=1, key="predict_version", placeholder="current"
    )
    features = list(model.get("feature_names") or [f"x{i}" for i in range(model.get("n_features") or 0)])
    mode = st.radio("Input", ["One row", "Batch (table)"], horizontal=True, key="predict_mode")
    rows: list[list[float]] | None = None
    if mode == "One row":
        with st.form("predict_form"):
            grid = st.columns(min(len(features), 4) or 1)
            values = [
                grid[i % len(grid)].number_input(md(name), value=0.0, format="%g", key=f"predict_{model_id}_{name}")
                for i, name in enumerate(features)
            ]
            if st.form_submit_button("Predict", type="primary", key="predict_submit"):
                rows = [values]
    else:
        frame = table_input("predict", "Rows to predict")
        st.caption(f"Columns named {md_list(features)} (any order), or exactly {len(features)} columns in this order.")
        if frame is not None and st.button("Predict", type="primary", key="predict_batch_submit"):
            try:
                rows = prediction_rows(frame, features)
            except DataError as exc:
                st.error(str(exc), icon=":material/error:")
    if rows:
        result = api_call("Prediction", ctx.client.predict, model_id, rows, version)
        if result:
            st.session_state["predict_result"] = {
                "model_id": model_id,
                "result": result,
                "table": predictions_table(rows, features, result),
            }
    show_predictions(st.session_state.get("predict_result"), model_id)


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
        shown = probabilities[probabilities["row"] <= 50]
        chart = (
            alt.Chart(shown)
            .mark_bar()
            .encode(
                x=(
                    alt.X("row:O", title="row", axis=alt.Axis(labelAngle=0))
                    if len(table) > 1
                    else alt.X("class:N", title="class", axis=alt.Axis(labelAngle=0))
                ),
                y=alt.Y("probability:Q", stack=True, scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("class:N"),
                tooltip=["row", "class", alt.Tooltip("probability:Q", format=".3f")],
            )
            .properties(height=260, title="Class probabilities" + (" (first 50 rows)" if len(table) > 50 else ""))
        )
        st.altair_chart(chart, key="probabilities_chart")
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
    """Compare tab: metrics of several models (current versions, or every version) side by side."""
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
    st.dataframe(metrics_wide(records), hide_index=True, key="compare_table")
    chart = metrics_chart(records)
    if chart is not None:
        st.altair_chart(chart, key="compare_chart")


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
        "Train scikit-learn models on your own table, inspect and compare their versions, get predictions. "
        "New here? Start in **Train** with a CSV, then try the model in **Predict**."
    )
    render_tabs(settings, client)


def render_tabs(settings: DashboardSettings, client: ApiClient) -> None:
    """The five tabs of a signed-in visitor."""
    models = api_call("Loading models", client.list_models)
    classes = api_call("Loading model classes", cached_model_classes, settings.api_url, client) or {}
    ctx = Context(settings, client, models or [], classes, cached_api_paths(settings.api_url, client))
    tabs = st.tabs(
        [
            ":material/table_view: Models",
            ":material/model_training: Train",
            ":material/autorenew: Retrain",
            ":material/online_prediction: Predict",
            ":material/bar_chart: Compare",
        ]
    )
    for tab, render in zip(
        tabs, (render_models, render_train, render_retrain, render_predict, render_compare), strict=True
    ):
        with tab:
            render(ctx)


if __name__ == "__main__":
    main()
