"""The machine description, the targets of issues 7 and 15 checked against the results, and RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from mlservice.devstack.processes import ROOT

PACKAGES = (
    "mlflow",
    "scikit-learn",
    "numpy",
    "pandas",
    "grpcio",
    "granian",
    "orjson",
    "flask",
    "flask-restx",
    "uvicorn",
)


def machine_info() -> dict[str, Any]:
    """Date, cores, CPU model, memory, Python and package versions, BLAS, git commit."""
    cpu_model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        mem_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    try:
        from threadpoolctl import threadpool_info  # pylint: disable=import-outside-toplevel

        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()]
    except ImportError:
        blas = []
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_at_end": load,
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "blas": blas,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        "git_commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
    }


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------


def cell(results: dict[str, Any], server: str, rows: int, concurrency: int) -> dict[str, Any] | None:
    """One load cell of the predict benchmark."""
    for entry in results["predict"]["cells"]:
        if (entry["server"], entry["rows"], entry["concurrency"]) == (server, rows, concurrency):
            return entry
    return None


def _target(name: str, target: str, measured: str, ok: bool | None) -> dict[str, Any]:
    return {"target": name, "goal": target, "measured": measured, "ok": ok}


def _train_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    iris = results["train"]["iris"]
    p50 = iris["service"]["round_trip"]["p50"]
    core = iris["service"]["core_total"]["p50"]
    baseline = iris["baseline"]["total"]["p50"]
    return [
        _target(
            "Train round trip, Iris, p50",
            "<= 0.3 s (issue 15; was < 0.5 s)",
            f"{p50:.3f} s round trip (client-measured, includes all server-side work); core total {core:.3f} s",
            p50 <= 0.3,
        ),
        _target(
            "Train vs default log_model + registration",
            ">= 12x faster (issue 15; was 10x)",
            f"{baseline / p50:.1f}x ({baseline:.2f} s vs {p50:.3f} s, p50)",
            baseline / p50 >= 12,
        ),
    ]


def _predict_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    serve = cell(results, "mlflow_serve", 1, 8)
    for server, factor in (("rest", 3), ("grpc", 4)):
        ours = cell(results, server, 1, 8)
        ratio = ours["rps"] / serve["rps"] if serve and serve["rps"] else float("inf")
        out.append(
            _target(
                f"Single-row predict c=8, {server.upper()} vs mlflow models serve",
                f">= {factor}x requests/s, p99 < 25 ms",
                f"{ratio:.2f}x ({ours['rps']:.0f} vs {serve['rps']:.0f} req/s); p99 {ours['p99_ms']:.1f} ms",
                ratio >= factor and ours["p99_ms"] < 25,
            )
        )
    floors = results["predict"]["floors"]
    grpc_c1 = cell(results, "grpc", 1, 1)
    gap = grpc_c1["p50_ms"] - floors["predict/1"]["p50_ms"]
    out.append(
        _target(
            "gRPC single-row p50 vs in-process floor (c=1)",
            "within 1 ms",
            f"+{gap:.2f} ms ({grpc_c1['p50_ms']:.2f} ms vs {floors['predict/1']['p50_ms']:.3f} ms)",
            gap <= 1.0,
        )
    )
    floor_rows = floors["predict/1000"]["rps"] * 1000
    for server in ("rest", "grpc"):
        best = max(
            (c for c in results["predict"]["cells"] if c["server"] == server and c["rows"] == 1000),
            key=lambda c: c["rps"],
        )
        ratio = floor_rows / (best["rps"] * 1000)
        out.append(
            _target(
                f"1,000-row batches, {server.upper()} vs in-process floor",
                "within 2x of the floor's rows/s",
                f"floor is {ratio:.1f}x faster ({floor_rows:,.0f} vs {best['rps'] * 1000:,.0f} rows/s, "
                f"best at c={best['concurrency']})",
                ratio <= 2,
            )
        )
    return out


MLSERVER_OF = {"rest": "mlserver_rest", "v2_rest": "mlserver_rest", "grpc": "mlserver_grpc", "v2_grpc": "mlserver_grpc"}
CPU_TARGETS = {  # issue 15: server CPU per request, single row, c=8 (x less than the baseline)
    "rest": (3.0, 1.5),
    "v2_rest": (3.0, 1.5),
    "grpc": (5.0, 1.5),
    "v2_grpc": (5.0, 1.5),
}


def cpu_ratio(results: dict[str, Any], server: str, baseline: str, rows: int, concurrency: int) -> float | None:
    """How many times less server CPU per request ``server`` spent than ``baseline`` in the same cell."""
    ours, theirs = cell(results, server, rows, concurrency), cell(results, baseline, rows, concurrency)
    if not ours or not theirs or not ours["server_cpu_s_per_1000"] or not theirs["server_cpu_s_per_1000"]:
        return None
    return theirs["server_cpu_s_per_1000"] / ours["server_cpu_s_per_1000"]


def _capacity_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15: server CPU per request (single row, c=8) against mlflow models serve and MLServer."""
    out = []
    for server, (vs_mlflow, vs_mlserver) in CPU_TARGETS.items():
        ours = cell(results, server, 1, 8)
        mlflow = cpu_ratio(results, server, "mlflow_serve", 1, 8)
        if ours is None or mlflow is None:
            continue
        mlserver = cpu_ratio(results, server, MLSERVER_OF[server], 1, 8)
        measured = f"{ours['server_cpu_s_per_1000']:.2f} CPU-s/1k; {mlflow:.2f}x less than mlflow serve"
        measured += "; MLServer not run" if mlserver is None else f", {mlserver:.2f}x less than MLServer"
        ok = mlflow >= vs_mlflow and (mlserver is None or mlserver >= vs_mlserver)
        out.append(
            _target(
                f"Server CPU per request, single row c=8, {server}",
                f">= {vs_mlflow:g}x less than mlflow serve, >= {vs_mlserver:g}x less than MLServer",
                measured,
                ok if mlserver is not None else None,
            )
        )
    return out


