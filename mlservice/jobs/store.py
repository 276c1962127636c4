"""The jobs table in the service database: every process sees every job, and jobs outlive the process that queued them.

A process claims a job with a conditional UPDATE (queued -> running), so exactly one runs it; a
running job whose heartbeat stopped belonged to a process that died and is marked failed.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from mlservice.database import aware, create_engine, create_tables, iso, utc_now
from mlservice.errors import NotFound, TooManyJobs

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
STATUSES = (QUEUED, RUNNING, *FINISHED)
KINDS = ("train", "retrain")

metadata = sa.MetaData()
jobs = sa.Table(
    "training_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("model_id", sa.String(100), nullable=True),
    sa.Column("owner", sa.String(120), nullable=True, index=True),  # the principal id
    sa.Column("owner_login", sa.String(100), nullable=True),  # shown only
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

    def create(  # pylint: disable=too-many-arguments
        self,
        kind: str,
        model_id: str | None,
        owner: str | None,
        request: dict[str, Any],
        owner_login: str | None = None,
        max_active: int | None = None,
    ) -> dict:
        """A new queued job.

        Raises:
            TooManyJobs: owner already has max_active queued or running jobs.
        """
        row = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "model_id": model_id,
            "owner": owner,
            "owner_login": owner_login,
            "request": json.dumps(request),
            "status": QUEUED,
            "phase": "queued",
            "progress": 0.0,
            "cancel_requested": False,
            "created_at": utc_now(),
        }
        with self.engine.begin() as conn:
            if owner is not None and max_active is not None:
                active = conn.execute(
                    sa.select(sa.func.count()).select_from(jobs)
                    .where(jobs.c.owner == owner, jobs.c.status.in_((QUEUED, RUNNING)))
                ).scalar()  # fmt: skip
                if active >= max_active:
                    raise TooManyJobs(
                        f"You have {active} training jobs queued or running; one caller may have at most "
                        f"{max_active} (MLSERVICE_MAX_JOBS_PER_PRINCIPAL): wait for one to finish or cancel one"
                    )
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
            "owner_login": row.get("owner_login"),
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

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each status (every status appears, zero when none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: int(number) for status, number in rows})
        return counts

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
