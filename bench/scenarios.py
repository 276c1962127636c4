"""The four benchmarks of issue 7, each beside a baseline measured in the same run.

1. ``train_round_trips``: ``POST /models/train`` until the response with a registered version,
   beside plain ``mlflow.sklearn.log_model(..., registered_model_name=...)`` with default settings.
2. ``predict_throughput``: single-row and 1,000-row requests over REST and gRPC beside
   ``mlflow models serve`` of the same registered version and the in-process ``model.predict`` floor.
3. ``cold_starts``: process start to first successful prediction of an existing model.
4. ``scale``: 1M x 20 training through the core beside bare scikit-learn ``fit`` (child processes).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import requests
from sklearn.datasets import load_iris

import app_pb2
import app_pb2_grpc
import inference_pb2
import inference_pb2_grpc
from bench.load import Call, run_floor, run_load, summary_seconds
from bench.scale import make_data
from bench.stack import EXPERIMENT, Stack, wait_all_ready
from mlservice.devstack.mlserver import MLServer
from mlservice.devstack.processes import ROOT, MissingBinaries, base_env, free_port, http_ok

logger = logging.getLogger(__name__)

PREDICT_MODEL_ID = "bench-iris-logreg"
JSON_HEADERS = {"Content-Type": "application/json"}  # mlflow models serve: no authentication


@dataclass(frozen=True)
class Plan:
    """How much of each benchmark to run (quick or full mode)."""

    quick: bool
    train_runs: int
    baseline_runs: int
    explicit_baseline_runs: int
    large_train_runs: int
    concurrencies: tuple[int, ...]
    cell_seconds: float
    warmup_seconds: float
    floor_seconds: float
    scale_rows: int

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 8, 2, 1, 0, (1, 8), 1.5, 0.3, 0.5, 0)
        return cls(False, 20, 5, 3, 5, (1, 8, 32), 8.0, 1.0, 3.0, 1_000_000)


def iris() -> tuple[np.ndarray, np.ndarray]:
    """Iris as arrays (150 x 4, integer labels)."""
    X, y = load_iris(return_X_y=True)
    return X, y


# --------------------------------------------------------------------------------------------------
# 1. Train round trip
# --------------------------------------------------------------------------------------------------


def _post_train(session: requests.Session, stack: Stack, body: bytes) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = session.post(f"{stack.rest_url}/models/train", data=body, headers=stack.rest_headers, timeout=600)
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"POST /models/train answered {response.status_code}: {response.text[:300]}")
    result = response.json()
    if int(result.get("version", 0)) < 1:
        raise RuntimeError(f"no registered version in the training response: {result}")
    return elapsed, result


def service_train(stack: Stack, X: np.ndarray, y: np.ndarray, runs: int, decimals: int | None = None) -> dict:
    """Repeated ``POST /models/train`` (one untimed warm-up): round trip and the core's own timings."""
    rows = (np.round(X, decimals) if decimals is not None else X).tolist()
    body = json.dumps({"model_type": "logistic_regression", "X": rows, "y": y.tolist()}).encode()
    round_trips: list[float] = []
    phases: dict[str, list[float]] = {}
    with requests.Session() as session:
        _post_train(session, stack, body)
        for _ in range(runs):
            elapsed, result = _post_train(session, stack, body)
            round_trips.append(elapsed)
            for phase, seconds in result["timings"].items():
                phases.setdefault(phase, []).append(float(seconds))
            phases.setdefault("outside_core_total_seconds", []).append(
                elapsed - float(result["timings"]["total_seconds"])
            )
    return {
        "body_mib": len(body) / 2**20,
        "round_trip": summary_seconds(round_trips),
        "phases_p50": {phase: float(np.percentile(values, 50)) for phase, values in phases.items()},
        "core_total": summary_seconds(phases["total_seconds"]),
    }


def _baseline_once(X: np.ndarray, y: np.ndarray, pip_requirements: list[str] | None) -> dict[str, float]:
    import mlflow  # pylint: disable=import-outside-toplevel
    import mlflow.sklearn  # pylint: disable=import-outside-toplevel
    from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel

    started = time.perf_counter()
    model = LogisticRegression().fit(X, y)
    fitted = time.perf_counter()
    extra = {} if pip_requirements is None else {"pip_requirements": pip_requirements}
    name = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    # MLflow prints run links and registration notes: keep them off the benchmark's terminal
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        with mlflow.start_run():
            run_started = time.perf_counter()
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name, **extra)
            logged = time.perf_counter()
        ended = time.perf_counter()
    return {
        "total_seconds": ended - started,
        "fit_seconds": fitted - started,
        "start_run_seconds": run_started - fitted,
        "log_model_and_register_seconds": logged - run_started,
        "end_run_seconds": ended - logged,
    }


