"""Asynchronous training jobs: queued in the service's database, run off the request path.

A job's state lives in the database (SQLAlchemy: PostgreSQL in deployment, SQLite in the embedded
default), so every REST and gRPC process sees every job and jobs outlive the process that accepted
them. Execution uses the standard library's ``concurrent.futures.ThreadPoolExecutor`` in each front
end process: training releases the GIL in scikit-learn's native code, the core is thread-safe, and no
broker (Redis, RabbitMQ) is needed in the embedded default.

- A process claims a job with a conditional UPDATE (queued -> running), so exactly one runs it.
- While running, the process's heartbeat thread refreshes ``heartbeat_at``; a running job whose
  heartbeat is older than ``stale_seconds`` belonged to a process that died: it is marked failed with
  that reason (on every read and at start-up), never left "running" forever.
- A queued job whose process died before starting it is claimed by the next process that starts.
- A process with ``workers=0`` (``MLSERVICE_JOB_WORKERS=0``: the API replicas of a deployment with a
  ``worker`` role) only queues; worker processes (``worker.py``) poll for queued jobs and run them,
  each taking only as many as it has free threads.
- Cancelling a queued job cancels it at once; a running job is checked about once a second while it
  fits (the fit runs in a child process, ``fitting.py``, which is then killed) and at each phase,
  so it stops before anything is registered in MLflow; once it is logging to MLflow it finishes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from database import aware, create_engine, create_tables, iso, utc_now
from errors import Cancelled, InvalidInput, NotFound, ServiceError
from training import training_options

logger = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
KINDS = ("train", "retrain")

metadata = sa.MetaData()
jobs = sa.Table(
    "training_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("model_id", sa.String(100), nullable=True),
    sa.Column("owner", sa.String(100), nullable=True, index=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("phase", sa.String(40), nullable=False, default="queued"),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("worker", sa.String(120), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


class JobNotFound(NotFound):
    """No job with that id."""


class JobStore:
    """The jobs table."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)
        create_tables(self.engine, metadata)

    def create(self, kind: str, model_id: str | None, owner: str | None, request: dict[str, Any]) -> dict:
        """A new queued job."""
        row = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "model_id": model_id,
            "owner": owner,
            "request": json.dumps(request),
            "status": QUEUED,
            "phase": "queued",
            "progress": 0.0,
            "cancel_requested": False,
            "created_at": utc_now(),
        }
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(**row))
        return self.get(row["id"])

    def _row(self, job_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return dict(row) if row else None

    def get(self, job_id: str) -> dict:
        """The job as the API shows it."""
        row = self._row(job_id) if isinstance(job_id, str) else None
        if row is None:
            raise JobNotFound(f"Job '{job_id}' not found")
        return self.public(row)

    @staticmethod
    def public(row: dict) -> dict:
        """What a client sees of a job (not its request body)."""
        started, finished = aware(row["started_at"]), aware(row["finished_at"])
        result = json.loads(row["result"]) if row["result"] else None
        return {
            "id": row["id"],
            "kind": row["kind"],
            "status": row["status"],
            "phase": row["phase"],
            "progress": round(row["progress"], 3),
            "cancel_requested": bool(row["cancel_requested"]),
            "owner": row["owner"],
            "model_id": (result or {}).get("model_id") or row["model_id"],
            "version": (result or {}).get("version"),
            "result": result,
            "error": row["error"],
            "created_at": iso(row["created_at"]),
            "started_at": iso(started),
            "finished_at": iso(finished),
            "run_seconds": round((finished - started).total_seconds(), 3) if started and finished else None,
        }

    def list(self, owner: str | None = None, limit: int = 50) -> list[dict]:
        """Newest jobs first (of one owner, when given)."""
        query = sa.select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as conn:
            return [self.public(dict(row)) for row in conn.execute(query).mappings()]

    def request_body(self, job_id: str) -> dict:
        """The stored (re)training request."""
        return json.loads(self._row(job_id)["request"])

    def claim(self, job_id: str, worker: str) -> bool:
        """Move a queued job to running for this worker; False when someone else has it."""
        now = utc_now()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == QUEUED)
                .values(status=RUNNING, worker=worker, started_at=now, heartbeat_at=now, phase="starting")
            )
            return claimed.rowcount == 1

    def update(self, job_id: str, **values: Any) -> None:
        """Set columns of one job."""
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))

    def progress(self, job_id: str, phase: str, fraction: float) -> bool:
        """Record progress and say whether cancellation was asked for."""
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == RUNNING)
                .values(phase=phase, progress=fraction, heartbeat_at=utc_now())
            )
            flag = conn.execute(sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar()
        return bool(flag)

    def finish(self, job_id: str, status: str, *, result: dict | None = None, error: str | None = None) -> None:
        """Record the end of a job."""
        values = {"status": status, "finished_at": utc_now(), "error": error, "phase": status}
        if result is not None:
            values.update(result=json.dumps(result), progress=1.0)
        self.update(job_id, **values)

    def request_cancel(self, job_id: str) -> dict:
        """Cancel a queued job now; ask a running one to stop (its runner checks about once a second)."""
        self.get(job_id)
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status == QUEUED)
                .values(
                    status=CANCELLED,
                    cancel_requested=True,
                    finished_at=utc_now(),
                    phase=CANCELLED,
                    error="cancelled before it started",
                )
            )
            conn.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status == RUNNING).values(cancel_requested=True)
            )
        return self.get(job_id)

    def heartbeat(self, worker: str) -> None:
        """Refresh the heartbeat of every job this worker runs."""
        with self.engine.begin() as conn:
            conn.execute(
                jobs.update().where(jobs.c.worker == worker, jobs.c.status == RUNNING).values(heartbeat_at=utc_now())
            )

    def fail_stale(self, stale_seconds: float) -> int:
        """Mark running jobs whose worker stopped beating as failed; returns how many."""
        cutoff = utc_now() - timedelta(seconds=stale_seconds)
        with self.engine.begin() as conn:
            result = conn.execute(
                jobs.update()
                .where(jobs.c.status == RUNNING, jobs.c.heartbeat_at < cutoff)
                .values(
                    status=FAILED,
                    phase=FAILED,
                    finished_at=utc_now(),
                    error="the process running this job stopped (restart or crash) before it finished; "
                    "nothing was registered after the last completed step - submit it again",
                )
            )
            return result.rowcount

    def queued(self, limit: int) -> list[str]:
        """Ids of up to ``limit`` queued jobs, oldest first."""
        query = sa.select(jobs.c.id).where(jobs.c.status == QUEUED).order_by(jobs.c.created_at).limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def orphaned_queued(self, older_than_seconds: float) -> list[str]:
        """Queued jobs nobody started for a while (their process died before starting them)."""
        cutoff = utc_now() - timedelta(seconds=older_than_seconds)
        with self.engine.connect() as conn:
            return list(
                conn.execute(sa.select(jobs.c.id).where(jobs.c.status == QUEUED, jobs.c.created_at < cutoff)).scalars()
            )


