"""The real stack for the benchmarks, started natively and always torn down.

PostgreSQL (a throwaway cluster), moto's S3 server, ``docker/entrypoint.sh mlflow`` on both, and the
REST and gRPC front ends through the same entrypoint, each in its own process group. ``running_stack``
is a context manager: leaving it (normally, on an exception or on Ctrl-C) stops every process it
started, including the ones added later with ``Stack.spawn`` (``mlflow models serve``, cold starts).
The process helpers are the test suite's too (``mlservice.devstack``), so the benchmarks run what the
integration tests run.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlservice.devstack.processes import (
    ENTRYPOINT,
    S3_KEY,
    ManagedProcess,
    PostgresCluster,
    base_env,
    free_port,
    grpc_health_ok,
    http_ok,
    mlflow_env,
    wait_until,
)

ARTIFACT_BUCKET = "mlflow"
EXPERIMENT = "mlservice-bench"
STOP_TIMEOUT = 8.0


@contextlib.contextmanager
def postgres(log_dir: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster with ``mlflow`` and ``mlservice`` databases; yields the MLflow URI."""
    cluster = PostgresCluster(log_dir).start()
    try:
        yield cluster.create_databases()
    finally:
        cluster.remove()


@dataclass
class Stack:  # pylint: disable=too-many-instance-attributes  # one per part of the stack
    """The running stack: URLs, the front-end processes and how long each part took to start."""

    log_dir: Path
    exit_stack: contextlib.ExitStack
    mlflow_url: str = ""
    s3_endpoint: str = ""
    rest: ManagedProcess | None = None
    rest_url: str = ""
    grpc: ManagedProcess | None = None
    grpc_target: str = ""
    grpc_metrics_url: str = ""  # the last gRPC server's Prometheus port
    startup_seconds: dict[str, float] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def rest_headers(self) -> dict[str, str]:
        """Headers of every REST call: JSON and the bench's API token."""
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}

    @property
    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata of every gRPC call: the bench's token."""
        return (("authorization", f"Bearer {self.token}"),)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
        """Start a process that is stopped (by process group) when the stack is torn down."""
        process = ManagedProcess(name, args, env, self.log_dir).start()
        self.exit_stack.callback(process.stop, timeout=STOP_TIMEOUT)
        return process

    def service_env(self, **overrides: str) -> dict[str, str]:
        """Environment of a REST/gRPC process of this stack: service defaults except where told.

        Authentication stays on (as deployed): one static API token, accepted by REST and gRPC alike, so
        both act as the same principal (``service:bench``, the owner of what either creates; a shared
        ``GRPC_AUTH_TOKEN`` would make gRPC ``service:grpc``, which may not retrain or delete them), and a
        state directory of its own for the files the embedded mode would otherwise make in .state.
        """
        return base_env(
            MLFLOW_TRACKING_URI=self.mlflow_url,
            MLSERVICE_EXPERIMENT_NAME=EXPERIMENT,
            MLSERVICE_HOST="127.0.0.1",
            MLSERVICE_API_TOKENS=f"bench={self.token}",
            MLSERVICE_STATE_DIR=str(self.log_dir / "state"),
            **overrides,
        )

    def spawn_front_end(self, role: str, name: str | None = None) -> tuple[ManagedProcess, str, Callable[[], bool]]:
        """Start ``entrypoint.sh rest|grpc`` on a free port: (process, URL or target, readiness check)."""
        port = free_port()
        if role == "rest":
            env = self.service_env(MLSERVICE_REST_PORT=str(port))
            url = f"http://127.0.0.1:{port}"
            check = http_ok(url + "/health")
        else:
            metrics_port = free_port()
            env = self.service_env(MLSERVICE_GRPC_PORT=str(port), MLSERVICE_GRPC_METRICS_PORT=str(metrics_port))
            url = f"127.0.0.1:{port}"
            self.grpc_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            check = grpc_health_ok(url)
        return self.spawn(name or role, [ENTRYPOINT, role], env), url, check


def wait_ready(process: ManagedProcess, check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    """Wait for a process's readiness check, failing with the end of its log."""
    try:
        wait_until(check, timeout, what, process.process)
    except (TimeoutError, RuntimeError) as exc:
        raise RuntimeError(f"{exc}\n--- {process.log_path} ---\n{process.log_tail()}") from None


def wait_all_ready(
    processes: dict[str, tuple[ManagedProcess, Callable[[], bool]]], started: float, timeout: float = 120
) -> dict[str, float]:
    """Poll several processes' readiness checks together; seconds from started until each first passed."""
    ready: dict[str, float] = {}
    deadline = time.perf_counter() + timeout
    while len(ready) < len(processes):
        for name, (process, check) in processes.items():
            if name in ready:
                continue
            if process.process is not None and process.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.process.returncode}:\n{process.log_tail()}")
            try:
                passed = check()
            except Exception:  # pylint: disable=broad-exception-caught  # not up yet
                passed = False
            if passed:
                ready[name] = time.perf_counter() - started
        if time.perf_counter() > deadline:
            missing = sorted(set(processes) - set(ready))
            raise RuntimeError(f"not ready after {timeout} s: {missing}")
        time.sleep(0.05)
    return ready


def _spawn_s3(stack: Stack) -> tuple[ManagedProcess, str]:
    port = free_port()
    moto_server = str(Path(sys.executable).parent / "moto_server")
    moto = stack.spawn("moto", [moto_server, "-H", "127.0.0.1", "-p", str(port)], base_env())
    return moto, f"http://127.0.0.1:{port}"


def _create_bucket(endpoint: str) -> None:
    import boto3  # pylint: disable=import-outside-toplevel

    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY, region_name="us-east-1"
    ).create_bucket(Bucket=ARTIFACT_BUCKET)


@contextlib.contextmanager
def running_stack(log_dir: Path) -> Iterator[Stack]:
    """Start PostgreSQL, S3, MLflow, REST and gRPC; stop all of them (and anything spawned later) on exit.

    To keep the quick mode short, moto boots while PostgreSQL is initialised, and the front ends
    (which need the MLflow server only when called) boot beside the MLflow server. Each part's start
    time is measured from the moment it was spawned.
    """
    with contextlib.ExitStack() as exit_stack:
        stack = Stack(log_dir=log_dir, exit_stack=exit_stack)
        began = time.perf_counter()
        moto, s3_endpoint = _spawn_s3(stack)
        postgres_uri = exit_stack.enter_context(postgres(log_dir))
        stack.startup_seconds["postgres"] = time.perf_counter() - began
        wait_ready(moto, http_ok(s3_endpoint + "/moto-api/"), "moto S3 server", 30)
        _create_bucket(s3_endpoint)
        stack.s3_endpoint = s3_endpoint
        stack.startup_seconds["s3"] = time.perf_counter() - began

        began = time.perf_counter()
        port = free_port()
        mlflow_server = stack.spawn("mlflow", [ENTRYPOINT, "mlflow"], mlflow_env(postgres_uri, s3_endpoint, port))
        stack.mlflow_url = f"http://127.0.0.1:{port}"
        stack.rest, stack.rest_url, rest_ready = stack.spawn_front_end("rest")
        stack.grpc, stack.grpc_target, grpc_ready = stack.spawn_front_end("grpc")
        processes = {
            "mlflow_server": (mlflow_server, http_ok(stack.mlflow_url + "/health")),
            "rest": (stack.rest, rest_ready),
            "grpc": (stack.grpc, grpc_ready),
        }
        stack.startup_seconds.update(wait_all_ready(processes, began))
        yield stack