def baseline_train(tracking_uri: str, X: np.ndarray, y: np.ndarray, runs: int, explicit: bool = False) -> dict:
    """Plain MLflow: fit, ``start_run``, ``log_model(registered_model_name=...)``; default settings.

    With ``explicit`` the same call gets ``pip_requirements`` (what inference costs shows as the gap).
    """
    import mlflow  # pylint: disable=import-outside-toplevel
    import sklearn  # pylint: disable=import-outside-toplevel

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # MLflow configures its logger on import
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT + "-baseline")
    pip = [f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}"] if explicit else None
    samples = [_baseline_once(X, y, pip) for _ in range(runs)]
    return {
        "total": summary_seconds([s["total_seconds"] for s in samples]),
        "phases_p50": {k: float(np.median([s[k] for s in samples])) for k in samples[0]},
    }


def train_round_trips(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Benchmark 1: Iris-sized (and in full mode 100k x 20) training, service vs plain MLflow."""
    X, y = iris()
    results: dict[str, Any] = {"iris": {"rows": len(y), "features": X.shape[1]}}
    results["iris"]["service"] = service_train(stack, X, y, plan.train_runs)
    results["iris"]["baseline"] = baseline_train(stack.mlflow_url, X, y, plan.baseline_runs)
    results["iris"]["baseline_explicit_pip"] = baseline_train(
        stack.mlflow_url, X, y, plan.explicit_baseline_runs, explicit=True
    )
    if plan.large_train_runs:
        X_large, y_large = make_data(100_000, 20)
        large = {"rows": 100_000, "features": 20, "json_decimals": 4}
        large["service"] = service_train(stack, X_large, y_large, plan.large_train_runs, decimals=4)
        large["baseline"] = baseline_train(stack.mlflow_url, X_large, y_large, max(2, plan.baseline_runs - 2))
        results["100k"] = large
    return results


# --------------------------------------------------------------------------------------------------
# 2. Predict
# --------------------------------------------------------------------------------------------------


def train_predict_model(stack: Stack) -> str:
    """The model every prediction benchmark serves: LogisticRegression on Iris, registered as version 1."""
    X, y = iris()
    body = {"model_type": "logistic_regression", "model_id": PREDICT_MODEL_ID, "X": X.tolist(), "y": y.tolist()}
    response = requests.post(f"{stack.rest_url}/models/train", json=body, headers=stack.rest_headers, timeout=120)
    response.raise_for_status()
    return response.json()["model_id"]


def payload_rows(n_rows: int) -> np.ndarray:
    """n_rows Iris-like rows (a fixed sample of Iris rows)."""
    X, _ = iris()
    if n_rows == 1:
        return X[:1]
    return X[np.random.default_rng(1).integers(0, len(X), n_rows)]


def rest_caller(url: str, body: bytes, headers: dict[str, str]) -> Call:
    """One thread's REST call: its own keep-alive session, a pre-encoded body."""
    session = requests.Session()

    def call() -> bool:
        response = session.post(url, data=body, headers=headers, timeout=30)
        return response.status_code == 200 and len(response.content) > 0

    return call


def grpc_caller(target: str, request: app_pb2.PredictRequest, metadata: tuple) -> Call:
    """One thread's gRPC call: its own channel and stub, a pre-built request."""
    stub = app_pb2_grpc.MLServiceStub(grpc.insecure_channel(target))

    def call() -> bool:
        stub.Predict(request, timeout=30, metadata=metadata)
        return True

    return call


def v2_caller(target: str, request: inference_pb2.ModelInferRequest, metadata: tuple) -> Call:
    """One thread's Open Inference Protocol gRPC call (``ModelInfer``): its own channel, a pre-built request."""
    stub = inference_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(target))

    def call() -> bool:
        return len(stub.ModelInfer(request, timeout=30, metadata=metadata).raw_output_contents) == 2

    return call


