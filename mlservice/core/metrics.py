"""Prometheus metrics of the service: what every part records, and how a process exposes them.

The metric objects live here, in the core, so that the core's parts (the model cache, the trainer,
the predictor) and the front ends (request counts and latencies) record into the same series
without the core importing a front end. Labels never carry what a user typed beyond a model id the
registry knows: requests are labelled by protocol, a fixed operation name and the status, and only
a prediction that succeeded (so the model exists and the caller may read it) adds a ``model_id``
series. Unknown ids, paths and principals never become labels.

Processes: the gRPC server and the worker serve the default registry on a port of their own
(``serve_metrics``). gunicorn/granian run several REST worker processes; with
``PROMETHEUS_MULTIPROC_DIR`` set (``docker/entrypoint.sh rest`` sets it to a fresh per-container
folder) each worker writes its values to files there and ``/metrics`` adds them up (``exposition``).
Gauges are then per live process, summed (``livesum``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PROTOCOLS = ("rest", "grpc", "v2-rest", "v2-grpc")  # v2: the Open Inference Protocol's doors
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TRAINING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

disable_created_metrics()  # no *_created series: a timestamp per series doubles every scrape for nothing

REQUESTS = Counter(
    "mlservice_requests",
    "Requests answered, by protocol (rest, grpc, v2-rest, v2-grpc), operation and status (HTTP code or gRPC code).",
    ["protocol", "operation", "status"],
)
REQUEST_SECONDS = Histogram(
    "mlservice_request_duration_seconds",
    "Time from receiving a request to its answer, in the server process, by protocol and operation.",
    ["protocol", "operation"],
    buckets=LATENCY_BUCKETS,
)
PREDICTED_ROWS = Counter("mlservice_predicted_rows", "Rows predicted, by model.", ["model_id"])
TRAININGS = Counter(
    "mlservice_trainings", "Trainings finished, by kind (train, retrain) and outcome.", ["kind", "outcome"]
)
TRAINING_SECONDS = Histogram(
    "mlservice_training_duration_seconds",
    "Wall time of a training (checks, fit, logging, registration), by kind and outcome.",
    ["kind", "outcome"],
    buckets=TRAINING_BUCKETS,
)
CACHE_ENTRIES = Gauge("mlservice_model_cache_entries", "Model versions loaded in memory.", multiprocess_mode="livesum")
CACHE_BYTES = Gauge(
    "mlservice_model_cache_bytes",
    "Memory the model cache holds (the artifacts' sizes as the estimate).",
    multiprocess_mode="livesum",
)
CACHE_LOADS = Counter("mlservice_model_cache_loads", "Model versions loaded from the store into the cache.")
CACHE_EVICTIONS = Counter(
    "mlservice_model_cache_evictions", "Model versions evicted from the cache by its count or byte limit."
)

_children_lock = threading.Lock()
_request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def record_request(protocol: str, operation: str, status: str, seconds: float) -> None:
    """Count one answered request and its latency (operation: a fixed route or RPC name, never a path)."""
    key = (protocol, operation, status)
    children = _request_children.get(key)
    if children is None:  # labels() costs a lock and a dict walk: keep the children once made
        with _children_lock:
            children = (REQUESTS.labels(*key), REQUEST_SECONDS.labels(protocol, operation))
            _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def record_prediction(model_id: str, rows: int) -> None:
    """Rows a successful prediction answered (the model exists and the caller could read it)."""
    PREDICTED_ROWS.labels(model_id).inc(rows)


def record_training(kind: str, outcome: str, seconds: float) -> None:
    """A training that ended: ``succeeded``, ``refused`` (bad input), ``failed`` or ``cancelled``."""
    TRAININGS.labels(kind, outcome).inc()
    TRAINING_SECONDS.labels(kind, outcome).observe(seconds)


def record_cache(entries: int, size_bytes: int, *, loaded: int = 0, evicted: int = 0) -> None:
    """The model cache's size after a change, and how many versions the change loaded or evicted."""
    CACHE_ENTRIES.set(entries)
    CACHE_BYTES.set(size_bytes)
    if loaded:
        CACHE_LOADS.inc(loaded)
    if evicted:
        CACHE_EVICTIONS.inc(evicted)


class JobStateCollector:
    """``mlservice_jobs{state}``: the training jobs in the service database by state, read at scrape time.

    The queue is shared by every process, so each one reports the same totals (aggregate with ``max``).
    """

    def __init__(self, count: Callable[[], dict[str, int]]):
        self._count = count

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("mlservice_jobs", "Training jobs in the queue's database, by state.", labels=["state"])

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The metric's name, so that registering the collector does not query the database."""
        yield self._family()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        try:
            counts = self._count()
        except Exception:  # pylint: disable=broad-exception-caught  # a scrape never fails for the database
            logger.warning("Could not count the training jobs for /metrics", exc_info=True)
            counts = {}
        for state, number in sorted(counts.items()):
            family.add_metric([state], number)
        yield family


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when this process is one of several REST workers."""
    return os.environ.get(MULTIPROC_ENV) or None


_PID_FILE = re.compile(r"_(\d+)\.db$")


def forget_dead_processes() -> None:
    """Drop the live-gauge files of worker processes that died (a respawned worker has a new pid).

    gunicorn calls ``mark_process_dead`` from its ``child_exit`` hook; servers without such a hook
    (granian) rely on each new worker doing it here when it starts.
    """
    folder = multiprocess_dir()
    if not folder or not os.path.isdir(folder):
        return
    pids = {int(m.group(1)) for name in os.listdir(folder) if (m := _PID_FILE.search(name))}
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, folder)
        except PermissionError:  # alive, someone else's
            continue


def exposition(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    """The text exposition of this process's metrics (all workers' in multiprocess mode), and its content type."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        for collector in extra:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY  # pylint: disable=import-outside-toplevel

    registry = CollectorRegistry()
    registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """The default registry's metrics, inside a registry that adds the per-scrape collectors."""

    def __init__(self, registry: CollectorRegistry):
        self._registry = registry

    def collect(self):
        return self._registry.collect()


def serve_metrics(host: str, port: int, extra: Iterable[Any] = ()) -> Any:
    """Serve this process's metrics at ``http://host:port/metrics`` (a daemon thread); returns the server.

    Args:
        extra: collectors read at scrape time (the job states).
    """
    from prometheus_client import REGISTRY, start_http_server  # pylint: disable=import-outside-toplevel

    registry = CollectorRegistry()
    registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    logger.info("Prometheus metrics on http://%s:%s/metrics", host, server.server_port)
    return server
