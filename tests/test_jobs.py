"""Asynchronous training jobs: the store and runner as units (a stub core), then end to end over REST
and gRPC on the real stack, and a front end killed with SIGKILL in the middle of a training."""

from __future__ import annotations

import contextlib
import signal
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import grpc
import numpy as np
import psutil
import pytest
import requests

import app_pb2
import app_pb2_grpc
from mlservice.core.inputs import TrainingRequest
from mlservice.errors import InvalidInput, ModelNotFound
from mlservice.grpc.server import build_server
from mlservice.identity.principal import Principal
from mlservice.jobs.runner import JobRunner
from mlservice.jobs.store import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobNotFound, JobStore, jobs
from mlservice.settings import Settings
from models import ModelService
from tests.conftest import AUTH_HEADERS, FrontEnd, free_port, service_env, wait_for


class StubCore:
    """Stands in for the trainer in the runner's unit tests: reports progress, honours cancellation."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()
        self.requests: list[TrainingRequest] = []

    def execute(self, request: TrainingRequest, owner, progress):
        self.requests.append(request)
        progress("fitting", 0.1)
        self.started.set()
        while not self.release.wait(0.05):
            progress("fitting", 0.2)  # raises Cancelled once cancellation was asked for
        progress("logging to MLflow", 0.7)
        model_id = request.model_id or f"{request.model_type}-1"
        return {
            "model_id": model_id,
            "version": 1,
            "metrics": {"accuracy": 1.0},
            "timings": {},
            "owner": owner and owner.id,
        }


KNN = TrainingRequest(model_type="knn", X=[[0.0], [1.0]], y=[0, 1], run_async=True)


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")


def test_a_job_runs_to_success_and_reports_progress(store):
    core = StubCore()
    runner = JobRunner(core.execute, store, heartbeat_seconds=0.1).start()
    job = runner.submit(KNN, owner=Principal.service("ann"))
    assert job["status"] in (QUEUED, RUNNING) and job["owner"] == "service:ann" and job["owner_login"] == "ann"
    core.started.wait(10)
    running = runner.get(job["id"])
    assert running["status"] == RUNNING and running["phase"] == "fitting" and 0 < running["progress"] < 1
    core.release.set()
    done = wait_for(lambda: (j := runner.get(job["id"]))["status"] == SUCCEEDED and j)
    assert done["model_id"] == "knn-1" and done["version"] == 1 and done["progress"] == 1.0
    assert done["run_seconds"] is not None and [j["id"] for j in store.list(owner="service:ann")] == [job["id"]]
    assert core.requests == [KNN]  # the stored request comes back as it was submitted
    runner.stop()


def test_bad_requests_are_refused_before_a_job_exists(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", state_dir=tmp_path)
    service = ModelService(settings, client=mock.MagicMock())
    with pytest.raises(InvalidInput, match="Unknown model_type 'bad'"):
        service.train(TrainingRequest(model_type="bad", X=[[0.0], [1.0]], y=[0, 1], run_async=True))
    with pytest.raises(InvalidInput, match="send X and y"):
        service.train(TrainingRequest(model_type="knn", run_async=True))
    assert service.jobs.store.list() == []
    with pytest.raises(JobNotFound):
        service.get_job("no-such-job")


def test_cancelling_a_running_job_stops_it_at_the_next_checkpoint(store):
    core = StubCore()
    runner = JobRunner(core.execute, store).start()
    job = runner.submit(KNN)
    core.started.wait(10)
    assert runner.cancel(job["id"])["cancel_requested"] is True
    cancelled = wait_for(lambda: (j := runner.get(job["id"]))["status"] == CANCELLED and j)
    assert "cancelled" in cancelled["error"] and cancelled["version"] is None
    runner.stop()


def test_cancelling_a_queued_job_cancels_it_at_once(store):
    job = store.create("train", None, "ann", {"model_type": "knn"})  # nobody runs it
    assert store.request_cancel(job["id"])["status"] == CANCELLED
    with store.engine.begin() as conn:  # even once it would count as orphaned, nobody adopts it
        conn.execute(
            jobs.update().where(jobs.c.id == job["id"]).values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    core = StubCore()
    JobRunner(core.execute, store, stale_seconds=30).start().stop()
    assert store.get(job["id"])["status"] == CANCELLED and not core.started.is_set()


def test_a_running_job_of_a_dead_process_is_marked_failed(store):
    job = store.create("train", None, None, {"model_type": "knn"})
    assert store.claim(job["id"], "host:12345:dead")
    with store.engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(minutes=5)
        conn.execute(jobs.update().where(jobs.c.id == job["id"]).values(heartbeat_at=old))
    failed = JobRunner(StubCore().execute, store, stale_seconds=30).get(job["id"])
    assert failed["status"] == FAILED and "stopped (restart or crash)" in failed["error"]


def test_queued_jobs_of_a_dead_process_are_adopted_by_the_next_one(store):
    job = store.create("train", None, None, {"model_type": "knn"})
    with store.engine.begin() as conn:
        conn.execute(
            jobs.update().where(jobs.c.id == job["id"]).values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    core = StubCore()
    core.release.set()
    runner = JobRunner(core.execute, store, stale_seconds=30).start()
    assert wait_for(lambda: runner.get(job["id"])["status"] == SUCCEEDED)
    runner.stop()


# --- end to end --------------------------------------------------------------------------------------


@pytest.mark.integration
def test_async_training_over_rest(rest_server, iris):
    X, y = iris
    http = requests.Session()
    http.headers.update(AUTH_HEADERS)
    api = rest_server.url
    submitted = http.post(f"{api}/models/train", json={"model_type": "svc", "X": X, "y": y, "async": True}, timeout=30)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    done = wait_for(lambda: (j := http.get(f"{api}/jobs/{job_id}", timeout=10).json())["status"] in
                    (SUCCEEDED, FAILED) and j)  # fmt: skip
    assert done["status"] == SUCCEEDED, done
    try:
        assert done["version"] == 1 and done["result"]["metrics"]["accuracy"] > 0.8
        assert done["model_id"] in {m["id"] for m in http.get(f"{api}/models", timeout=30).json()}
        retrain = http.post(
            f"{api}/models/{done['model_id']}/retrain", json={"X": X, "y": y, "async": True}, timeout=30
        )
        assert retrain.status_code == 202
        again = wait_for(lambda: (j := http.get(f"{api}/jobs/{retrain.json()['id']}", timeout=10).json())["status"]
                         in (SUCCEEDED, FAILED) and j)  # fmt: skip
        assert again["status"] == SUCCEEDED and again["version"] == 2
        assert job_id in [j["id"] for j in http.get(f"{api}/jobs", timeout=10).json()]
    finally:
        http.delete(f"{api}/models/{done['model_id']}", timeout=30)
    bad = http.post(f"{api}/models/train", json={"model_type": "nope", "X": X, "y": y, "async": True}, timeout=30)
    assert bad.status_code == 400 and "nope" in bad.json()["message"]
    assert http.get(f"{api}/jobs/no-such-job", timeout=10).status_code == 404


@pytest.mark.integration
def test_async_training_over_grpc(settings, service, iris):
    X, y = iris
    server, port = build_server(settings.model_copy(update={"grpc_port": free_port()}), service)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            rows = [app_pb2.FeatureArray(features=row) for row in X]
            job = stub.SubmitTrainJob(app_pb2.TrainRequest(model_type="knn", X=rows, y=y))
            assert job.status in (QUEUED, RUNNING)
            done = wait_for(
                lambda: (j := stub.GetJob(app_pb2.JobId(job_id=job.id))).status in (SUCCEEDED, FAILED) and j
            )
            assert done.status == SUCCEEDED and done.version == 1 and done.metrics["accuracy"] > 0.8
            stub.DeleteModel(app_pb2.ModelId(model_id=done.model_id))
            with pytest.raises(grpc.RpcError) as unknown:
                stub.GetJob(app_pb2.JobId(job_id="nope"))
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as bad:
                stub.SubmitTrainJob(app_pb2.TrainRequest(model_type="nope", X=rows, y=y))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(grace=None)


@pytest.mark.integration
@pytest.mark.reliability
def test_front_end_killed_during_training_leaves_a_failed_job_and_no_model(settings, service, log_dir):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 20)).round(3).tolist()
    y = rng.integers(0, 2, size=4000).tolist()
    env = service_env(settings, MLSERVICE_JOB_STALE_SECONDS="3", MLSERVICE_JOB_HEARTBEAT_SECONDS="0.5")
    port = free_port()
    front = FrontEnd("rest", port, {**env, "MLSERVICE_REST_PORT": str(port)}, log_dir).start_and_wait()
    http = requests.Session()
    http.headers.update(AUTH_HEADERS)
    model_id = f"killed-{port}"
    try:
        body = {"model_type": "random_forest", "params": {"n_estimators": 2000}, "X": X, "y": y, "async": True,
                "model_id": model_id}  # fmt: skip
        job_id = http.post(f"{front.url}/models/train", json=body, timeout=60).json()["id"]
        wait_for(lambda: http.get(f"{front.url}/jobs/{job_id}", timeout=10).json()["phase"] == "fitting")
        front.stop(sig=signal.SIGKILL)
        front.start_and_wait()
        failed = wait_for(lambda: (j := http.get(f"{front.url}/jobs/{job_id}", timeout=10).json())["status"]
                          != RUNNING and j, timeout=60)  # fmt: skip
        assert failed["status"] == FAILED and "stopped (restart or crash)" in failed["error"]
        assert model_id not in {m["id"] for m in http.get(f"{front.url}/models", timeout=30).json()}
    finally:
        front.stop()
        with contextlib.suppress(ModelNotFound):  # only if it had been registered
            service.delete_model(model_id)


def slow_training_data(rows: int = 4000, features: int = 20) -> tuple[list, list]:
    """Data on which a 3,000-tree forest fits for far longer than a second on these machines."""
    rng = np.random.default_rng(1)
    return rng.normal(size=(rows, features)).round(3).tolist(), rng.integers(0, 2, size=rows).tolist()


@pytest.mark.integration
@pytest.mark.reliability
def test_a_training_over_the_time_limit_is_stopped_over_rest_grpc_and_jobs(settings, log_dir, iris):  # pylint: disable=too-many-locals
    X, y = slow_training_data()
    slow = {"model_type": "random_forest", "params": {"n_estimators": 3000}, "X": X, "y": y}
    env = service_env(settings, MLSERVICE_TRAINING_TIME_LIMIT_SECONDS="1")
    rest_port, grpc_port = free_port(), free_port()
    rest = FrontEnd("rest", rest_port, {**env, "MLSERVICE_REST_PORT": str(rest_port)}, log_dir).start_and_wait()
    grpc_front = FrontEnd("grpc", grpc_port, {**env, "MLSERVICE_GRPC_PORT": str(grpc_port)}, log_dir).start_and_wait()
    http = requests.Session()
    http.headers.update(AUTH_HEADERS)
    ids = [f"over-limit-{rest_port}-{n}" for n in range(3)]
    try:
        refused = http.post(f"{rest.url}/models/train", json={**slow, "model_id": ids[0]}, timeout=120)
        assert refused.status_code == 422, refused.text
        assert "longer than the time limit of 1 s" in refused.json()["message"]

        job_id = http.post(f"{rest.url}/models/train", json={**slow, "model_id": ids[1], "async": True},
                           timeout=60).json()["id"]  # fmt: skip
        failed = wait_for(lambda: (j := http.get(f"{rest.url}/jobs/{job_id}", timeout=10).json())["status"]
                          in (SUCCEEDED, FAILED) and j)  # fmt: skip
        assert failed["status"] == FAILED and "time limit of 1 s" in failed["error"] and failed["version"] is None

        with grpc.insecure_channel(grpc_front.url) as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            with pytest.raises(grpc.RpcError) as over:
                stub.TrainModel(
                    app_pb2.TrainRequest(model_type="random_forest", model_id=ids[2], params={"n_estimators": "3000"},
                                         X=[app_pb2.FeatureArray(features=row) for row in X], y=y),
                    metadata=[("authorization", AUTH_HEADERS["Authorization"])], timeout=120,
                )  # fmt: skip
            assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "time limit" in over.value.details()

        listed = {m["id"] for m in http.get(f"{rest.url}/models", timeout=30).json()}
        assert listed.isdisjoint(ids)  # nothing half-registered
        small = http.post(f"{rest.url}/models/train", json={"model_type": "knn", "X": iris[0], "y": iris[1]},
                          timeout=60)  # fmt: skip
        assert small.status_code == 201  # the front end lives on and trains within the limit
        http.delete(f"{rest.url}/models/{small.json()['model_id']}", timeout=30)
    finally:
        rest.stop()
        grpc_front.stop()


@pytest.mark.integration
@pytest.mark.reliability
def test_cancelling_a_job_stops_its_fit_at_once(settings, service):
    X, y = slow_training_data()
    runner = JobRunner.from_settings(service.trainer.train, settings).start()
    model_id = f"cancelled-mid-fit-{free_port()}"
    slow = TrainingRequest(model_type="random_forest", params={"n_estimators": 5000}, X=X, y=y, model_id=model_id)
    try:
        job = runner.submit(slow, owner=Principal.service("tests"))
        wait_for(lambda: runner.get(job["id"])["phase"] == "fitting")
        runner.cancel(job["id"])
        # a fit of this size runs for minutes; the job ends at the next one-second checkpoint instead
        cancelled = wait_for(lambda: (j := runner.get(job["id"]))["status"] != RUNNING and j, timeout=60)
        assert cancelled["status"] == CANCELLED and cancelled["version"] is None
        with pytest.raises(ModelNotFound):
            service.get_model(model_id)
    finally:
        runner.stop()


def fit_processes(front: FrontEnd) -> list[psutil.Process]:
    """The fit processes working for a front end: children of the forkserver it started."""
    descendants = psutil.Process(front.process.pid).children(recursive=True)
    forkservers = {p.pid for p in descendants if "forkserver" in " ".join(p.cmdline())}
    return [p for p in descendants if p.ppid() in forkservers and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.integration
@pytest.mark.reliability
def test_a_grpc_client_that_gives_up_stops_its_training(settings, log_dir):
    X, y = slow_training_data()
    port = free_port()
    front = FrontEnd("grpc", port, service_env(settings, MLSERVICE_GRPC_PORT=str(port)), log_dir).start_and_wait()
    model_id = f"abandoned-{port}"
    request = app_pb2.TrainRequest(model_type="random_forest", model_id=model_id, params={"n_estimators": "5000"},
                                   X=[app_pb2.FeatureArray(features=row) for row in X], y=y)  # fmt: skip
    try:
        with grpc.insecure_channel(front.url) as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            call = stub.TrainModel.future(request, timeout=8)
            fitting_now = wait_for(lambda: fit_processes(front), timeout=60)  # the fit has started
            with pytest.raises(grpc.RpcError) as gone:
                call.result()
            assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # a 5,000-tree forest runs for minutes: the server kills the fit at its next checkpoint
            psutil.wait_procs(fitting_now, timeout=30)
            assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in fitting_now)
            with pytest.raises(grpc.RpcError) as missing:
                stub.GetModel(app_pb2.ModelId(model_id=model_id))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # nothing was registered
    finally:
        front.stop()