def v2_bodies(model_id: str, payloads: dict[int, np.ndarray]) -> tuple[dict[int, bytes], dict[int, Any]]:
    """The same Open Inference Protocol request for ours and MLServer: one ``[N, 4]`` FP64 tensor, outputs
    ``predict`` and ``predict_proba`` (what our own predict answers); REST as JSON, gRPC with raw contents
    (as tritonclient sends)."""
    outputs = [{"name": "predict"}, {"name": "predict_proba"}]
    rest, grpc_requests = {}, {}
    for n_rows, X in payloads.items():
        tensor = {"name": "input-0", "datatype": "FP64", "shape": list(X.shape), "data": X.ravel().tolist()}
        rest[n_rows] = json.dumps({"inputs": [tensor], "outputs": outputs}).encode()
        request = inference_pb2.ModelInferRequest(model_name=model_id)
        request.inputs.add(name="input-0", datatype="FP64", shape=list(X.shape))
        request.raw_input_contents.append(np.ascontiguousarray(X, dtype="<f8").tobytes())
        for output in outputs:
            request.outputs.add(name=output["name"])
        grpc_requests[n_rows] = request
    return rest, grpc_requests


def start_mlserver(stack: Stack, estimator: Any, model_id: str) -> MLServer | None:
    """MLServer 1.7.1 (one process: ``parallel_workers: 0``; its metrics on) serving the same estimator, or
    None when it is not installed (``make mlserver``)."""
    try:
        server = MLServer(estimator, model_id, Path(tempfile.mkdtemp(prefix="bench-mlserver-")), stack.log_dir,
                          parallel_workers=0)  # fmt: skip
    except MissingBinaries as missing:
        logger.warning("MLServer cells skipped: %s", missing)
        return None
    server.start_and_wait()
    stack.exit_stack.callback(server.stop)
    return server


def in_process_references(tracking_uri: str, model_id: str) -> tuple[Any, Any]:
    """The served version as a bare estimator (MLflow's loader) and an in-process core over the stack."""
    import mlflow.sklearn  # pylint: disable=import-outside-toplevel

    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel
    from models import ModelService  # pylint: disable=import-outside-toplevel

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # cosmetic: no progress bar on the terminal
    estimator = mlflow.sklearn.load_model(f"models:/{model_id}/1")
    settings = Settings(
        mlflow_tracking_uri=tracking_uri, experiment_name=EXPERIMENT, state_dir=tempfile.mkdtemp(prefix="bench-state-")
    )
    return estimator, ModelService(settings)  # the baseline's MLflow client keeps its defaults


def floor_calls(estimator: Any, service: Any, model_id: str, X: np.ndarray) -> dict[str, Any]:
    """In-process references for one payload: bare predict, predict+predict_proba, and the core itself."""
    from mlservice.core.inputs import PredictRequest  # pylint: disable=import-outside-toplevel

    rows = X.tolist()
    return {
        "predict": lambda: estimator.predict(X),
        "predict_and_proba": lambda: (estimator.predict(X), estimator.predict_proba(X)),
        "core_in_process": lambda: service.predict(PredictRequest(model_id, X=rows)),
    }


def serve_bodies(n_rows_list: tuple[int, ...] = (1, 1000)) -> dict[int, bytes]:
    """``mlflow models serve`` payloads (``dataframe_split`` with the signature's column names)."""
    bodies = {}
    for n_rows in n_rows_list:
        X = payload_rows(n_rows)
        columns = [f"feature_{i}" for i in range(X.shape[1])]
        bodies[n_rows] = json.dumps({"dataframe_split": {"columns": columns, "data": X.tolist()}}).encode()
    return bodies


