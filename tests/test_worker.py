"""The worker role: API processes with MLSERVICE_JOB_WORKERS=0 only queue; worker processes run the queue.

Units with a stub core (the runner's contract), the worker loop, the settings, the entrypoint role and
its health check. The live Compose test (tests/live) runs a job through a real worker container.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import worker
from mlservice.core.inputs import TrainingRequest
from mlservice.jobs import worker as worker_loop
from mlservice.jobs.runner import JobRunner
from mlservice.jobs.store import QUEUED, SUCCEEDED, JobStore
from mlservice.settings import Settings
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent


class StubCore:
    """Stands in for ModelService: counts fits, optionally holds them until released."""

    def __init__(self, hold: bool = False):
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.trained: list[str] = []
        self.lock = threading.Lock()

    def execute(self, request: TrainingRequest, owner, progress):
        del owner
        progress("fitting", 0.1)
        while not self.release.wait(0.02):
            progress("fitting", 0.2)
        with self.lock:
            self.trained.append(request.model_id)
        return {"model_id": request.model_id or request.model_type, "version": 1, "metrics": {}, "timings": {}}


def knn(model_id: str) -> TrainingRequest:
    return TrainingRequest(model_type="knn", model_id=model_id, X=[[0.0], [1.0]], y=[0, 1], run_async=True)


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")


def test_settings_accept_zero_job_workers():
    assert Settings(job_workers=0).job_workers == 0
    with pytest.raises(ValueError):
        Settings(job_workers=-1)


def test_an_api_process_with_zero_workers_only_queues(store):
    core = StubCore()
    api = JobRunner(core.execute, store, workers=0).start()
    job = api.submit(knn("m1"))
    assert api.run_queued() == 0
    time.sleep(0.2)  # nothing in this process may pick the job up
    assert store.get(job["id"])["status"] == QUEUED and not core.trained
    api.stop()


def test_a_worker_runs_queued_jobs_oldest_first_within_its_threads(store):
    api = JobRunner(StubCore().execute, store, workers=0)
    first = api.submit(knn("first"))
    second = api.submit(knn("second"))
    core = StubCore(hold=True)
    runner = JobRunner(core.execute, store, workers=1, heartbeat_seconds=0.1)
    assert runner.run_queued() == 1  # one thread: one job
    wait_for(lambda: store.get(first["id"])["status"] == "running")
    assert runner.run_queued() == 0 and store.get(second["id"])["status"] == QUEUED
    core.release.set()
    wait_for(lambda: store.get(first["id"])["status"] == SUCCEEDED)
    wait_for(lambda: runner.run_queued() == 1 or store.get(second["id"])["status"] != QUEUED)
    wait_for(lambda: store.get(second["id"])["status"] == SUCCEEDED)
    assert core.trained == ["first", "second"]
    runner.stop()


def test_two_workers_share_one_queue_and_run_each_job_once(store):
    api = JobRunner(StubCore().execute, store, workers=0)
    ids = [api.submit(knn(f"m{i}"))["id"] for i in range(6)]
    cores = [StubCore(), StubCore()]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=worker_loop.run, args=(JobRunner(core.execute, store, workers=2), 0.05, stop), daemon=True
        )
        for core in cores
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: all(store.get(job_id)["status"] == SUCCEEDED for job_id in ids), timeout=30)
    stop.set()
    for thread in threads:
        thread.join(10)
    trained = cores[0].trained + cores[1].trained
    assert sorted(trained) == sorted(f"m{i}" for i in range(6))


def test_the_worker_loop_touches_its_alive_file_and_stops(store, tmp_path):
    alive = tmp_path / "alive"
    stop = threading.Event()
    thread = threading.Thread(
        target=worker_loop.run, args=(JobRunner(StubCore().execute, store), 0.05, stop, alive), daemon=True
    )
    thread.start()
    wait_for(alive.exists, timeout=10)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_the_worker_refuses_zero_workers():
    with pytest.raises(SystemExit, match="MLSERVICE_JOB_WORKERS"):
        worker.serve(Settings(job_workers=0))


def _healthcheck():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "docker" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_knows_the_worker_by_its_file(tmp_path, monkeypatch):
    healthcheck = _healthcheck()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    assert healthcheck.role_from_cmdline(["/opt/venv/bin/python", "worker.py"]) == "worker"
    assert healthcheck.main(["worker"]) == 1  # the loop has not run yet
    alive = tmp_path / healthcheck.WORKER_ALIVE_FILE
    assert alive == worker_loop.alive_file()
    alive.touch()
    assert healthcheck.main(["worker"]) == 0
    stale = time.time() - healthcheck.WORKER_STALE_SECONDS - 5
    os.utime(alive, (stale, stale))
    assert healthcheck.main(["worker"]) == 1


@pytest.mark.integration  # runs the entrypoint
def test_entrypoint_starts_the_worker_role(tmp_path):
    """`entrypoint.sh worker` execs worker.py (refusing 0 workers proves it got that far, without a database)."""
    env = {**os.environ, "MLSERVICE_JOB_WORKERS": "0", "MLSERVICE_STATE_DIR": str(tmp_path)}
    result = subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "MLSERVICE_JOB_WORKERS must be at least 1" in result.stderr


def test_stopping_the_worker_lets_a_running_job_finish(store):
    api = JobRunner(StubCore().execute, store, workers=0)
    job = api.submit(knn("long"))
    core = StubCore(hold=True)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker_loop.run, args=(JobRunner(core.execute, store, heartbeat_seconds=0.05), 0.05, stop)
    )
    thread.start()
    wait_for(lambda: store.get(job["id"])["status"] == "running")
    stop.set()  # SIGTERM: no new jobs, but the running one goes on
    thread.join(0.5)
    assert thread.is_alive() and store.get(job["id"])["status"] == "running"
    core.release.set()
    thread.join(10)
    assert not thread.is_alive() and store.get(job["id"])["status"] == SUCCEEDED
