"""docker/entrypoint.sh, the image's one entrypoint, runs every role natively to a healthy service:
the same script the Dockerfile, Compose and Kubernetes start (mlflow, rest and grpc are started through
it by the shared fixtures; the dashboard here)."""

from __future__ import annotations

import subprocess

import pytest
import requests

from tests.conftest import (
    AUTH_HEADERS,
    ENTRYPOINT,
    ManagedProcess,
    base_env,
    free_port,
    grpc_health_ok,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_mlflow_role_is_healthy(mlflow_server):
    assert requests.get(f"{mlflow_server}/health", timeout=5).status_code == 200


def test_rest_role_is_healthy_and_authenticates(rest_server):
    assert requests.get(f"{rest_server.url}/health", timeout=5).json()["status"] == "ok"
    assert requests.get(f"{rest_server.url}/models", headers=AUTH_HEADERS, timeout=30).status_code == 200


def test_grpc_role_serves_the_standard_health_check(grpc_server_process):
    assert grpc_health_ok(grpc_server_process.url)()


def test_dashboard_role_is_healthy(rest_server, log_dir):
    port = free_port()
    env = base_env(MLSERVICE_HOST="127.0.0.1", MLSERVICE_DASHBOARD_PORT=str(port), API_URL=rest_server.url)
    dashboard = ManagedProcess("dashboard", [ENTRYPOINT, "dashboard"], env, log_dir).start()
    try:
        wait_until(http_ok(f"http://127.0.0.1:{port}/_stcore/health"), 60, "dashboard", dashboard.process)
    finally:
        dashboard.stop()


def test_unknown_role_is_refused():
    result = subprocess.run([ENTRYPOINT, "no-such-role"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 64 and "usage" in result.stderr
