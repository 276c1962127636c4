"""The real image and the real Compose stack, checked through the published ports only (make test-docker).

``scripts/test_docker.sh`` provides a Docker engine (and stand-ins for images this machine cannot pull);
this module runs the project's own scripts on a copy of the checkout, as a user with only Docker would:

1. ``./run_docker_mode.sh`` with a PATH that holds no Python, venv or DVC (the sample dataset must be
   pushed from a container); it builds the image from the real Dockerfile, starts the real
   docker-compose.yaml and prints the URLs and the REST token;
2. every service healthy, every app container running as uid 10001, only 127.0.0.1 published,
   PostgreSQL not published;
3. REST (``test_flask_api.sh`` with the printed token), gRPC (``grpc_client_test.py``), the dashboard,
   a dataset uploaded and trained from by the worker container (asynchronous job), the DVC-pushed
   repository dataset trained from, MLflow's UI and registry, the model's artifacts in the MinIO bucket;
4. ``./stop_all.sh`` and a second ``./run_docker_mode.sh``: model and dataset are still there;
5. ``./stop_all.sh --purge``: no container, network or volume of the project is left.

The stack runs as Compose project ``mlservice-livetest`` on free ports (the documented
``MLSERVICE_*_PUBLISHED_PORT`` overrides), so a developer's own ``mlservice`` stack is left alone; the
image is tagged ``mlservice:livetest``. Whatever happens, the module's fixture purges the project.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import requests
from sklearn.datasets import load_iris

from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlservice-livetest"
IMAGE_TAG = "livetest"
APP_SERVICES = ("mlflow", "rest", "grpc", "dashboard", "worker")
HEALTHY_SERVICES = ("postgres", "minio", *APP_SERVICES)
PUBLISHED = {  # override variable -> container port
    "MLSERVICE_REST_PUBLISHED_PORT": 5000,
    "MLSERVICE_GRPC_PUBLISHED_PORT": 50051,
    "MLSERVICE_GRPC_METRICS_PUBLISHED_PORT": 9102,
    "MLSERVICE_DASHBOARD_PUBLISHED_PORT": 8501,
    "MLSERVICE_MLFLOW_PUBLISHED_PORT": 5002,
    "MLSERVICE_MINIO_PUBLISHED_PORT": 9000,
    "MLSERVICE_MINIO_CONSOLE_PUBLISHED_PORT": 9001,
}
# What run_docker_mode.sh, stop_all.sh and scripts/deploy_lib.sh may call: Docker and basic tools only.
HOST_TOOLS = ("docker", "bash", "env", "dirname", "basename", "sed", "awk", "tail", "head", "cp", "chmod", "cat",
              "uname", "sleep", "od", "tr", "grep", "rm", "mktemp")  # fmt: skip
START_TIMEOUT = 2400  # a first build without cache on a busy 2-core machine; later starts take ~2 min
MODEL_ID = "livetest-iris"
DATASET = "livetest-iris"


class Stack:
    """The checkout copy, the environment the scripts run in, and what the tests learn on the way."""

    def __init__(self, checkout: Path, env: dict[str, str], ports: dict[str, int]):
        self.checkout = checkout
        self.env = env
        self.ports = ports
        self.token = ""
        self.dataset_version = ""

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def script(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run one of the project's scripts as a user would (cwd = the checkout, the restricted PATH)."""
        result = subprocess.run(
            ["bash", *argv],
            cwd=self.checkout,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        sys.stdout.write(f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}\n")
        return result

    def docker(self, *argv: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["docker", *argv],
            cwd=self.checkout,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"docker {' '.join(argv)}: {result.stderr}"
        return result.stdout

    def env_file(self) -> dict[str, str]:
        """The .env the scripts made in the checkout."""
        lines = (self.checkout / ".env").read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def compose_ps(self) -> list[dict]:
        out = self.docker("compose", "ps", "--all", "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def project_objects(self) -> dict[str, list[str]]:
        """Containers, networks and volumes labelled with the project (whatever created them)."""
        label = f"label=com.docker.compose.project={PROJECT}"
        return {
            "containers": self.docker("ps", "-aq", "--filter", label).split(),
            "networks": self.docker("network", "ls", "-q", "--filter", label).split(),
            "volumes": self.docker("volume", "ls", "-q", "--filter", label).split(),
        }


def _copy_checkout(destination: Path) -> None:
    """The files of the checkout (tracked, plus new ones not ignored): what a clone would hold."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _tools_dir(directory: Path) -> Path:
    directory.mkdir()
    for name in HOST_TOOLS:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        (directory / name).symlink_to(found)
    return directory


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The checkout copy and environment; afterwards the project is purged whatever happened."""
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode
    ):
        pytest.fail("no Docker engine answers: run these tests through `make test-docker`")
    base = tmp_path_factory.mktemp("compose-stack")
    checkout = base / "checkout"
    _copy_checkout(checkout)
    tools = _tools_dir(base / "bin")
    ports = {variable: free_port() for variable in PUBLISHED}
    env = {
        "PATH": str(tools),
        "HOME": os.environ.get("HOME", str(base)),
        "COMPOSE_PROJECT_NAME": PROJECT,
        "MLSERVICE_IMAGE_TAG": IMAGE_TAG,
        "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0"),
        "WAIT_SECONDS": "420",
        **{variable: str(port) for variable, port in ports.items()},
    }
    for passthrough in ("DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR"):
        if passthrough in os.environ:
            env[passthrough] = os.environ[passthrough]
    running = Stack(checkout, env, ports)
    try:
        yield running
    finally:
        running.script("stop_all.sh", "--purge", timeout=300)
        leftover = running.project_objects()
        if any(leftover.values()):  # the script failed: remove by label so that nothing is left behind
            for container in leftover["containers"]:
                subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
            for kind in ("network", "volume"):
                for name in leftover[f"{kind}s"]:
                    subprocess.run(["docker", kind, "rm", name], capture_output=True, check=False)


def _start(stack: Stack) -> str:
    result = stack.script("run_docker_mode.sh", timeout=START_TIMEOUT)
    assert result.returncode == 0, f"run_docker_mode.sh failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return result.stdout


# --- 1. a start on a host with Docker only -----------------------------------------------------


@pytest.mark.timeout(START_TIMEOUT + 60)
def test_first_start_with_only_docker_on_the_path(stack):
    assert not any((Path(stack.env["PATH"]) / name).exists() for name in ("python", "python3", "dvc", "pip"))
    assert not (stack.checkout / ".env").exists() and not (stack.checkout / ".venv").exists()
    output = _start(stack)
    token = re.search(r"REST API token \(admin\): (\S+)", output)
    assert token, f"run_docker_mode.sh did not print the REST token:\n{output}"
    stack.token = token.group(1)
    env_file = stack.env_file()
    assert f"admin={stack.token}" in env_file["MLSERVICE_API_TOKENS"].split(",")
    assert env_file["MLSERVICE_ADMINS"] == "service:admin" and "DASHBOARD_API_TOKEN" not in env_file
    assert len(env_file["SECRET_KEY"]) == 64
    for key in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"):  # generated, not minioadmin
        assert len(env_file[key]) == 32, key
    # The published ports it prints are the overridden ones, and the sample dataset went up from a container.
    assert f"http://localhost:{stack.ports['MLSERVICE_REST_PUBLISHED_PORT']}/" in output
    assert "dvc-push: the sample dataset" in output


# --- 2. what runs, as whom, published where ---------------------------------------------------


def test_every_service_is_healthy_and_buckets_were_made(stack):
    services = {entry["Service"]: entry for entry in stack.compose_ps()}
    for name in HEALTHY_SERVICES:
        assert services[name]["State"] == "running" and services[name]["Health"] == "healthy", services[name]
    assert services["createbuckets"]["State"] == "exited" and services["createbuckets"]["ExitCode"] == 0


def test_app_containers_run_as_the_service_user(stack):
    for name in APP_SERVICES:
        container = stack.docker("compose", "ps", "-q", name).strip()
        assert stack.docker("inspect", "--format", "{{.Config.User}}", container).strip() == "10001:10001"
        assert stack.docker("exec", container, "id", "-u").strip() == "10001", name


def test_only_loopback_is_published_and_postgres_is_not(stack):
    published = {}
    for entry in stack.compose_ps():
        for port in entry.get("Publishers") or []:
            if port.get("PublishedPort"):
                published[(entry["Service"], port["TargetPort"])] = (port["URL"], port["PublishedPort"])
    expected = {
        ("rest", 5000), ("grpc", 50051), ("grpc", 9102), ("dashboard", 8501), ("mlflow", 5002), ("minio", 9000),
        ("minio", 9001),
    }  # fmt: skip
    assert set(published) == expected
    assert all(url == "127.0.0.1" for url, _ in published.values()), published
    assert {port for _, port in published.values()} == set(stack.ports.values())


# --- 3. the front ends, through the published ports --------------------------------------------


@pytest.mark.timeout(600)
def test_rest_acceptance_script_with_the_printed_token(stack):
    result = subprocess.run(
        ["bash", str(ROOT / "test_flask_api.sh")],
        env={**os.environ, "API_URL": stack.url("MLSERVICE_REST_PUBLISHED_PORT"), "API_TOKEN": stack.token},
        capture_output=True, text=True, timeout=540, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all REST steps passed" in result.stdout
    # Without the token the API refuses.
    assert requests.get(f"{stack.url('MLSERVICE_REST_PUBLISHED_PORT')}/models", timeout=30).status_code == 401


@pytest.mark.timeout(600)
def test_grpc_acceptance_script(stack):
    command = [sys.executable, str(ROOT / "grpc_client_test.py"), "--host", "127.0.0.1",
               "--port", str(stack.ports["MLSERVICE_GRPC_PUBLISHED_PORT"])]  # fmt: skip
    anonymous = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert anonymous.returncode != 0 and "UNAUTHENTICATED" in anonymous.stdout + anonymous.stderr
    result = subprocess.run(  # the REST token works over gRPC too: one identity
        [*command, "--token", stack.token], cwd=ROOT, capture_output=True, text=True, timeout=540, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all gRPC steps passed" in result.stdout


def test_metrics_are_scraped_where_the_compose_labels_say(stack):
    """After the acceptance scripts: REST /metrics (no token) and the gRPC metrics port show their requests,
    and each scraped service carries the prometheus.io labels a docker_sd_configs job reads."""
    scrapes = {
        "rest": stack.url("MLSERVICE_REST_PUBLISHED_PORT"),
        "grpc": stack.url("MLSERVICE_GRPC_METRICS_PUBLISHED_PORT"),
    }
    for service, protocol in (("rest", "rest"), ("grpc", "grpc")):
        text = requests.get(f"{scrapes[service]}/metrics", timeout=30).text
        assert "mlservice_requests_total{" in text and f'protocol="{protocol}"' in text, service
        assert "mlservice_predicted_rows_total{" in text, service
    for entry in stack.compose_ps():
        if entry["Service"] in ("rest", "grpc", "worker"):
            labels = json.loads(stack.docker("inspect", "--format", "{{json .Config.Labels}}", entry["Name"]))
            assert labels["prometheus.io/scrape"] == "true" and labels["prometheus.io/path"] == "/metrics"


def test_dashboard_answers(stack):
    base = stack.url("MLSERVICE_DASHBOARD_PUBLISHED_PORT")
    health = requests.get(f"{base}/_stcore/health", timeout=30)
    assert health.status_code == 200 and health.text.strip() == "ok"
    page = requests.get(f"{base}/", timeout=30)
    assert page.status_code == 200 and "<noscript>" in page.text and 'id="root"' in page.text


def _iris_csv() -> bytes:
    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns=lambda name: name.replace(" (cm)", "").replace(" ", "_"))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.mark.timeout(600)
def test_dataset_uploaded_and_trained_from_by_the_worker(stack):
    api = stack.url("MLSERVICE_REST_PUBLISHED_PORT")
    uploaded = requests.post(
        f"{api}/datasets", headers=stack.headers, data={"name": DATASET},
        files={"file": ("iris.csv", _iris_csv(), "text/csv")}, timeout=60,
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    stack.dataset_version = uploaded.json()["version"]
    # Asynchronous: rest only queues (MLSERVICE_JOB_WORKERS=0); the worker container runs it.
    job = requests.post(
        f"{api}/models/train", headers=stack.headers, timeout=60,
        json={"async": True, "model_type": "random_forest", "model_id": MODEL_ID, "dataset": DATASET,
              "target": "target", "params": {"n_estimators": 10}},
    )  # fmt: skip
    assert job.status_code == 202, job.text

    def finished():
        state = requests.get(f"{api}/jobs/{job.json()['id']}", headers=stack.headers, timeout=30).json()
        return state if state["status"] in ("succeeded", "failed", "cancelled") else None

    done = wait_for(finished, timeout=420, every=2)
    assert done["status"] == "succeeded", done
    assert done["model_id"] == MODEL_ID and done["version"] == 1
    logs = stack.docker("compose", "logs", "worker")
    assert "Started 1 training job(s)" in logs, f"the worker container did not run the job:\n{logs[-2000:]}"


@pytest.mark.timeout(600)
def test_repository_dataset_pushed_from_a_container_is_trainable(stack):
    api = stack.url("MLSERVICE_REST_PUBLISHED_PORT")
    listed = requests.get(f"{api}/datasets", headers=stack.headers, timeout=30).json()
    assert "train" in json.dumps(listed)
    trained = requests.post(
        f"{api}/models/train", headers=stack.headers, timeout=300,
        json={"model_type": "logistic_regression", "model_id": "livetest-repo", "dataset": "train", "target": "target"},
    )  # fmt: skip
    assert trained.status_code == 201, trained.text
    assert requests.delete(f"{api}/models/livetest-repo", headers=stack.headers, timeout=120).status_code == 204


def test_mlflow_ui_registry_and_artifacts_in_the_bucket(stack):
    mlflow = stack.url("MLSERVICE_MLFLOW_PUBLISHED_PORT")
    ui = requests.get(f"{mlflow}/", timeout=30)
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    registered = requests.get(f"{mlflow}/api/2.0/mlflow/registered-models/get", params={"name": MODEL_ID}, timeout=30)
    assert registered.status_code == 200, registered.text
    versions = requests.get(
        f"{mlflow}/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{MODEL_ID}'"}, timeout=30
    ).json()["model_versions"]
    # MLflow 3 stores a logged model under <experiment>/models/<model id>/artifacts/ (older: the run's folder).
    ids = {versions[0]["run_id"], versions[0].get("model_id")} - {None, ""}
    env_file = stack.env_file()
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.url("MLSERVICE_MINIO_PUBLISHED_PORT"),
        aws_access_key_id=env_file["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env_file["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mlflow")
        for obj in page.get("Contents", [])
    ]
    model_keys = [key for key in keys if any(identifier in key for identifier in ids)]
    assert any(key.endswith("MLmodel") for key in model_keys), f"no MLmodel of {ids} in s3://mlflow: {keys[:20]}"
    # The repository's sample, pushed by the dvc-push container, where DVC puts it.
    md5 = re.search(r"md5: ([0-9a-f]{32})", (stack.checkout / "data" / "train.csv.dvc").read_text()).group(1)
    s3.head_object(Bucket="dvc", Key=f"files/md5/{md5[:2]}/{md5[2:]}")


# --- 4. a restart keeps the state; 5. --purge leaves nothing -----------------------------------


@pytest.mark.timeout(START_TIMEOUT + 400)
def test_model_and_dataset_survive_stop_and_start(stack):
    stopped = stack.script("stop_all.sh", timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    left = stack.project_objects()
    assert not left["containers"] and left["volumes"], left
    _start(stack)
    api = stack.url("MLSERVICE_REST_PUBLISHED_PORT")
    model = requests.get(f"{api}/models/{MODEL_ID}", headers=stack.headers, timeout=60)
    assert model.status_code == 200 and model.json()["version"] == 1, model.text
    features = [[5.1, 3.5, 1.4, 0.2]]
    predicted = requests.post(
        f"{api}/models/{MODEL_ID}/predict", headers=stack.headers, json={"X": features}, timeout=120
    )
    assert predicted.status_code == 200 and predicted.json()["predictions"] == [0], predicted.text
    dataset = requests.get(f"{api}/datasets/{DATASET}/latest", headers=stack.headers, timeout=60)
    assert dataset.status_code == 200 and dataset.json()["version"] == stack.dataset_version


@pytest.mark.timeout(400)
def test_purge_leaves_no_container_network_or_volume(stack):
    purged = stack.script("stop_all.sh", "--purge", timeout=300)
    assert purged.returncode == 0, purged.stderr
    left = stack.project_objects()
    assert not any(left.values()), left
