"""Deployment files: static checks, one configuration contract, and the scripts' failure messages.

Fast and offline: no Docker engine, cluster or network. The same tools as ``scripts/lint_deploy.sh``
run here so that ``make test`` catches a broken Dockerfile, Compose file or manifest too. The
"contract" tests hold settings.py, docker/entrypoint.sh, the Dockerfile, docker-compose.yaml,
.env.example, k8s/ and the docs to one list of variables and one set of ports.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent import futures
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import AliasChoices

from mlservice.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
APP_SERVICES = ("rest", "grpc", "dashboard", "worker")
LONG_RUNNING_SERVICES = ("postgres", "minio", "mlflow", *APP_SERVICES)
K8S_DEPLOYMENTS = {"mlservice-rest": "rest", "mlservice-grpc": "grpc", "mlservice-dashboard": "dashboard"}
K8S_WORKLOADS = {**K8S_DEPLOYMENTS, "mlservice-worker": "worker"}
# Published ports: container port -> the variable that overrides the host port (docs/DEPLOYMENT.md).
PUBLISHED_PORT_VARIABLES = {
    ("rest", 5000): "MLSERVICE_REST_PUBLISHED_PORT",
    ("grpc", 50051): "MLSERVICE_GRPC_PUBLISHED_PORT",
    ("grpc", 9102): "MLSERVICE_GRPC_METRICS_PUBLISHED_PORT",
    ("dashboard", 8501): "MLSERVICE_DASHBOARD_PUBLISHED_PORT",
    ("mlflow", 5002): "MLSERVICE_MLFLOW_PUBLISHED_PORT",
    ("minio", 9000): "MLSERVICE_MINIO_PUBLISHED_PORT",
    ("minio", 9001): "MLSERVICE_MINIO_CONSOLE_PUBLISHED_PORT",
}
PUBLISHED_PORT = re.compile(r"^\$\{MLSERVICE_PUBLISH_HOST:-127\.0\.0\.1\}:\$\{([A-Z_]+):-(\d+)\}:(\d+)$")
SCRIPTS = ("run_docker_mode.sh", "run_k8s_mode.sh", "stop_all.sh")

# Settings a deployed front end deliberately leaves at its default (not set in Compose or k8s).
# Each entry says why; everything else in settings.Settings must be provided explicitly.
LEFT_AT_DEFAULT_IN_APPS = {
    # Read only by the `mlflow` role (entrypoint.sh); the Compose mlflow service sets it.
    "MLSERVICE_MLFLOW_PORT",
    # The checkout whose data/*.dvc files are listed: the image's own /app is right.
    "MLSERVICE_REPO_ROOT",
}
# Credentials in committed files are empty: an example value is public (and the services refuse one).
CREDENTIAL_NAME = re.compile(r"PASSWORD|SECRET|TOKENS?$|_KEY|_KEY_ID|DATABASE_URL|ROOT_USER")


def is_placeholder(value: str) -> bool:
    """An empty credential (the run scripts generate it, the operator sets it)."""
    return value == ""


# --- helpers -------------------------------------------------------------------------------------


def tool(name: str) -> str | None:
    """Path of a tool: the project's venv first (pip-installed linters), then PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


@cache
def compose() -> dict:
    """docker-compose.yaml, parsed once (read-only)."""
    return load_yaml_documents(ROOT / "docker-compose.yaml")[0]


