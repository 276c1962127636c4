# shellcheck shell=bash
# Helpers shared by run_docker_mode.sh, run_k8s_mode.sh and stop_all.sh; sourced, not executed.
# The caller has already done `set -euo pipefail` and cd'ed to the repository root.

DEPLOY_NAME="$(basename "$0" .sh)"
KUBE_CONTEXT="${KUBE_CONTEXT:-minikube}"
# shellcheck disable=SC2034  # read by the scripts that source this file
K8S_NAMESPACE=mlservice

note() { printf '%s: %s\n' "$DEPLOY_NAME" "$*"; }
warn() { printf '%s: warning: %s\n' "$DEPLOY_NAME" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$DEPLOY_NAME" "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Docker CLI, the Compose v2 plugin and a reachable daemon, or a message saying which is missing.
require_docker() {
  have docker || die "docker is not installed. Install Docker Engine (Linux) or Docker Desktop: https://docs.docker.com/get-docker/"
  docker compose version >/dev/null 2>&1 ||
    die "Docker Compose v2 ('docker compose') is not available. Install the compose plugin: https://docs.docker.com/compose/install/"
  docker info >/dev/null 2>&1 ||
    die "the Docker daemon is not reachable. Start Docker, or check that your user may use it (docker info)."
}

require_kubernetes_tools() {
  have minikube || die "minikube is not installed: https://minikube.sigs.k8s.io/docs/start/"
  have kubectl || die "kubectl is not installed: https://kubernetes.io/docs/tasks/tools/ (or use 'minikube kubectl --')"
}

# kubectl pinned to the Minikube context, so these scripts never touch another cluster.
kube() { kubectl --context "$KUBE_CONTEXT" "$@"; }

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# set_env_if_empty KEY VALUE: fill KEY= in .env when it is empty.
set_env_if_empty() {
  local key=$1 value=$2
  if grep -q "^${key}=$" .env; then
    sed -i.bak "s|^${key}=$|${key}=${value}|" .env && rm -f .env.bak
  fi
}

ensure_env_file() {
  if [ ! -f .env ]; then
    cp .env.example .env
    chmod 600 .env
    local dashboard_token
    dashboard_token="mls_$(random_hex)"
    set_env_if_empty SECRET_KEY "$(random_hex)"
    set_env_if_empty MLSERVICE_API_TOKENS "dashboard=${dashboard_token}"
    set_env_if_empty DASHBOARD_API_TOKEN "${dashboard_token}"
    note "created .env from .env.example with a random SECRET_KEY and dashboard token" \
         "(change the passwords before sharing the stack)"
  fi
}

# env_value KEY [DEFAULT]: the value of KEY in .env (last assignment wins, surrounding quotes
# removed), or DEFAULT when it is absent or empty. .env is parsed, never sourced.
env_value() {
  local key="$1" default="${2:-}" value=""
  if [ -f .env ]; then
    value="$(sed -n "s/^[[:space:]]*${key}=//p" .env | tail -n 1)"
    value="${value%\"}"
    value="${value#\"}"
    value="${value%\'}"
    value="${value#\'}"
  fi
  printf '%s\n' "${value:-$default}"
}

# wait_healthy SECONDS SERVICE...: until every Compose service's container reports healthy.
# Fails early when a container exits, and shows its last log lines.
wait_healthy() {
  local timeout="$1" deadline service container state health pending
  shift
  deadline=$((SECONDS + timeout))
  note "waiting up to ${timeout}s for: $*"
  while :; do
    pending=()
    for service in "$@"; do
      container="$(docker compose ps --all --quiet "$service" 2>/dev/null | head -n 1)"
      if [ -z "$container" ]; then
        pending+=("$service(not created)")
        continue
      fi
      state="$(docker inspect --format '{{.State.Status}}' "$container")"
      health="$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$container")"
      if [ "$state" = exited ] || [ "$state" = dead ]; then
        docker compose logs --tail 40 "$service" >&2 || true
        die "service '$service' stopped ($state). Its last log lines are above; see 'docker compose logs $service'."
      fi
      [ "$health" = healthy ] || pending+=("$service($health)")
    done
    [ ${#pending[@]} -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      docker compose ps >&2 || true
      die "not healthy after ${timeout}s: ${pending[*]}. Inspect with 'docker compose logs <service>'."
    fi
    sleep 3
  done
  note "healthy: $*"
}