def _serving_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cold = results["cold_start"]
    worst = max(cold[role]["first_predict_seconds"]["max"] for role in ("rest", "grpc"))
    loads = results["cache"]["loads"]
    workers = results["cache"]["rest_workers"]
    loads_ok = loads["grpc"] == 1 and 1 <= loads["rest"] <= workers and results["predict"]["in_process_core_loads"] == 1
    knobs = results["cache"]
    return [
        _target(
            "Cold start after the process is up",
            "< 2 s to the first prediction",
            f"worst {worst:.2f} s (REST p50 {cold['rest']['first_predict_seconds']['p50']:.2f} s, "
            f"gRPC p50 {cold['grpc']['first_predict_seconds']['p50']:.2f} s)",
            worst < 2,
        ),
        _target(
            "Each version loaded from the store once per process",
            "gRPC 1, REST <= workers, in-process core 1",
            f"gRPC {loads['grpc']}, REST {loads['rest']} ({workers} workers), in-process "
            f"{results['predict']['in_process_core_loads']}",
            loads_ok,
        ),
        _target(
            "Cache bounded by count and by bytes",
            "LRU limits configurable by count/bytes",
            f"settings: {knobs['settings'] or 'none'}; count limit {knobs['count_limit']}, "
            f"bytes limit {knobs['bytes_limit']}",
            knobs["count_limit"] and knobs["bytes_limit"],
        ),
    ]


