"""Worker entry point: the ``worker`` role runs the queue of asynchronous training jobs.

Run: ``python worker.py`` (``docker/entrypoint.sh worker`` does). SIGTERM/SIGINT stop taking new jobs
and let the running ones finish. The loop itself is ``mlservice.jobs.worker``.
"""

from __future__ import annotations

import logging
import signal
import threading

from mlservice.core.metrics import JobStateCollector, serve_metrics
from mlservice.jobs.worker import alive_file, run
from mlservice.process import start_process
from mlservice.settings import Settings

logger = logging.getLogger("worker")


def serve(settings: Settings) -> None:
    """Run the job queue of the configured database until SIGTERM/SIGINT."""
    if settings.job_workers < 1:
        raise SystemExit("worker: MLSERVICE_JOB_WORKERS must be at least 1 for the worker role")
    start_process(settings)
    from models import ModelService  # pylint: disable=import-outside-toplevel  # heavy: MLflow, sklearn

    service = ModelService(settings)
    runner = service.jobs
    if settings.worker_metrics_port:
        serve_metrics(settings.host, settings.worker_metrics_port, [JobStateCollector(service.job_counts)])
    stop = threading.Event()

    def on_signal(signum, _frame):
        logger.info("Signal %s: the worker takes no new jobs", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("Worker %s: up to %d job(s) at once, polling every %.1f s", runner.worker, settings.job_workers,
                settings.job_poll_seconds)  # fmt: skip
    run(runner, settings.job_poll_seconds, stop, alive_file())


def main() -> None:
    """Command line entry point."""
    serve(Settings())


if __name__ == "__main__":
    main()
