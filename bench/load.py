"""A bounded, self-stopping load client and the statistics the benchmarks report.

``run_load`` runs ``concurrency`` threads, each with its own connection (a ``requests.Session`` or a
gRPC channel made by the caller's factory), back to back for a fixed time after a warm-up; it counts
the requests that completed inside the measured window and their latencies. Beside requests/s it
reads the CPU time that the server's process tree spent in the same window, so that the server's
capacity (CPU-seconds per 1,000 requests) is visible even though the client shares the two cores.
Traffic goes to 127.0.0.1 only; every loop ends at a fixed deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

Call = Callable[[], bool]


def percentile_ms(latencies: list[float], q: float) -> float | None:
    """The q-th percentile of latencies (seconds) in milliseconds, or None without samples."""
    if not latencies:
        return None
    return float(np.percentile(np.asarray(latencies), q) * 1000.0)


def summary_seconds(values: list[float]) -> dict[str, Any]:
    """p50 / p95 / min / max of repeated timings in seconds, with the samples."""
    array = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "min": float(array.min()),
        "max": float(array.max()),
        "samples": [round(v, 4) for v in values],
    }


def tree_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User+system CPU seconds of each live process in the trees rooted at pids."""
    seen: dict[int, float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seen[process.pid] = times.user + times.system
    return seen


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (processes born in between count from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def run_load(  # pylint: disable=too-many-locals
    make_call: Callable[[], Call],
    concurrency: int,
    duration: float,
    warmup: float,
    server_pids: list[int],
) -> dict[str, Any]:
    """Closed-loop load: concurrency threads, each calling back to back until the deadline.

    Args:
        make_call: builds one thread's call (its own session or channel); the call returns success.
        concurrency: client threads (= requests in flight).
        duration: measured seconds, after warmup seconds that are not counted.
        server_pids: roots of the server's process tree, whose CPU time is read around the window.

    Returns:
        requests/s, p50/p99 latency in ms, errors, and the server's CPU-seconds per 1,000 requests.
    """
    start = time.perf_counter()
    window_start = start + warmup
    window_end = window_start + duration
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    calls = [make_call() for _ in range(concurrency)]

    def worker(index: int) -> None:
        call, own = calls[index], latencies[index]
        while True:
            begin = time.perf_counter()
            if begin >= window_end:
                return
            try:
                ok = call()
            except Exception:  # pylint: disable=broad-exception-caught  # counted, not fatal
                ok = False
            end = time.perf_counter()
            if window_start <= end <= window_end:
                if ok:
                    own.append(end - begin)
                else:
                    errors[index] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window_start - time.perf_counter()))
    cpu_before, client_before = tree_cpu_seconds(server_pids), _own_cpu()
    time.sleep(max(0.0, window_end - time.perf_counter()))
    cpu_after, client_after = tree_cpu_seconds(server_pids), _own_cpu()
    for thread in threads:
        thread.join(timeout=30)
    merged = [value for own in latencies for value in own]
    completed = len(merged)
    server_cpu = cpu_delta(cpu_before, cpu_after)
    return {
        "concurrency": concurrency,
        "duration_s": duration,
        "requests": completed,
        "errors": sum(errors),
        "rps": completed / duration,
        "p50_ms": percentile_ms(merged, 50),
        "p99_ms": percentile_ms(merged, 99),
        "server_cpu_s": server_cpu,
        "server_cpu_s_per_1000": server_cpu / completed * 1000 if completed else None,
        "client_cpu_s": client_after - client_before,
    }


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def run_floor(call: Callable[[], Any], duration: float, warmup: float) -> dict[str, Any]:
    """One thread calling an in-process function back to back: calls/s and latency percentiles."""
    deadline = time.perf_counter() + warmup
    while time.perf_counter() < deadline:
        call()
    latencies: list[float] = []
    window_end = time.perf_counter() + duration
    while True:
        begin = time.perf_counter()
        if begin >= window_end:
            break
        call()
        latencies.append(time.perf_counter() - begin)
    total = sum(latencies)
    return {
        "calls": len(latencies),
        "rps": len(latencies) / total if total else None,
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
    }