def service_env(service: str) -> dict[str, str]:
    environment = compose()["services"][service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def resolve_default(value: str) -> str:
    """``${VAR:-default}`` -> default (what Compose uses when .env leaves VAR empty)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


@cache
def k8s_objects() -> tuple[dict, ...]:
    """The rendered kustomization when kubectl is present, else the manifests one by one (read-only)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        rendered = subprocess.run(
            [kubectl, "kustomize", str(ROOT / "k8s")], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        return tuple(doc for doc in yaml.safe_load_all(rendered) if doc)
    objects: list[dict] = []
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            objects.extend(load_yaml_documents(path))
    return tuple(objects)


def k8s_kind(kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in k8s_objects() if obj["kind"] == kind}


def k8s_provided_env() -> dict[str, str]:
    """Variables every front-end pod gets through envFrom (ConfigMap + Secret)."""
    config_map = k8s_kind("ConfigMap")["mlservice-config"]["data"]
    secret = k8s_kind("Secret")["mlservice-secrets"]["stringData"]
    return {**config_map, **secret}


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def settings_env_names() -> dict[str, str]:
    """Field name -> the environment variable the application reads for it."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
            names[name] = alias.choices[0]
        elif isinstance(alias, str):
            names[name] = alias
        else:
            names[name] = "MLSERVICE_" + name.upper()
    return names


def entrypoint_app_variables() -> set[str]:
    """MLSERVICE_* variables docker/entrypoint.sh reads (e.g. MLSERVICE_REST_TIMEOUT)."""
    text = (ROOT / "docker" / "entrypoint.sh").read_text(encoding="utf-8")
    return set(re.findall(r"\$\{(MLSERVICE_[A-Z0-9_]+)", text))


def required_app_env() -> set[str]:
    """Everything a deployed front end reads, minus the documented exceptions."""
    return (set(settings_env_names().values()) | entrypoint_app_variables()) - LEFT_AT_DEFAULT_IN_APPS


def default_port(field: str) -> int:
    """The port settings.py uses when nothing overrides it: the contract the files must match."""
    return int(dict(Settings.model_fields)[field].default)


ROLE_PORT_FIELDS = {"rest": "rest_port", "grpc": "grpc_port", "dashboard": "dashboard_port", "mlflow": "mlflow_port"}


# --- static checks (the same as scripts/lint_deploy.sh) ------------------------------------------


def _shell_scripts() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for pattern in ("*.sh", "docker/*.sh", "docker/standins/*.sh", "scripts/*.sh")
        for path in ROOT.glob(pattern)
    )


STATIC_CHECKS = {
    "hadolint": ("hadolint", lambda exe: [exe, "Dockerfile"]),
    "compose-schema": (
        "check-jsonschema",
        lambda exe: [exe, "--builtin-schema", "vendor.compose-spec", "docker-compose.yaml", "docker-compose.k8s.yaml"],
    ),
    "shellcheck": ("shellcheck", lambda exe: [exe, "-x", *_shell_scripts()]),
}


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize("check", sorted(STATIC_CHECKS))
def test_static_check_passes(check: str) -> None:
    binary, command = STATIC_CHECKS[check]
    exe = tool(binary)
    if exe is None:
        pytest.skip(f"{binary} is not installed (make install / make system-deps provide it)")
    result = subprocess.run(command(exe), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_kubernetes_manifests_validate_strictly() -> None:
    validator = tool("kubernetes-validate")
    if validator is None:
        pytest.skip("kubernetes-validate is not installed (make install provides it)")
    rendered = yaml.safe_dump_all(k8s_objects())
    assert "kind: Deployment" in rendered
    result = subprocess.run(
        [validator, "--strict", "--quiet", "-"],
        input=rendered,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- one contract: every setting is provided, in Compose and in Kubernetes ------------------------


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(env_example())
    missing = (set(settings_env_names().values()) | entrypoint_app_variables()) - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_service_gets_every_setting(service: str) -> None:
    env = service_env(service)
    missing = required_app_env() - set(env)
    assert not missing, f"Compose service {service} does not set {sorted(missing)}"
    assert env["MLSERVICE_HOST"] == "0.0.0.0"
    assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow:{default_port('mlflow_port')}"
    assert env["API_URL"] == f"http://rest:{default_port('rest_port')}"


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_k8s_pods_get_every_setting() -> None:
    provided = k8s_provided_env()
    missing = (required_app_env() | {"API_URL"}) - set(provided)
    assert not missing, f"k8s ConfigMap/Secret do not provide {sorted(missing)}"
    assert provided["MLSERVICE_HOST"] == "0.0.0.0"
    assert provided["MLFLOW_TRACKING_URI"] == f"http://host.minikube.internal:{default_port('mlflow_port')}"
    assert provided["API_URL"] == f"http://mlservice-rest:{default_port('rest_port')}"


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_deployed_values_are_valid_settings(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values Compose / k8s hand the apps pass settings.py's own validation."""
    env = (
        {key: resolve_default(value) for key, value in service_env("rest").items()}
        if source == "compose"
        else k8s_provided_env()
    )
    for key in list(os.environ):
        if key.startswith("MLSERVICE_") or key == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "0.0.0.0"
    assert settings.rest_port == default_port("rest_port")


def test_compose_mlflow_service_is_postgres_and_s3_backed() -> None:
    env = service_env("mlflow")
    assert compose()["services"]["mlflow"]["command"] == ["mlflow"]
    assert "postgresql+psycopg2://" in env["MLFLOW_BACKEND_STORE_URI"]
    assert resolve_default(env["MLFLOW_ARTIFACTS_DESTINATION"]).startswith("s3://")
    assert resolve_default(env["MLFLOW_S3_ENDPOINT_URL"]) == "http://minio:9000"
    assert env["MLSERVICE_HOST"] == "0.0.0.0"
    assert env["MLSERVICE_MLFLOW_PORT"] == str(default_port("mlflow_port"))
    # MLflow 3 refuses Host headers it does not know; the front ends call it as mlflow:5002.
    assert "mlflow:5002" in resolve_default(env["MLFLOW_SERVER_ALLOWED_HOSTS"]).split(",")


@pytest.mark.parametrize("service", LONG_RUNNING_SERVICES)
def test_compose_service_is_supervised(service: str) -> None:
    definition = compose()["services"][service]
    assert definition["restart"] == "unless-stopped"
    assert definition["healthcheck"]["test"]
    for dependency in definition.get("depends_on", {}).values():
        assert dependency["condition"] in {"service_healthy", "service_completed_successfully"}


# --- one contract: ports -----------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLE_PORT_FIELDS))
def test_ports_agree_across_image_compose_and_entrypoint(role: str) -> None:
    port = default_port(ROLE_PORT_FIELDS[role])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M) for p in line.split()}
    assert port in exposed
    published = [PUBLISHED_PORT.match(entry) for entry in compose()["services"][role]["ports"]]
    assert any(match and match.group(2) == match.group(3) == str(port) for match in published)
    assert healthcheck_module().PROBES[role][1] == port