class JobRunner:  # pylint: disable=too-many-instance-attributes
    """Runs (re)training jobs of one process in a thread pool, with a heartbeat (``workers=0``: only queues)."""

    def __init__(
        self, service, store: JobStore, *, workers: int = 1, heartbeat_seconds: float = 5.0, stale_seconds: float = 30.0
    ):
        self.service = service
        self.store = store
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
    def from_settings(cls, service, settings) -> JobRunner:
        """The runner a front-end process uses: the service database, the configured pool and timings."""
        return cls(
            service,
            JobStore(settings.service_database_url),
            workers=settings.job_workers,
            heartbeat_seconds=settings.job_heartbeat_seconds,
            stale_seconds=settings.job_stale_seconds,
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

    def submit(self, kind: str, request: dict[str, Any], owner: str | None = None, model_id: str | None = None) -> dict:
        """Check a (re)training request, queue it, and return the job (status ``queued``)."""
        if kind not in KINDS:
            raise InvalidInput(f"unknown job kind '{kind}'")
        body = dict(request)
        if kind == "retrain":
            self.service.check_training_request(retrain_of=model_id, **training_options(body))
        else:
            self.service.check_training_request(
                body.get("model_type"), model_id=body.get("model_id"), **training_options(body)
            )
        job = self.store.create(kind, model_id or body.get("model_id"), owner, body)
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
        body = self.store.request_body(job_id)

        def progress(phase: str, fraction: float) -> None:
            if self.store.progress(job_id, phase, fraction):
                raise Cancelled("cancelled on request")

        try:
            if job["kind"] == "retrain":
                result = self.service.retrain_model(
                    job["model_id"], owner=job["owner"], progress=progress, **training_options(body)
                )
            else:
                result = self.service.train_model(
                    body.get("model_type"),
                    model_id=body.get("model_id"),
                    owner=job["owner"],
                    progress=progress,
                    **training_options(body),
                )
        except Cancelled as exc:
            self.store.finish(job_id, CANCELLED, error=exc.message)
        except ServiceError as exc:
            self.store.finish(job_id, FAILED, error=exc.message)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("Training job %s failed unexpectedly", job_id)
            self.store.finish(job_id, FAILED, error="internal error; the details are in the server log")
        else:
            self.store.finish(job_id, SUCCEEDED, result=result)
