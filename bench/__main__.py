"""Run the benchmark suite: ``python -m bench`` (full, ~15 min) or ``python -m bench --quick`` (< 2 min).

Starts the real stack, runs the four benchmarks, tears the stack down (also on Ctrl-C, SIGTERM or an
error) and writes ``bench/out/results.json`` and the Markdown table: ``bench/RESULTS.md`` (committed)
in full mode, ``bench/out/RESULTS-quick.md`` in quick mode (``--markdown`` to change either).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench import report, scenarios
from bench.stack import running_stack

logger = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def markdown_path(args: argparse.Namespace, quick: bool) -> Path:
    """Where the Markdown goes: as told, else the committed RESULTS.md (full) or bench/out (quick)."""
    if args.markdown:
        return args.markdown
    return args.out / "RESULTS-quick.md" if quick else BENCH_DIR / "RESULTS.md"


def run(plan: scenarios.Plan, log_dir: Path) -> dict[str, Any]:
    """Start the stack, run every benchmark of the plan, return the results (stack already stopped)."""
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": "quick" if plan.quick else "full", "plan": plan.__dict__}
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        results["loadavg_at_start"] = " ".join(loadavg.read().split()[:3])
    with running_stack(log_dir) as stack:
        results["stack_startup_seconds"] = stack.startup_seconds
        logger.info("stack up: %s", {k: round(v, 1) for k, v in stack.startup_seconds.items()})
        model_id = scenarios.train_predict_model(stack)
        results["train"] = scenarios.train_round_trips(stack, plan)
        logger.info("train round trips done (%.0f s)", time.perf_counter() - started)
        results["cold_start"], serve = scenarios.cold_starts(stack, model_id, repeats=1 if plan.quick else 3)
        logger.info("cold starts done (%.0f s)", time.perf_counter() - started)
        results["predict"] = scenarios.predict_throughput(stack, plan, model_id, serve)
        results["cache"] = {**scenarios.cache_loads(stack, model_id), **scenarios.cache_settings()}
        logger.info("predict done (%.0f s)", time.perf_counter() - started)
        if plan.scale_rows:
            results["scale"] = scenarios.scale(stack, plan)
            logger.info("scale done (%.0f s)", time.perf_counter() - started)
    results["wall_seconds"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="mlservice benchmark suite (issue 7)")
    parser.add_argument("--quick", action="store_true", help="day-to-day mode: well under 2 minutes")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="folder for results.json and the logs")
    parser.add_argument(
        "--markdown",
        type=Path,
        help="where to write the table (default: bench/RESULTS.md for the full mode, which is committed; "
        "bench/out/RESULTS-quick.md for the quick mode)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="re-render the Markdown from an existing results.json, no runs"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        results["targets"] = report.evaluate_targets(results)
        markdown_path(args, results["mode"] == "quick").write_text(report.render_markdown(results))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stdout)
    for noisy in ("mlflow", "urllib3", "botocore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="logs-", dir=args.out))
    plan = scenarios.Plan.for_mode(args.quick)
    logger.info("mode %s; process logs in %s", "quick" if plan.quick else "full", log_dir)
    try:
        results = run(plan, log_dir)
    except KeyboardInterrupt:
        logger.error("interrupted: the stack was stopped, no results written")
        return 130
    results["machine"] = report.machine_info()
    raw = args.out / "results.json"
    raw.write_text(json.dumps(results, indent=2, default=str) + "\n")  # kept even if the report fails
    results["targets"] = report.evaluate_targets(results)
    raw.write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown = markdown_path(args, plan.quick)
    markdown.write_text(report.render_markdown(results))
    for entry in results["targets"]:
        status = {True: "MET ", False: "MISS", None: "SKIP"}[entry["ok"]]
        print(f"[{status}] {entry['target']}: {entry['measured']}")  # noqa: T201
    logger.info("wrote %s and %s (%.0f s)", raw, markdown, results["wall_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
