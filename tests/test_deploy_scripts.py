"""The deployment scripts run against recording stand-ins for docker, minikube and kubectl.

No engine or cluster: each stand-in is a small executable on PATH that appends its argv (and stdin,
and the environment variables the scripts hand Compose) to ``calls.jsonl`` and answers what the
scripts ask (healthy containers, a node IP, ...). ``kubectl kustomize`` is the real one, so what
``run_k8s_mode.sh`` would have applied is the real rendering of k8s/ plus its overlay. The tests then
check what the scripts would have done: the Secret, the NodePorts, the context on every call, the
image load, the DVC push from a container, the .env they leave and the token they print. Also here:
``make build-push``'s tags and login check, and the .gitattributes that keeps scripts LF.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration  # runs the deploy scripts, git and kubectl against recording stand-ins

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "ctx-under-test"
NODE_IP = "192.168.58.2"
BASIC_TOOLS = ("bash", "dirname", "basename", "sed", "tail", "head", "cp", "chmod", "cat", "uname", "sleep", "od",
               "tr", "grep", "rm", "awk", "mktemp", "env")  # fmt: skip

# One stand-in for the three tools: records the call, then answers like the real tool would here.
FAKE_TOOL = """#!{python}
import json, os, subprocess, sys
tool, argv = os.path.basename(sys.argv[0]), sys.argv[1:]
record = {{"tool": tool, "argv": argv,
          "env": {{k: os.environ[k] for k in ("MLSERVICE_PUBLISH_HOST", "MLSERVICE_IMAGE_TAG") if k in os.environ}}}}
words = [a for a in argv if not a.startswith("-")]
if tool == "kubectl" and "kustomize" in argv:
    real = subprocess.run([{kubectl!r}, "kustomize", argv[-1]], capture_output=True, text=True)
    sys.stdout.write(real.stdout); sys.stderr.write(real.stderr)
    record["exit"] = real.returncode
elif tool == "kubectl" and argv[-2:] == ["-f", "-"]:
    record["stdin"] = sys.stdin.read()
elif tool == "kubectl" and "/readyz" in argv:
    print("ok")
elif tool == "minikube" and words[-1:] == ["ip"]:
    print({node_ip!r})
elif tool == "docker" and argv[:1] == ["compose"] and "ps" in argv:
    print("container-id")
elif tool == "docker" and argv[:2] == ["inspect", "--format"]:
    print("healthy" if "Health" in argv[2] else "running")
with open(os.path.join(os.path.dirname(sys.argv[0]), "..", "calls.jsonl"), "a") as log:
    log.write(json.dumps(record) + "\\n")