def _scale_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    scale = results.get("scale")
    if not scale:
        return [
            _target("1M-row training wall time", "<= 1.3x bare fit + logging", "not run (quick mode)", None),
            _target("1M-row training peak RSS", "< 3x raw data", "not run (quick mode)", None),
        ]
    return [
        _target(
            "1M-row training wall time",
            "<= 1.3x bare fit + logging",
            f"{scale['ratio_vs_fit_plus_logging']:.2f}x ({scale['service']['wall_seconds']:.1f} s vs "
            f"{scale['bare_fit_seconds']:.1f} s fit + {scale['service_logging_seconds']:.2f} s logging)",
            scale["ratio_vs_fit_plus_logging"] <= 1.3,
        ),
        _target(
            "1M-row training peak RSS",
            "< 3x raw data",
            f"{scale['peak_rss_over_data']:.2f}x ({scale.get('service_peak_mib', scale['service']['peak_rss_mib']):.0f}"
            " MiB peak vs "
            f"{scale['service']['data_mib']:.0f} MiB data; {scale['peak_rss_increment_over_data']:.2f}x above the "
            f"process before the data)",
            scale["peak_rss_over_data"] < 3,
        ),
    ]


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issues 7 and 15 with what was measured and whether it is met."""
    return (
        _train_targets(results)
        + _predict_targets(results)
        + _capacity_targets(results)
        + _serving_targets(results)
        + _scale_targets(results)
    )


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("✅" if ok else "❌")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _header(results: dict[str, Any]) -> list[str]:
    meta = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in meta["packages"].items())
    return [
        "# mlservice benchmark results",
        "",
        f"Generated by `python -m bench{' --quick' if results['mode'] == 'quick' else ''}` "
        f"(mode **{results['mode']}**, {results['wall_seconds']:.0f} s including stack start and teardown). "
        "See `docs/PERFORMANCE.md` for what each figure means.",
        "",
        f"- Date: {meta['date']}; commit {meta['git_commit']}",
        f"- Machine: {meta['nproc']} cores ({meta['cpu_model']}), {meta['memory_gib']} GiB RAM, {meta['platform']}; "
        "the load client, every server and other work share these cores",
        f"- Python {meta['python']}; {packages}",
        f"- BLAS: {'; '.join(meta['blas']) or 'unknown'}; environment {meta['openblas_env'] or 'none'}",
        f"- Load average (1/5/15 min) at the start {results.get('loadavg_at_start', '?')}, at the end "
        f"{meta.get('loadavg_at_end', '?')}: other work on the machine competes for the same cores",
        "- Stack start (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in results["stack_startup_seconds"].items())
        + " (REST/gRPC: from spawn, side by side)",
        "",
    ]


def _targets_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| | Target | Goal | Measured |", "|---|---|---|---|"]
    for entry in results["targets"]:
        lines.append(f"| {_mark(entry['ok'])} | {entry['target']} | {entry['goal']} | {entry['measured']} |")
    return [*lines, ""]


def _train_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Train round trip",
        "",
        "Service: `POST /models/train` (LogisticRegression, defaults) until the 201 with a registered version; "
        "one untimed warm-up. Baseline: in the benchmark process, `fit` + `mlflow.start_run()` + "
        "`mlflow.sklearn.log_model(model, name=..., registered_model_name=...)` with default settings, "
        "against the same MLflow server.",
        "",
        "| Data | Path | runs | p50 s | p95 s | ratio (baseline p50 / this p50) |",
        "|---|---|---|---|---|---|",
    ]
    for train in results["train"].values():
        label = f"{train['rows']:,} x {train['features']}"
        base = train["baseline"]["total"]["p50"]
        service = train["service"]["round_trip"]
        lines.append(
            f"| {label} | service round trip (body {train['service']['body_mib']:.1f} MiB) | {service['n']} | "
            f"{service['p50']:.3f} | {service['p95']:.3f} | **{base / service['p50']:.1f}x** |"
        )
        core = train["service"]["core_total"]
        lines.append(
            f"| {label} | service core `timings.total_seconds` | {core['n']} | {core['p50']:.3f} | "
            f"{core['p95']:.3f} | |"
        )
        for name, title in (
            ("baseline", "default `log_model` + registration"),
            ("baseline_explicit_pip", "same with explicit `pip_requirements`"),
        ):
            if name in train:
                total = train[name]["total"]
                lines.append(
                    f"| {label} | baseline: {title} | {total['n']} | {total['p50']:.3f} | {total['p95']:.3f} | "
                    f"{base / total['p50']:.1f}x |"
                )
    lines += ["", "Breakdown (p50 seconds of each phase):", ""]
    lines += ["| Data | Path | Phases |", "|---|---|---|"]
    for train in results["train"].values():
        label = f"{train['rows']:,} x {train['features']}"
        for name in ("service", "baseline", "baseline_explicit_pip"):
            if name in train:
                phases = ", ".join(
                    f"{k.removesuffix('_seconds')} {v:.3f}" for k, v in train[name]["phases_p50"].items()
                )
                lines.append(f"| {label} | {name} | {phases} |")
    lines += [
        "",
        "`outside_core_total` = round trip minus the core's `total_seconds`: JSON parsing and Flask-RESTX "
        "validation, conversion to arrays, the registered-model creation and the response, which the core's "
        "timings do not cover.",
        "",
    ]
    return lines


def _predict_section(results: dict[str, Any]) -> list[str]:
    predict = results["predict"]
    lines = [
        "## 2. Predict",
        "",
        f"Model `{predict['model_id']}` (LogisticRegression on Iris, 4 features). Closed-loop client threads in the "
        "benchmark process (one keep-alive session or gRPC channel each, pre-encoded bodies); the server's CPU "
        "is its whole process tree (granian + workers, the gRPC process, `mlflow models serve` + uvicorn, MLServer). "
        "`rest`/`grpc`: our own predict; `v2_rest`/`v2_grpc`: our Open Inference Protocol doors; "
        "`mlserver_rest`/`mlserver_grpc`: MLServer (one process, `parallel_workers: 0`, its metrics on) serving the "
        "same estimator. Ours and MLServer answer predictions **and** class probabilities (the v2 requests ask for "
        "`predict` and `predict_proba`; gRPC with raw contents, as tritonclient sends); `mlflow models serve` "
        "returns predictions only (payload `dataframe_split`). The last column compares `rest`/`v2_rest` with "
        "`mlserver_rest` and `grpc`/`v2_grpc` with `mlserver_grpc`.",
        "",
        "| Rows | c | Server | req/s | x mlflow serve | p50 ms | p99 ms | server CPU-s / 1k req "
        "| x less CPU than mlflow serve | x less CPU than MLServer | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in predict["cells"]:
        serve = cell(results, "mlflow_serve", entry["rows"], entry["concurrency"])
        speed = entry["rps"] / serve["rps"] if serve and serve["rps"] else None
        cpu = entry["server_cpu_s_per_1000"]
        serve_cpu = serve["server_cpu_s_per_1000"] if serve else None
        less = serve_cpu / cpu if cpu and serve_cpu else None
        server = entry["server"]
        vs_mlserver = (
            cpu_ratio(results, server, MLSERVER_OF[server], entry["rows"], entry["concurrency"])
            if server in MLSERVER_OF
            else None
        )
        lines.append(
            f"| {entry['rows']} | {entry['concurrency']} | {server} | {entry['rps']:.0f} | "
            f"{'' if speed is None else f'{speed:.2f}x'} | {_ms(entry['p50_ms'])} | {_ms(entry['p99_ms'])} | "
            f"{'—' if cpu is None else f'{cpu:.2f}'} | {'' if less is None else f'{less:.2f}x'} | "
            f"{'' if vs_mlserver is None else f'{vs_mlserver:.2f}x'} | {entry['errors']} |"
        )
    lines += [
        "",
        "In-process references (one thread, no transport):",
        "",
        "| Rows | Call | calls/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for floor in predict["floors"].values():
        lines.append(
            f"| {floor['rows']} | {floor['kind']} | {floor['rps']:.0f} | {floor['p50_ms']:.3f} | "
            f"{floor['p99_ms']:.3f} |"
        )
    return [*lines, ""]


def _cold_section(results: dict[str, Any]) -> list[str]:
    cold = results["cold_start"]
    serve = cold["mlflow_serve"]
    lines = [
        "## 3. Cold start",
        "",
        'A new process on a new port for a model that already exists; spawn -> health check passing ("up") '
        "-> first successful prediction (which loads the model from the store).",
        "",
        "| Server | runs | up s (p50) | first prediction after up s (p50 / max) | total s (p50) |",
        "|---|---|---|---|---|",
    ]
    for role in ("rest", "grpc"):
        entry = cold[role]
        lines.append(
            f"| {role} | {entry['total_seconds']['n']} | {entry['up_seconds']['p50']:.2f} | "
            f"{entry['first_predict_seconds']['p50']:.3f} / {entry['first_predict_seconds']['max']:.3f} | "
            f"{entry['total_seconds']['p50']:.2f} |"
        )
    lines.append(
        f"| mlflow models serve (baseline) | 1 | {serve['up_seconds']['p50']:.2f} | "
        f"{serve['first_predict_seconds']['p50']:.3f} | {serve['total_seconds']['p50']:.2f} |"
    )
    cache = results["cache"]
    lines += [
        "",
        f"Loads of the served version from the store during the whole predict benchmark, counted in each "
        f"long-running process's log: gRPC {cache['loads']['grpc']}, REST {cache['loads']['rest']} "
        f"(granian, {cache['rest_workers']} worker processes, each with its own cache), in-process core "
        f"{results['predict']['in_process_core_loads']}. Cache settings: {cache['settings']}.",
        "",
    ]
    return lines


def _scale_section(results: dict[str, Any]) -> list[str]:
    scale = results.get("scale")
    if not scale:
        return ["## 4. Scale", "", "Not run in quick mode (`make bench` runs it).", ""]
    service = scale["service"]
    lines = [
        "## 4. Scale",
        "",
        f"{scale['rows']:,} x {scale['features']} generated float64 data (the datasets issue will provide the real "
        "path), each run in its own child process: bare `LogisticRegression().fit` on the whole array, then the core's "
        "`ModelService.train_model` in process (validation, 80/20 split, fit, evaluation, MLflow run, upload, "
        "registration; a 1M x 20 JSON body would be far over the REST body limit), then bare `fit` again. "
        "Peak RSS is the child's VmHWM, which includes the imported libraries. The core fits in a process of "
        "its own (`fitting.py`), so its row also gives the peak proportional set size (PSS) of its whole process "
        "tree (caller, forkserver, fit), sampled every 50 ms; peak / data uses the larger of the two.",
        "",
        "| Path | wall s | peak RSS MiB | tree peak PSS MiB | RSS before data MiB | peak / data |",
        "|---|---|---|---|---|---|",
    ]
    for index, bare in enumerate(scale["bare"], 1):
        lines.append(
            f"| bare fit #{index} | {bare['wall_seconds']:.2f} | {bare['peak_rss_mib']:.0f} | | "
            f"{bare['rss_before_data_mib']:.0f} | {bare['peak_rss_mib'] / bare['data_mib']:.2f}x |"
        )
    tree = f"{service['peak_tree_pss_mib']:.0f}" if service.get("peak_tree_pss_mib") else "-"
    lines.append(
        f"| service (core in process) | {service['wall_seconds']:.2f} | {service['peak_rss_mib']:.0f} | {tree} | "
        f"{service['rss_before_data_mib']:.0f} | {scale['peak_rss_over_data']:.2f}x |"
    )
    phases = ", ".join(f"{k.removesuffix('_seconds')} {v:.2f}" for k, v in service["timings"].items())
    lines += [
        "",
        f"Raw data {service['data_mib']:.0f} MiB. Service phases (s): {phases}. Ratio to bare fit alone: "
        f"{scale['ratio_vs_bare_fit']:.2f}x; to bare fit + the service's own logging time: "
        f"{scale['ratio_vs_fit_plus_logging']:.2f}x.",
        "",
    ]
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    """RESULTS.md: machine, targets, then each benchmark's table."""
    lines = (
        _header(results)
        + _targets_section(results)
        + _train_section(results)
        + _predict_section(results)
        + _cold_section(results)
        + _scale_section(results)
    )
    return "\n".join(lines).rstrip() + "\n"
