"""The job runner: asynchronous (re)trainings executed off the request path, in this process's thread pool.

A job's state lives in the service database (``mlservice.jobs.store``), so every REST and gRPC process
sees every job and jobs outlive the process that accepted them. Execution uses the standard
library's ``ThreadPoolExecutor``: training releases the GIL (the fit runs in a child process), the
core is thread-safe, and no broker (Redis, RabbitMQ) is needed in the embedded default.

- While running, the process's heartbeat thread refreshes ``heartbeat_at``; a running job whose
  heartbeat is older than ``stale_seconds`` belonged to a process that died: it is marked failed with
  that reason (on every read and at start-up), never left "running" forever.
- A queued job whose process died before starting it is claimed by the next process that starts.
- A process with ``workers=0`` (``MLSERVICE_JOB_WORKERS=0``: the API replicas of a deployment with a
  ``worker`` role) only queues; worker processes (``worker.py``, the loop in ``mlservice.jobs.worker``)
  poll for queued jobs and run them, each taking only as many as it has free threads.
- Cancelling a queued job cancels it at once; a running job is checked about once a second while it
  fits (its fit process is then killed) and at each phase, so it stops before anything is registered
  in MLflow; once it is logging to MLflow it finishes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlservice.core.inputs import TrainingRequest
from mlservice.errors import Cancelled, ServiceError
from mlservice.identity.principal import Principal
from mlservice.jobs.store import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobStore

logger = logging.getLogger(__name__)

# (request, owner, progress) -> the training's result; progress may raise Cancelled
Execute = Callable[[TrainingRequest, "Principal | None", Callable[[str, float], None]], dict[str, Any]]


class JobRunner:  # pylint: disable=too-many-instance-attributes
    """Runs (re)training jobs of one process in a thread pool, with a heartbeat (``workers=0``: only queues)."""

    def __init__(
        self, execute: Execute, store: JobStore, *, workers: int = 1, heartbeat_seconds: float = 5.0,
        stale_seconds: float = 30.0, max_jobs_per_owner: int | None = None,
    ):  # fmt: skip
        self.execute = execute
        self.store = store
        self.max_jobs_per_owner = max_jobs_per_owner
        self.stale_seconds = stale_seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.workers = workers
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="training-job") if workers > 0 else None
        )
        self._in_flight: set[str] = set()
        self._stop = threading.Event()
        self._heartbeat_seconds = heartbeat_seconds
        self._started = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, execute: Execute, settings) -> JobRunner:
        """The runner a front-end process uses: the service database, the configured pool and timings."""
        return cls(
            execute,
            JobStore(settings.service_database_url),
            workers=settings.job_workers,
            heartbeat_seconds=settings.job_heartbeat_seconds,
            stale_seconds=settings.job_stale_seconds,
            max_jobs_per_owner=settings.max_jobs_per_principal,
        )

    def start(self) -> JobRunner:
        """Fail jobs of dead processes, adopt their unstarted ones, and start the heartbeat."""
        with self._lock:
            if self._started:
                return self
            self._started = True
        failed = self.store.fail_stale(self.stale_seconds)
        if failed:
            logger.warning("Marked %d training job(s) of stopped processes as failed", failed)
        if self._executor is not None:
            for job_id in self.store.orphaned_queued(self.stale_seconds):
                self._dispatch(job_id)
        threading.Thread(target=self._beat, name="training-job-heartbeat", daemon=True).start()
        return self

    def stop(self, wait: bool = False) -> None:
        """Stop the heartbeat; with ``wait``, first let running jobs finish (still beating).

        Jobs handed to this process but not started yet stay queued for another process.
        """
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
        self._stop.set()

    def _dispatch(self, job_id: str) -> None:
        """Hand a job to the pool unless this process already holds it."""
        with self._lock:
            if job_id in self._in_flight:
                return
            self._in_flight.add(job_id)
        future = self._executor.submit(self._run, job_id)
        future.add_done_callback(lambda _future: self._release(job_id))

    def _release(self, job_id: str) -> None:
        with self._lock:
            self._in_flight.discard(job_id)

    def run_queued(self) -> int:
        """Start the oldest queued jobs while this process has free threads (the worker role's poll).

        Returns how many were handed to the pool; one that another process claims first just frees its
        thread again.
        """
        if self._executor is None:
            return 0
        with self._lock:
            free = self.workers - len(self._in_flight)
            held = set(self._in_flight)
        if free <= 0:
            return 0
        started = 0
        for job_id in self.store.queued(limit=free + len(held)):
            if job_id in held:
                continue
            self._dispatch(job_id)
            started += 1
            if started == free:
                break
        return started

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_seconds):
            try:
                self.store.heartbeat(self.worker)
                self.store.fail_stale(self.stale_seconds)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # the database may be restarting
                logger.warning("Job heartbeat failed (will retry): %s", type(exc).__name__)

    def submit(self, request: TrainingRequest, owner: Principal | None = None) -> dict:
        """Queue a (re)training the caller has already checked; returns the job (status ``queued``).

        Raises:
            TooManyJobs: the owner already has ``max_jobs_per_owner`` queued or running jobs.
        """
        owner_id, login = (owner.id, owner.login) if owner is not None else (None, None)
        job = self.store.create(
            request.kind, request.model_id, owner_id, request.to_json(), owner_login=login,
            max_active=self.max_jobs_per_owner,
        )  # fmt: skip
        self.start()
        if self._executor is not None:
            self._dispatch(job["id"])
        return job

    def get(self, job_id: str) -> dict:
        """A job, after failing it if its process has stopped beating."""
        job = self.store.get(job_id)
        if job["status"] == RUNNING:
            self.store.fail_stale(self.stale_seconds)
            job = self.store.get(job_id)
        return job

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued job, or ask a running one to stop before it registers anything."""
        return self.store.request_cancel(job_id)

    def _run(self, job_id: str) -> None:
        if not self.store.claim(job_id, self.worker):
            return
        job = self.store.get(job_id)
        request = TrainingRequest.from_json(self.store.request_body(job_id), kind=job["kind"], model_id=job["model_id"])

        def progress(phase: str, fraction: float) -> None:
            if self.store.progress(job_id, phase, fraction):
                raise Cancelled("cancelled on request")

        try:
            owner = Principal.from_id(job["owner"], job["owner_login"]) if job["owner"] else None
            result = self.execute(request, owner, progress)
        except Cancelled as exc:
            self.store.finish(job_id, CANCELLED, error=exc.message)
        except ServiceError as exc:
            self.store.finish(job_id, FAILED, error=exc.message)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("Training job %s failed unexpectedly", job_id)
            self.store.finish(job_id, FAILED, error="internal error; the details are in the server log")
        else:
            self.store.finish(job_id, SUCCEEDED, result=result)