sys.exit(record.get("exit", 0))
"""


def _tools(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(exist_ok=True)
    for name in names:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        (directory / name).symlink_to(found)


def _install_fakes(bin_dir: Path, *tools: str) -> None:
    kubectl = shutil.which("kubectl") or "kubectl"
    for tool in tools:
        fake = bin_dir / tool
        fake.write_text(FAKE_TOOL.format(python=sys.executable, kubectl=kubectl, node_ip=NODE_IP), encoding="utf-8")
        fake.chmod(0o755)


@pytest.fixture(name="sandbox")
def fixture_sandbox(tmp_path: Path) -> Path:
    """A copy of the scripts, .env.example, the Compose files and k8s/; bin/ holds basic tools only."""
    for name in ("run_docker_mode.sh", "run_k8s_mode.sh", "stop_all.sh", "init_dvc.sh", ".env.example",
                 "docker-compose.yaml", "docker-compose.k8s.yaml"):  # fmt: skip
        shutil.copy2(ROOT / name, tmp_path / name)
    for folder in ("scripts", "k8s"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    _tools(tmp_path / "bin", BASIC_TOOLS)
    return tmp_path


def run_script(sandbox: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": str(sandbox / "bin"), "HOME": str(sandbox), "WAIT_SECONDS": "5", **env}
    return subprocess.run(
        [str(sandbox / "bin" / "bash"), str(sandbox / script), *args],
        cwd=sandbox, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def calls(sandbox: Path, tool: str | None = None) -> list[dict]:
    path = sandbox / "calls.jsonl"
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    return [entry for entry in entries if tool is None or entry["tool"] == tool]


def read_env(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )


def write_env(sandbox: Path, **values: str) -> None:
    """.env as `cp .env.example .env` makes it, with some values changed."""
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if "=" in line and not line.startswith("#") and key in values else line)
    (sandbox / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")


def secret_template_keys() -> set[str]:
    documents = yaml.safe_load_all((ROOT / "k8s" / "secret.yaml").read_text(encoding="utf-8"))
    return set(next(doc for doc in documents if doc)["stringData"])


# --- run_k8s_mode.sh / stop_all.sh against minikube, kubectl and docker stand-ins ------------------

K8S_ENV = {
    "POSTGRES_PASSWORD": "pg-pass-from-env",
    "AWS_ACCESS_KEY_ID": "key-id-from-env",
    "AWS_SECRET_ACCESS_KEY": "secret-from-env",
    "GITHUB_CLIENT_SECRET": "github-secret-from-env",
    "GRPC_AUTH_TOKEN": "grpc-token-from-env",
}


@pytest.fixture(name="k8s_run")
def fixture_k8s_run(sandbox: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (the stand-in renders k8s/ with the real `kubectl kustomize`)")
    _install_fakes(sandbox / "bin", "docker", "minikube", "kubectl")
    write_env(sandbox, **K8S_ENV)
    result = run_script(sandbox, "run_k8s_mode.sh", KUBE_CONTEXT=CONTEXT)
    assert result.returncode == 0, result.stdout + result.stderr
    return sandbox, result


def applied_objects(sandbox: Path) -> dict[tuple[str, str], dict]:
    applies = [call for call in calls(sandbox, "kubectl") if "stdin" in call]
    assert len(applies) == 1, "run_k8s_mode.sh should apply one rendering of k8s/ and its overlay"
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(applies[0]["stdin"]) if doc}


def test_k8s_secret_gets_every_key_from_env(k8s_run):
    sandbox, _ = k8s_run
    secret = applied_objects(sandbox)[("Secret", "mlservice-secrets")]
    values = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    assert set(values) == secret_template_keys()
    env = read_env(sandbox / ".env")
    for key, value in values.items():
        assert "change-me" not in value, f"{key} kept the template's placeholder"
        if key != "MLSERVICE_DATABASE_URL":
            assert value == env[key], key
    assert values["MLSERVICE_DATABASE_URL"] == (
        "postgresql+psycopg2://mlflow:pg-pass-from-env@host.minikube.internal:5432/mlflow"
    )
    assert values["MLSERVICE_API_TOKENS"].startswith("admin=mls_")  # generated, and the administrator's
    config = applied_objects(sandbox)[("ConfigMap", "mlservice-config")]["data"]
    assert config["MLSERVICE_ADMINS"] == "service:admin"


def test_k8s_services_use_pinned_node_ports_and_the_dashboard_links_follow(k8s_run):
    sandbox, result = k8s_run
    objects = applied_objects(sandbox)
    node_ports = {
        name: [port["nodePort"] for port in obj["spec"]["ports"]]
        for (kind, name), obj in objects.items()
        if kind == "Service"
    }
    assert node_ports == {"mlservice-rest": [30500], "mlservice-grpc": [30051], "mlservice-dashboard": [30501]}
    config = objects[("ConfigMap", "mlservice-config")]["data"]
    assert config["API_PUBLIC_URL"] == f"http://{NODE_IP}:30500"
    assert config["DASHBOARD_URL"] == f"http://{NODE_IP}:30501"
    assert config["MLSERVICE_JOB_WORKERS"] == "0"  # the API pods only queue; mlservice-worker runs jobs
    assert f"http://{NODE_IP}:30501" in result.stdout and f"{NODE_IP}:30051" in result.stdout


def test_k8s_every_kubectl_and_minikube_call_names_the_context(k8s_run):
    sandbox, _ = k8s_run
    kubectl, minikube = calls(sandbox, "kubectl"), calls(sandbox, "minikube")
    assert kubectl and minikube
    for call in kubectl:
        assert call["argv"][:2] == ["--context", CONTEXT], call["argv"]
    for call in minikube:
        assert call["argv"][:2] == ["-p", CONTEXT], call["argv"]
    assert ["-p", CONTEXT, "image", "load", "mlservice:dev"] in [call["argv"] for call in minikube]
    deployments = {name for kind, name in applied_objects(sandbox) if kind == "Deployment"}
    assert "mlservice-worker" in deployments
    restarted = {call["argv"][-1] for call in kubectl if "restart" in call["argv"]}
    assert restarted == {f"deployment/{name}" for name in deployments}


def test_k8s_mode_publishes_postgres_for_the_pods_and_pushes_the_dvc_sample(k8s_run):
    sandbox, _ = k8s_run
    compose = [call for call in calls(sandbox, "docker") if call["argv"][:1] == ["compose"]]
    up = next(call for call in compose if "up" in call["argv"])
    assert up["argv"][1:5] == ["-f", "docker-compose.yaml", "-f", "docker-compose.k8s.yaml"]
    assert up["env"]["MLSERVICE_PUBLISH_HOST"] == "0.0.0.0"
    pushes = [call for call in compose if call["argv"][-4:] == ["run", "--rm", "--build", "dvc-push"]]
    assert len(pushes) == 1 and pushes[0]["env"]["MLSERVICE_IMAGE_TAG"] == "dev"
    assert ["build", "-t", "mlservice:dev", "."] in [call["argv"] for call in calls(sandbox, "docker")]


def test_k8s_publish_host_can_be_narrowed(sandbox):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    _install_fakes(sandbox / "bin", "docker", "minikube", "kubectl")
    result = run_script(sandbox, "run_k8s_mode.sh", KUBE_CONTEXT=CONTEXT, MLSERVICE_K8S_PUBLISH_HOST="192.168.49.1")
    assert result.returncode == 0, result.stderr
    up = next(call for call in calls(sandbox, "docker") if call["argv"][:1] == ["compose"] and "up" in call["argv"])
    assert up["env"]["MLSERVICE_PUBLISH_HOST"] == "192.168.49.1"


@pytest.mark.parametrize("purge", [False, True])
def test_stop_all_honours_the_context(sandbox, purge):
    _install_fakes(sandbox / "bin", "docker", "minikube", "kubectl")
    result = run_script(sandbox, "stop_all.sh", *(["--purge"] if purge else []), KUBE_CONTEXT=CONTEXT)
    assert result.returncode == 0, result.stderr
    kubectl = [call["argv"] for call in calls(sandbox, "kubectl")]
    assert ["--context", CONTEXT, "delete", "-k", "k8s", "--ignore-not-found", "--wait=true"] in kubectl
    assert all(argv[:2] == ["--context", CONTEXT] for argv in kubectl)
    minikube = [call["argv"] for call in calls(sandbox, "minikube")]
    assert minikube == ([["-p", CONTEXT, "image", "rm", "mlservice:dev"]] if purge else [])
    down = [call["argv"] for call in calls(sandbox, "docker") if call["argv"][:2] == ["compose", "down"]]
    assert down == [
        ["compose", "down", "--volumes", "--remove-orphans"] if purge else ["compose", "down", "--remove-orphans"]
    ]


# --- run_docker_mode.sh: only Docker on the host, secrets filled, the token printed ----------------


def test_docker_mode_needs_no_python_or_dvc_on_the_host(sandbox):
    """init_dvc.sh on the host needed dvc, boto3, pandas and sklearn: the sample is pushed from a container."""
    _install_fakes(sandbox / "bin", "docker")
    assert not any((sandbox / "bin" / name).exists() for name in ("python", "python3", "dvc"))
    result = run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    compose = [call["argv"] for call in calls(sandbox, "docker") if call["argv"][:1] == ["compose"]]
    assert ["compose", "up", "-d", "--build"] in compose
    assert ["compose", "run", "--rm", "--build", "dvc-push"] in compose
    services = next(argv for argv in compose if argv[1] == "ps")  # the health wait asks for every service
    assert services
    waited = {argv[-1] for argv in compose if argv[1] == "ps"}
    assert waited == {"postgres", "minio", "mlflow", "rest", "grpc", "dashboard", "worker"}


def test_docker_mode_fills_a_copied_env_and_prints_the_rest_token(sandbox):
    _install_fakes(sandbox / "bin", "docker")
    shutil.copy2(sandbox / ".env.example", sandbox / ".env")  # what a user following the docs does
    result = run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode == 0, result.stderr
    env = read_env(sandbox / ".env")
    token = env["MLSERVICE_API_TOKENS"].removeprefix("admin=")
    assert token.startswith("mls_") and len(env["SECRET_KEY"]) == 64 and env["MLSERVICE_ADMINS"] == "service:admin"
    for key in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        assert len(env[key]) == 32, key
    assert "DASHBOARD_API_TOKEN" not in env  # the dashboard has no token of its own
    assert f"REST API token (admin): {token}" in result.stdout
    assert "GRPC_AUTH_TOKEN is empty" in result.stdout
    # A second start changes nothing.
    before = (sandbox / ".env").read_text(encoding="utf-8")
    assert run_script(sandbox, "run_docker_mode.sh").returncode == 0
    assert (sandbox / ".env").read_text(encoding="utf-8") == before


def test_docker_mode_keeps_existing_tokens_and_adds_the_administrators(sandbox):
    _install_fakes(sandbox / "bin", "docker")
    write_env(sandbox, MLSERVICE_API_TOKENS="ci=ci-token", SECRET_KEY="kept-secret", GRPC_AUTH_TOKEN="grpc-t",
              MLSERVICE_ADMINS="github:42")  # fmt: skip
    result = run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode == 0, result.stderr
    env = read_env(sandbox / ".env")
    assert env["SECRET_KEY"] == "kept-secret"
    ci, admin = env["MLSERVICE_API_TOKENS"].split(",")
    assert ci == "ci=ci-token" and admin.startswith("admin=mls_")
    assert env["MLSERVICE_ADMINS"] == "github:42,service:admin"
    assert "REST API token (ci): ci-token" in result.stdout
    assert f"REST API token (admin): {admin.removeprefix('admin=')}" in result.stdout
    assert "gRPC token" in result.stdout and "grpc-t" in result.stdout


@pytest.mark.parametrize(
    ("key", "value"), [("POSTGRES_PASSWORD", "change-me-local-only"), ("MINIO_ROOT_PASSWORD", "minioadmin")]
)
def test_docker_mode_refuses_an_env_with_example_secrets(sandbox, key, value):
    """An .env from an older example (minioadmin, change-me) stops the script before anything starts."""
    _install_fakes(sandbox / "bin", "docker")
    write_env(sandbox, **{key: value})
    result = run_script(sandbox, "run_docker_mode.sh")
    assert result.returncode != 0
    assert f"{key} in .env is the example value" in result.stderr
    assert not [call for call in calls(sandbox, "docker") if call["argv"][:2] == ["compose", "up"]]


def test_docker_mode_prints_the_overridden_ports(sandbox):
    _install_fakes(sandbox / "bin", "docker")
    write_env(sandbox, MLSERVICE_REST_PUBLISHED_PORT="5050")
    result = run_script(sandbox, "run_docker_mode.sh", MLSERVICE_GRPC_PUBLISHED_PORT="50055")
    assert result.returncode == 0, result.stderr
    assert "http://localhost:5050/" in result.stdout and "localhost:50055" in result.stdout


# --- make build-push ------------------------------------------------------------------------------


@pytest.fixture(name="repo")
def fixture_repo(tmp_path: Path) -> Path:
    """A git repository holding scripts/build_push.sh, a fake docker, and a Docker config without logins."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "build_push.sh", repo / "scripts" / "build_push.sh")
    (repo / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    _tools(tmp_path / "bin", (*BASIC_TOOLS, "git"))
    _install_fakes(tmp_path / "bin", "docker")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    (tmp_path / "docker-config").mkdir()
    return repo


def build_push(repo: Path, image: str = "me/mlservice", logins: tuple[str, ...] = ("https://index.docker.io/v1/",)):
    config = repo.parent / "docker-config"
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": "eDp5"} for host in logins}}))
    env = {"PATH": str(repo.parent / "bin"), "HOME": str(repo.parent), "DOCKER_CONFIG": str(config)}
    return subprocess.run(
        ["bash", "scripts/build_push.sh", image],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def docker_argv(repo: Path) -> list[list[str]]:
    return [call["argv"] for call in calls(repo.parent, "docker")]


def short_sha(repo: Path) -> str:
    command = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def test_build_push_tags_a_clean_tree_with_its_sha_and_latest(repo):
    sha = short_sha(repo)
    result = build_push(repo)
    assert result.returncode == 0, result.stderr
    assert ["build", "-t", f"me/mlservice:{sha}", "-t", "me/mlservice:latest", "."] in docker_argv(repo)
    assert [argv for argv in docker_argv(repo) if argv[0] == "push"] == [
        ["push", f"me/mlservice:{sha}"], ["push", "me/mlservice:latest"],
    ]  # fmt: skip


def test_build_push_tags_a_dirty_tree_sha_dirty_and_leaves_latest_alone(repo):
    sha = short_sha(repo)
    (repo / "Dockerfile").write_text("FROM scratch\nLABEL changed=1\n", encoding="utf-8")
    result = build_push(repo)
    assert result.returncode == 0, result.stderr
    pushed = [argv[1] for argv in docker_argv(repo) if argv[0] == "push"]
    assert pushed == [f"me/mlservice:{sha}-dirty"]


@pytest.mark.parametrize(
    ("image", "logins"), [("me/mlservice", ()), ("ghcr.io/me/mlservice", ("https://index.docker.io/v1/",))]
)
def test_build_push_refuses_without_a_login_for_the_registry(repo, image, logins):
    result = build_push(repo, image, logins)
    assert result.returncode != 0
    assert "docker login" in result.stderr
    assert not [argv for argv in docker_argv(repo) if argv[0] in ("build", "push")]


def test_build_push_accepts_a_login_for_another_registry(repo):
    result = build_push(repo, "ghcr.io/me/mlservice", ("ghcr.io",))
    assert result.returncode == 0, result.stderr


# --- .gitattributes: scripts stay LF on every checkout ----------------------------------------------


def tracked(pattern: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.split()


def test_gitattributes_force_lf_on_scripts_and_configs():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = ["docker/entrypoint.sh", "run_docker_mode.sh", "docker/healthcheck.py", "docker-compose.yaml",
             "k8s/rest.yaml", ".env.example", "Dockerfile", "docker/standins/minio/minio"]  # fmt: skip
    result = subprocess.run(
        ["git", "check-attr", "eol", "--", *files], cwd=ROOT, capture_output=True, text=True, check=True
    )
    eol = dict(re.findall(r"^(.+): eol: (\S+)$", result.stdout, re.M))
    assert eol == dict.fromkeys(files, "lf"), result.stdout
    # and a CRLF checkout (core.autocrlf=true, as on Windows) still gets LF scripts
    result = subprocess.run(
        ["git", "-c", "core.autocrlf=true", "check-attr", "eol", "--", "docker/entrypoint.sh"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip().endswith("eol: lf")


def test_tracked_scripts_have_no_carriage_returns():
    for name in tracked("*.sh"):
        assert b"\r" not in (ROOT / name).read_bytes(), name


# --- dependencies: what the services import is declared; what only tools use is not shipped ---------

SERVICE_MODULES_EXCLUDED = {"grpc_client_test.py", "app_pb2.py", "app_pb2_grpc.py"}


def service_sources() -> list[Path]:
    """The Python files the image runs: the top-level entry points and the mlservice package (not devstack)."""
    top = [path for path in ROOT.glob("*.py") if path.name not in SERVICE_MODULES_EXCLUDED]
    package = [path for path in (ROOT / "mlservice").rglob("*.py") if "devstack" not in path.parts]
    return [path for path in top + package if not path.name.startswith("test_")]


def third_party_imports() -> set[str]:
    local = {path.stem for path in ROOT.glob("*.py")} | {"mlservice"}
    found = set()
    for path in service_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names:
                    found.add(top)
    return found


def declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    entries = project["project"]["dependencies"] if group is None else project["dependency-groups"][group]
    return {normalized(re.split(r"[<>=!~\[ ;]", entry, maxsplit=1)[0]) for entry in entries if isinstance(entry, str)}


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (prometheus_client == prometheus-client)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_module_the_services_import_is_a_declared_dependency():
    distributions = packages_distributions()
    main = declared()
    missing = {
        module: distributions.get(module, [module])
        for module in third_party_imports()
        if not {normalized(name) for name in distributions.get(module, [module])} & main
    }
    assert not missing, f"imported by the service but not in [project].dependencies: {missing}"


def test_dvc_is_a_tool_not_a_runtime_dependency():
    assert not {"dvc", "dvc-s3"} & declared(), "no service process imports dvc: keep it out of the runtime image"
    assert {"dvc", "dvc-s3"} <= declared("dvc")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert {"include-group": "dvc"} in project["dependency-groups"]["dev"]
    assert "dvc" not in third_party_imports()
