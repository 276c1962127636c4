"""The ``worker`` role's loop: run the queue of asynchronous training jobs, apart from the API processes.

In a deployment the REST and gRPC replicas set ``MLSERVICE_JOB_WORKERS=0``: they check a (re)training
request and queue it in the service database, nothing more. Worker processes (``worker.py``, started
by ``docker/entrypoint.sh worker``) poll that database every ``MLSERVICE_JOB_POLL_SECONDS`` and run
up to ``MLSERVICE_JOB_WORKERS`` jobs each, so the API and the training capacity scale separately.
Claiming a job is a conditional UPDATE (``JobStore.claim``), so any number of workers share one queue.

The loop touches ``alive_file()`` on every round; ``docker/healthcheck.py worker`` reports the
process unhealthy when that file grows old. A stop lets the running jobs finish (their heartbeat
goes on); if the container's stop timeout kills the process first, the other processes' stale-job
check fails those jobs, as for any process that stops mid-training.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from mlservice.jobs.runner import JobRunner

logger = logging.getLogger(__name__)


def alive_file() -> Path:
    """The file the loop touches each round (in the temp directory: writable in every deployment)."""
    return Path(tempfile.gettempdir()) / "mlservice-worker.alive"


def run(runner: JobRunner, poll_seconds: float, stop: threading.Event, alive: Path | None = None) -> None:
    """Poll for queued jobs until ``stop`` is set, then let the running ones finish."""
    runner.start()
    while not stop.is_set():
        try:
            started = runner.run_queued()
            if started:
                logger.info("Started %d training job(s)", started)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # the database may be restarting
            logger.warning("Polling the job queue failed (will retry): %s", type(exc).__name__)
        if alive is not None:
            alive.touch()
        stop.wait(poll_seconds)
    runner.stop(wait=True)
