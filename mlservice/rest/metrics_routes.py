"""Prometheus metrics of the REST door: every answer counted and timed, and ``GET /metrics`` (public, like /health).

Requests are labelled with the protocol (``rest``, or ``v2-rest`` for the Open Inference Protocol),
the Flask endpoint that answered (a fixed name; ``unmatched`` for URLs no route knows, so paths never
become labels) and the status code. Several server worker processes share the figures through
prometheus_client's multiprocess mode (``mlservice.core.metrics``).
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, request

from mlservice.core import metrics

STARTED = "mlservice.started"


def _start() -> None:
    request.environ[STARTED] = time.perf_counter()


def _record(response: Response) -> Response:
    started = request.environ.get(STARTED)
    if started is not None:
        endpoint = request.endpoint or "unmatched"
        protocol = "v2-rest" if endpoint.startswith("v2.") else "rest"
        metrics.record_request(protocol, endpoint, str(response.status_code), time.perf_counter() - started)
    return response


def scrape() -> Response:
    """The metrics of every worker process of this server, in Prometheus' text format."""
    service = current_app.extensions["mlservice"]
    extra = []
    count = getattr(service, "job_counts", None) if getattr(service, "built", True) else None
    if count is not None:  # only once the core exists: a scrape never builds it
        extra.append(metrics.JobStateCollector(count))
    body, content_type = metrics.exposition(extra)
    return Response(body, mimetype=content_type.split(";", maxsplit=1)[0], content_type=content_type)


def init_metrics(app: Flask) -> None:
    """Count and time every request of app (from before any other hook runs) and serve ``/metrics``."""
    metrics.forget_dead_processes()
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_record)
    app.add_url_rule("/metrics", "prometheus_metrics", scrape, methods=["GET"])
