"""The ``worker`` role: runs the queue of asynchronous training jobs, apart from the API processes.

In a deployment the REST and gRPC replicas set ``MLSERVICE_JOB_WORKERS=0``: they check a (re)training
request and queue it in the service database, nothing more. Worker processes (this module, started by
``docker/entrypoint.sh worker``) poll that database every ``MLSERVICE_JOB_POLL_SECONDS`` and run up to
``MLSERVICE_JOB_WORKERS`` jobs each, so the API and the training capacity scale separately. Claiming
a job is a conditional UPDATE (``jobs.JobStore.claim``), so any number of workers share one queue.

The loop touches ``alive_file()`` on every round; ``docker/healthcheck.py worker`` reports the
process unhealthy when that file grows old. SIGTERM/SIGINT stop the polling and let the running jobs
finish (their heartbeat goes on); if the container's stop timeout kills the process first, the other
processes' stale-job check fails those jobs, as for any process that stops mid-training.

    python worker.py
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from pathlib import Path

from jobs import JobRunner
from settings import Settings

logger = logging.getLogger(__name__)


def alive_file() -> Path:
    """The file the loop touches each round (in the temp directory: writable in every deployment)."""
    return Path(tempfile.gettempdir()) / "mlservice-worker.alive"


def run(runner: JobRunner, poll_seconds: float, stop: threading.Event, alive: Path | None = None) -> None:
    """Poll for queued jobs until ``stop`` is set."""
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


def serve(settings: Settings) -> None:
    """Run the job queue of the configured database until SIGTERM/SIGINT."""
    if settings.job_workers < 1:
        raise SystemExit("worker: MLSERVICE_JOB_WORKERS must be at least 1 for the worker role")
    from models import ModelService  # pylint: disable=import-outside-toplevel  # heavy: MLflow, sklearn

    runner = JobRunner.from_settings(ModelService(settings), settings)
    stop = threading.Event()

    def on_signal(signum, _frame):
        logger.info("Signal %s: the worker takes no new jobs", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info(
        "Worker %s: up to %d job(s) at once, polling every %.1f s",
        runner.worker,
        settings.job_workers,
        settings.job_poll_seconds,
    )
    run(runner, settings.job_poll_seconds, stop, alive_file())


def main() -> None:
    """Command line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Settings())


if __name__ == "__main__":
    main()