def predict_throughput(stack: Stack, plan: Plan, model_id: str, serve: dict[str, Any]) -> dict[str, Any]:  # pylint: disable=too-many-locals
    """Benchmark 2: requests/s, p50, p99 and server CPU per 1,000 requests for each cell.

    ``serve`` is the running ``mlflow models serve`` of the same version (from ``cold_starts``).
    """
    payloads = {n: payload_rows(n) for n in (1, 1000)}
    rest_bodies = {n: json.dumps({"X": X.tolist()}).encode() for n, X in payloads.items()}
    serve_payloads = serve_bodies(tuple(payloads))
    # single rows in the reference contract's shape; batches in the packed form made for them
    # (values + n_features: parsed straight into NumPy, flat probabilities back)
    grpc_requests = {
        n: app_pb2.PredictRequest(model_id=model_id, X=[app_pb2.FeatureArray(features=row) for row in X.tolist()])
        if n == 1
        else app_pb2.PredictRequest(model_id=model_id, values=X.ravel().tolist(), n_features=X.shape[1])
        for n, X in payloads.items()
    }
    v2_rest, v2_grpc = v2_bodies(model_id, payloads)
    v2_url = f"{stack.rest_url}/v2/models/{model_id}/infer"
    serve_process = serve["process"]
    estimator, service = in_process_references(stack.mlflow_url, model_id)
    servers = {
        "rest": (
            [stack.rest.process.pid],
            lambda n: rest_caller(f"{stack.rest_url}/models/{model_id}/predict", rest_bodies[n], stack.rest_headers),
        ),
        "grpc": (
            [stack.grpc.process.pid],
            lambda n: grpc_caller(stack.grpc_target, grpc_requests[n], stack.grpc_metadata),
        ),
        "mlflow_serve": (
            [serve_process.process.pid],
            lambda n: rest_caller(serve["url"] + "/invocations", serve_payloads[n], JSON_HEADERS),
        ),
        "v2_rest": ([stack.rest.process.pid], lambda n: rest_caller(v2_url, v2_rest[n], stack.rest_headers)),
        "v2_grpc": ([stack.grpc.process.pid], lambda n: v2_caller(stack.grpc_target, v2_grpc[n], stack.grpc_metadata)),
    }
    mlserver = start_mlserver(stack, estimator, model_id)
    if mlserver is not None:
        their_url = f"{mlserver.url}/v2/models/{model_id}/infer"
        servers["mlserver_rest"] = ([mlserver.process.pid], lambda n: rest_caller(their_url, v2_rest[n], JSON_HEADERS))
        servers["mlserver_grpc"] = ([mlserver.process.pid], lambda n: v2_caller(mlserver.grpc_target, v2_grpc[n], ()))
    floor_results: dict[str, Any] = {}
    cells: list[dict[str, Any]] = []
    for n_rows, X in payloads.items():
        for name, call in floor_calls(estimator, service, model_id, X).items():
            floor_results[f"{name}/{n_rows}"] = {
                "rows": n_rows,
                "kind": name,
                **run_floor(call, plan.floor_seconds, 0.2),
            }
        for concurrency in plan.concurrencies:
            for server, (pids, factory) in servers.items():
                cell = run_load(
                    lambda factory=factory, n_rows=n_rows: factory(n_rows),
                    concurrency,
                    plan.cell_seconds,
                    plan.warmup_seconds,
                    pids,
                )
                cells.append({"server": server, "rows": n_rows, **cell})
                logger.info(
                    "predict %-12s rows=%-4d c=%-2d %8.1f req/s p50 %.2f ms p99 %.2f ms errors %d",
                    server, n_rows, concurrency, cell["rps"],
                    cell["p50_ms"] or 0.0, cell["p99_ms"] or 0.0, cell["errors"],
                )  # fmt: skip
    serve_process.stop(timeout=8)
    if mlserver is not None:
        mlserver.stop()
    return {
        "model_id": model_id,
        "mlserver": None if mlserver is None else {"version": "1.7.1", "settings": {"parallel_workers": 0}},
        "floors": floor_results,
        "cells": cells,
        "in_process_core_loads": service.cache.loads,
    }


# --------------------------------------------------------------------------------------------------
# 3. Cold start and the per-version cache
# --------------------------------------------------------------------------------------------------


def _first_prediction(stack: Stack, role: str, url: str, model_id: str) -> None:
    if role == "rest":
        body = json.dumps({"X": [[5.1, 3.5, 1.4, 0.2]]})
        response = requests.post(f"{url}/models/{model_id}/predict", data=body, headers=stack.rest_headers, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"first REST prediction failed: {response.status_code} {response.text[:200]}")
        return
    with grpc.insecure_channel(url) as channel:
        request = app_pb2.PredictRequest(model_id=model_id, X=[app_pb2.FeatureArray(features=[5.1, 3.5, 1.4, 0.2])])
        app_pb2_grpc.MLServiceStub(channel).Predict(request, timeout=60, metadata=stack.grpc_metadata)


def spawn_mlflow_serve(stack: Stack, model_id: str) -> tuple[Any, str, Any]:
    """``mlflow models serve`` of the same version with its default settings (local environment)."""
    port = free_port()
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    args = [mlflow_bin, "models", "serve", "-m", f"models:/{model_id}/1", "-p", str(port), "--env-manager", "local"]
    url = f"http://127.0.0.1:{port}"
    return (
        stack.spawn("mlflow-serve", args, base_env(MLFLOW_TRACKING_URI=stack.mlflow_url)),
        url,
        http_ok(url + "/ping"),
    )


def _first_serve_prediction(url: str) -> None:
    response = requests.post(url + "/invocations", data=serve_bodies((1,))[1], headers=JSON_HEADERS, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"mlflow models serve rejected the payload: {response.status_code} {response.text[:300]}")