def test_published_ports_bind_loopback_by_default_with_documented_overrides() -> None:
    """Every published port is ${MLSERVICE_PUBLISH_HOST:-127.0.0.1}:${<override>:-<port>}:<port>."""
    found = {}
    for name, service in compose()["services"].items():
        for entry in service.get("ports", []):
            match = PUBLISHED_PORT.match(entry)
            assert match, f"{name}: port {entry!r} is not published as MLSERVICE_PUBLISH_HOST:${{VAR:-port}}:port"
            assert match.group(2) == match.group(3)
            found[(name, int(match.group(3)))] = match.group(1)
    assert found == PUBLISHED_PORT_VARIABLES
    example = env_example()
    assert example["MLSERVICE_PUBLISH_HOST"] == "127.0.0.1"
    for (_, port), variable in PUBLISHED_PORT_VARIABLES.items():
        assert example[variable] == str(port), f".env.example does not document {variable}"
    deployment = (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    for variable in ("MLSERVICE_PUBLISH_HOST", "MLSERVICE_REST_PUBLISHED_PORT", "AirPlay"):
        assert variable in deployment


def test_postgres_is_published_only_by_the_k8s_override() -> None:
    assert "ports" not in compose()["services"]["postgres"], "Docker mode must not publish PostgreSQL"
    override = load_yaml_documents(ROOT / "docker-compose.k8s.yaml")[0]
    assert override["services"]["postgres"]["ports"] == [
        "${MLSERVICE_PUBLISH_HOST:-127.0.0.1}:${POSTGRES_PORT:-5432}:5432"
    ]
    k8s_script = (ROOT / "run_k8s_mode.sh").read_text(encoding="utf-8")
    assert "-f docker-compose.k8s.yaml" in k8s_script


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_api_containers_only_queue_training_jobs_and_a_worker_runs_them() -> None:
    for service in ("rest", "grpc"):
        assert service_env(service)["MLSERVICE_JOB_WORKERS"] == "0"
    worker = compose()["services"]["worker"]
    assert worker["command"] == ["worker"] and "ports" not in worker
    assert resolve_default(service_env("worker")["MLSERVICE_JOB_WORKERS"]) == "1"
    assert worker["healthcheck"]["test"][-1] == "worker"
    assert k8s_provided_env()["MLSERVICE_JOB_WORKERS"] == "0"
    worker_pod = k8s_kind("Deployment")["mlservice-worker"]["spec"]["template"]["spec"]
    worker_env = {item["name"]: item["value"] for item in worker_pod["containers"][0]["env"]}
    assert int(worker_env["MLSERVICE_JOB_WORKERS"]) >= 1
    assert "mlservice-worker" not in k8s_kind("Service")


def test_entrypoint_port_defaults_match_settings() -> None:
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text(encoding="utf-8")
    defaults = dict(re.findall(r"\$\{MLSERVICE_([A-Z]+_PORT):-(\d+)\}", entrypoint))
    assert defaults, "entrypoint.sh no longer has ${MLSERVICE_*_PORT:-N} defaults; update this test"
    for variable, port in defaults.items():
        assert int(port) == default_port(variable.lower()), f"entrypoint.sh defaults {variable} to {port}"


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize(("deployment", "role"), sorted(K8S_DEPLOYMENTS.items()))
def test_ports_agree_in_k8s(deployment: str, role: str) -> None:
    port = default_port(ROLE_PORT_FIELDS[role])
    container = k8s_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in container["ports"] if p["name"] != "metrics"] == [port]
    assert [p["port"] for p in k8s_kind("Service")[deployment]["spec"]["ports"]] == [port]
    assert k8s_provided_env()[f"MLSERVICE_{ROLE_PORT_FIELDS[role].upper()}"] == str(port)