def cold_starts(stack: Stack, model_id: str, repeats: int) -> tuple[dict[str, Any], dict[str, Any]]:  # pylint: disable=too-many-locals
    """Benchmark 3: new REST and gRPC processes (and, the first time, ``mlflow models serve``).

    Each round spawns them side by side (on 2 cores they compete while importing, so "up" is an upper
    bound), waits for each one's health check, then times each one's first prediction in turn: that
    is the cold start after the process is up, which loads the model from the store. ``mlflow models
    serve`` is left running for the predict benchmark.

    Returns:
        The timings, and the running ``mlflow models serve`` (process, url).
    """
    samples: dict[str, list[dict[str, float]]] = {"rest": [], "grpc": [], "mlflow_serve": []}
    serve: dict[str, Any] = {}
    for attempt in range(repeats):
        started = time.perf_counter()
        spawned = {role: stack.spawn_front_end(role, name=f"{role}-cold-{attempt}") for role in ("rest", "grpc")}
        if attempt == 0:
            spawned["mlflow_serve"] = spawn_mlflow_serve(stack, model_id)
        up = wait_all_ready({role: (process, check) for role, (process, _, check) in spawned.items()}, started)
        for role, (process, url, _) in spawned.items():
            mark = time.perf_counter()
            if role == "mlflow_serve":
                _first_serve_prediction(url)
                serve = {"process": process, "url": url}
            else:
                _first_prediction(stack, role, url, model_id)
            first = time.perf_counter() - mark
            samples[role].append(
                {"up_seconds": up[role], "first_predict_seconds": first, "total_seconds": up[role] + first}
            )
        for role in ("rest", "grpc"):
            spawned[role][0].stop(timeout=8)
    results = {
        role: {
            key: summary_seconds([s[key] for s in runs])
            for key in ("up_seconds", "first_predict_seconds", "total_seconds")
        }
        for role, runs in samples.items()
    }
    return results, serve


def cache_loads(stack: Stack, model_id: str) -> dict[str, Any]:
    """How often each long-running front end loaded the served version from the store (from its log)."""
    marker = f"Loaded model {model_id} version 1"
    counts = {}
    for role, process in (("rest", stack.rest), ("grpc", stack.grpc)):
        counts[role] = process.log_path.read_text(errors="replace").count(marker)
    return {"loads": counts, "rest_workers": int(os.environ.get("MLSERVICE_REST_WORKERS", "2"))}


def cache_settings() -> dict[str, Any]:
    """The cache's knobs as the service's Settings declares them (count and/or bytes)."""
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel

    fields = dict(Settings.model_fields)
    names = [name for name in fields if "cache" in name]
    return {
        "settings": {name: fields[name].default for name in names},
        "count_limit": any("size" in n or "count" in n or "entries" in n for n in names),
        "bytes_limit": any("bytes" in n for n in names),
    }


# --------------------------------------------------------------------------------------------------
# 4. Scale
# --------------------------------------------------------------------------------------------------


def _scale_child(args: list[str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.scale", *args],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.scale {args[0]} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def scale(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Benchmark 4: bare fit, service path, bare fit again (the baseline is their mean)."""
    rows, features = str(plan.scale_rows), "20"
    bare_first = _scale_child(["bare", rows, features])
    service = _scale_child(["service", rows, features, stack.mlflow_url])
    bare_second = _scale_child(["bare", rows, features])
    bare_fit = (bare_first["wall_seconds"] + bare_second["wall_seconds"]) / 2
    timings = service["timings"]
    logging_seconds = sum(
        timings.get(k, 0.0) for k in ("log_run_seconds", "save_seconds", "upload_seconds", "register_seconds")
    )
    return {
        "rows": plan.scale_rows,
        "features": 20,
        "bare": [bare_first, bare_second],
        "service": service,
        "bare_fit_seconds": bare_fit,
        "service_logging_seconds": logging_seconds,
        "ratio_vs_fit_plus_logging": service["wall_seconds"] / (bare_fit + logging_seconds),
        "ratio_vs_bare_fit": service["wall_seconds"] / bare_fit,
        # the fit runs in a forkserver child: the whole tree's peak PSS, or the caller's own peak if larger
        "service_peak_mib": (peak := max(service["peak_rss_mib"], service.get("peak_tree_pss_mib", 0.0))),
        "peak_rss_over_data": peak / service["data_mib"],
        "peak_rss_increment_over_data": (peak - service["rss_before_data_mib"]) / service["data_mib"],
        "bare_peak_rss_over_data": max(b["peak_rss_mib"] for b in (bare_first, bare_second)) / bare_first["data_mib"],
    }