@pytest.mark.parametrize("document", ["docs/DEPLOYMENT.md", "README.md"])
def test_docs_state_the_same_ports(document: str) -> None:
    path = ROOT / document
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    ports = [default_port(field) for field in ROLE_PORT_FIELDS.values()]
    if document == "README.md" and not any(str(port) in text for port in ports):
        pytest.skip("README.md does not list the ports yet")
    missing = [port for port in ports if str(port) not in text]
    assert not missing, f"{document} does not mention ports {missing}"


# --- Kubernetes manifests meet the issue ----------------------------------------------------------


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize(("deployment", "role"), sorted(K8S_WORKLOADS.items()))
def test_k8s_deployment_is_hardened_and_probed(deployment: str, role: str) -> None:
    spec = k8s_kind("Deployment")[deployment]["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    if role in {"rest", "grpc"}:
        assert spec["replicas"] > 1, "rest and grpc are stateless and must run more than one replica"
    assert container["args"] == [role]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    env_from = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert env_from == {"mlservice-config", "mlservice-secrets"}
    if role == "worker":  # no port, no Service: the job loop's liveness file
        assert container["livenessProbe"]["exec"]["command"][-2:] == ["/app/docker/healthcheck.py", "worker"]
        return
    for probe in ("readinessProbe", "livenessProbe"):
        if role == "grpc":
            assert container[probe]["grpc"]["port"] == default_port("grpc_port")
        else:
            expected = "/health" if role == "rest" else "/_stcore/health"
            assert container[probe]["httpGet"]["path"] == expected
    assert k8s_kind("Service")[deployment]["spec"]["type"] == "NodePort"


# Pinned so that URLs survive a re-deploy; run_k8s_mode.sh and docs/DEPLOYMENT.md use the same numbers.
K8S_NODE_PORTS = {"mlservice-rest": 30500, "mlservice-grpc": 30051, "mlservice-dashboard": 30501}


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize(("service", "node_port"), sorted(K8S_NODE_PORTS.items()))
def test_k8s_node_ports_are_pinned(service: str, node_port: int) -> None:
    assert [p.get("nodePort") for p in k8s_kind("Service")[service]["spec"]["ports"]] == [node_port]
    assert f"{node_port}" in (ROOT / "run_k8s_mode.sh").read_text(encoding="utf-8")
    assert f"{node_port}" in (ROOT / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")


# --- no secrets, no moving tags -----------------------------------------------------------------


def test_env_example_holds_no_credential_values() -> None:
    leaked = {
        key: value for key, value in env_example().items() if CREDENTIAL_NAME.search(key) and not is_placeholder(value)
    }
    assert not leaked, f".env.example has credential values: {sorted(leaked)}"


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_k8s_secret_is_a_template() -> None:
    secret = k8s_kind("Secret")["mlservice-secrets"]
    assert "data" not in secret, "use stringData with empty values; base64 data hides what is committed"
    assert all(is_placeholder(value) for value in secret["stringData"].values())


@pytest.mark.parametrize("service", sorted(compose()["services"]))
def test_compose_credentials_come_from_env(service: str) -> None:
    for key, value in service_env(service).items():
        if CREDENTIAL_NAME.search(key):
            assert value == "" or value.startswith("${"), f"{service}.{key} is hard-coded"


def _image_tag(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else ""


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_no_latest_or_untagged_images() -> None:
    images = [resolve_default(service["image"]) for service in compose()["services"].values()]
    images += [
        container["image"]
        for deployment in k8s_kind("Deployment").values()
        for container in deployment["spec"]["template"]["spec"]["containers"]
    ]
    for image in images:
        assert _image_tag(image) not in {"", "latest"}, f"{image} is not pinned"


def test_env_file_is_git_ignored_and_out_of_the_image() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore must be an allow-list (ignore everything first)"
    reincluded = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not reincluded & {".env", ".state", "data", "tests", ".venv", ".tools", ".git", "bench"}


# --- docker/healthcheck.py --------------------------------------------------------------------


def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "docker" / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/bin/bash", "/app/docker/entrypoint.sh", "grpc"], "grpc"),
        (["/opt/venv/bin/python", "/opt/venv/bin/granian", "--interface", "wsgi", "app:create_app"], "rest"),
        (["/opt/venv/bin/python", "/opt/venv/bin/gunicorn", "app:create_app()", "--bind", "0.0.0.0:5000"], "rest"),
        (["python", "grpc_server.py"], "grpc"),
        (["/opt/venv/bin/python", "/opt/venv/bin/streamlit", "run", "dashboard.py"], "dashboard"),
        (["/opt/venv/bin/python", "/opt/venv/bin/mlflow", "server", "--gunicorn-opts", "x"], "mlflow"),
        (["/sbin/init"], None),
    ],
)
def test_healthcheck_finds_the_role_from_pid1(argv: list[str], role: str | None) -> None:
    assert healthcheck_module().role_from_cmdline(argv) == role


class _HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # pylint: disable=redefined-builtin
        del format, args


@pytest.fixture(name="http_port")
def fixture_http_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthcheck_probes_the_role_path(http_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    healthcheck = healthcheck_module()
    monkeypatch.setenv("MLSERVICE_REST_PORT", str(http_port))
    monkeypatch.setenv("MLSERVICE_DASHBOARD_PORT", str(http_port))
    assert healthcheck.main(["rest"]) == 0
    assert healthcheck.main(["dashboard"]) == 1  # /_stcore/health answers 404 here
    assert healthcheck.main(["no-such-role"]) == 2


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_healthcheck_runs_as_docker_runs_it(http_port: int) -> None:
    env = {**os.environ, "MLSERVICE_MLFLOW_PORT": str(http_port)}
    command = [sys.executable, str(ROOT / "docker" / "healthcheck.py"), "mlflow"]
    assert subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode == 0
    env["MLSERVICE_MLFLOW_PORT"] = "1"  # nothing listens there
    assert subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode == 1


def test_healthcheck_asks_the_grpc_health_service(monkeypatch: pytest.MonkeyPatch) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("MLSERVICE_GRPC_PORT", str(port))
        healthcheck = healthcheck_module()
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # pylint: disable=no-member
        assert healthcheck.main(["grpc"]) == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # pylint: disable=no-member
        assert healthcheck.main(["grpc"]) == 1
    finally:
        server.stop(0)


# --- the scripts: clear failures without Docker / Minikube -------------------------------------


@pytest.fixture(name="sandbox")
def fixture_sandbox(tmp_path: Path) -> Path:
    """A copy of the scripts and .env.example, plus a bin/ with only the basic tools (no docker)."""
    for name in (*SCRIPTS, ".env.example"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "basename", "sed", "tail", "head", "cp", "chmod", "cat", "uname", "sleep", "od",
                 "tr", "grep", "rm", "awk", "mktemp"):  # fmt: skip
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        (bin_dir / name).symlink_to(found)
    return tmp_path


def _run_script(sandbox: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(sandbox / "bin"), "HOME": str(sandbox), "WAIT_SECONDS": "0"}
    return subprocess.run(
        [str(sandbox / "bin" / "bash"), str(sandbox / script), *args],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
@pytest.mark.parametrize("script", SCRIPTS)
def test_script_explains_missing_docker(sandbox: Path, script: str) -> None:
    result = _run_script(sandbox, script)
    assert result.returncode != 0
    assert "docker is not installed" in result.stderr


FAKE_DOCKER = """#!/usr/bin/env bash
# Stands in for the docker CLI: compose and the daemon answer, every container reports $FAKE_HEALTH.
echo "docker $*" >> "$(dirname "$0")/../docker.log"
case "$1 $2" in
  "compose ps") echo container-id ;;
  "inspect --format") case "$3" in *Health*) echo "{health}" ;; *) echo running ;; esac ;;
esac
exit 0
"""


def _install_fake_docker(sandbox: Path, status: str) -> None:
    fake = sandbox / "bin" / "docker"
    fake.write_text(FAKE_DOCKER.replace("{health}", status), encoding="utf-8")
    fake.chmod(0o755)


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_run_k8s_mode_explains_missing_minikube(sandbox: Path) -> None:
    _install_fake_docker(sandbox, "healthy")
    result = _run_script(sandbox, "run_k8s_mode.sh")
    assert result.returncode != 0
    assert "minikube is not installed" in result.stderr


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_run_docker_mode_creates_env_waits_and_prints_urls(sandbox: Path) -> None:
    _install_fake_docker(sandbox, "healthy")
    result = _run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode == 0, result.stderr
    created = dict(
        line.split("=", 1)
        for line in (sandbox / ".env").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )
    example = env_example()
    generated = {
        "SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "MLSERVICE_API_TOKENS", "MLSERVICE_ADMINS",
    }  # fmt: skip
    assert {k: v for k, v in created.items() if k not in generated} == {
        k: v for k, v in example.items() if k not in generated
    }
    assert all(not example[key] for key in generated), "the example file carries no secret value"
    assert len(created["SECRET_KEY"]) == 64 and len(created["POSTGRES_PASSWORD"]) == 32
    assert created["AWS_ACCESS_KEY_ID"] == created["MINIO_ROOT_USER"] == "mlservice"
    assert (
        created["AWS_SECRET_ACCESS_KEY"] == created["MINIO_ROOT_PASSWORD"] and len(created["MINIO_ROOT_PASSWORD"]) == 32
    )
    name, _, admin_token = created["MLSERVICE_API_TOKENS"].partition("=")
    assert name == "admin" and admin_token.startswith("mls_") and len(admin_token) == 68
    assert created["MLSERVICE_ADMINS"] == "service:admin"
    assert f"REST API token (admin): {admin_token}" in result.stdout
    assert "docker compose up -d --build" in (sandbox / "docker.log").read_text(encoding="utf-8")
    for url in ("http://localhost:8501", "http://localhost:5000/", "http://localhost:5002", "http://localhost:9001"):
        assert url in result.stdout


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_run_docker_mode_gives_up_on_unhealthy_services(sandbox: Path) -> None:
    _install_fake_docker(sandbox, "unhealthy")
    result = _run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode != 0
    assert "not healthy after 0s: postgres(unhealthy)" in result.stderr


@pytest.mark.integration  # runs an external program (a checker, kubectl, a script)
def test_stop_all_rejects_unknown_options(sandbox: Path) -> None:
    result = _run_script(sandbox, "stop_all.sh", "--everything")
    assert result.returncode != 0
    assert "unknown option" in result.stderr
