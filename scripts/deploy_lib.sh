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

# kubectl and minikube pinned to the Minikube profile/context KUBE_CONTEXT, so these scripts never
# touch another cluster (minikube names the kubectl context after the profile).
kube() { kubectl --context "$KUBE_CONTEXT" "$@"; }
mk() { minikube -p "$KUBE_CONTEXT" "$@"; }

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# set_env KEY VALUE: make the last KEY= line of .env say VALUE (appended when KEY is absent).
set_env() {
  local key=$1 value=$2 tmp
  tmp="$(mktemp)"
  awk -v key="$key" -v value="$value" '
    { lines[NR] = $0; if (index($0, key "=") == 1) last = NR }
    END {
      for (i = 1; i <= NR; i++) print (i == last ? key "=" value : lines[i])
      if (!last) print key "=" value
    }' .env >"$tmp"
  cat "$tmp" >.env # keeps the file's mode (600)
  rm -f "$tmp"
}

# ensure_env_file: .env from .env.example when missing; then, in a new or an existing .env (e.g. one
# made by `cp .env.example .env`), fill an empty SECRET_KEY and DASHBOARD_API_TOKEN with random values
# and make sure MLSERVICE_API_TOKENS holds the dashboard's token. Values already set are kept.
ensure_env_file() {
  local filled=() dashboard_token tokens
  if [ ! -f .env ]; then
    cp .env.example .env
    chmod 600 .env
    note "created .env from .env.example (change the passwords before sharing the stack)"
  fi
  if [ -z "$(env_value SECRET_KEY)" ]; then
    set_env SECRET_KEY "$(random_hex)"
    filled+=(SECRET_KEY)
  fi
  dashboard_token="$(env_value DASHBOARD_API_TOKEN)"
  if [ -z "$dashboard_token" ]; then
    dashboard_token="mls_$(random_hex)"
    set_env DASHBOARD_API_TOKEN "$dashboard_token"
    filled+=(DASHBOARD_API_TOKEN)
  fi
  tokens="$(env_value MLSERVICE_API_TOKENS)"
  case ",${tokens}," in
    *",${dashboard_token},"* | *"=${dashboard_token},"*) ;;
    *)
      set_env MLSERVICE_API_TOKENS "${tokens:+${tokens},}dashboard=${dashboard_token}"
      filled+=(MLSERVICE_API_TOKENS)
      ;;
  esac
  if [ ${#filled[@]} -gt 0 ]; then
    note "filled ${filled[*]} in .env with random values"
  fi
}

# setting KEY [DEFAULT]: what Docker Compose uses for KEY: the shell's value when set, else .env's.
setting() {
  local key="$1" default="${2:-}"
  if [ -n "${!key:-}" ]; then
    printf '%s\n' "${!key}"
  else
    env_value "$key" "$default"
  fi
}

# api_tokens_table: the REST tokens .env holds, one "name token" per line (a bare token is 'service').
api_tokens_table() {
  local entry
  local -a entries
  IFS=',' read -r -a entries <<<"$(env_value MLSERVICE_API_TOKENS)"
  for entry in "${entries[@]}"; do
    entry="${entry// /}"
    [ -n "$entry" ] || continue
    case "$entry" in
      *=*) printf '%s %s\n' "${entry%%=*}" "${entry#*=}" ;;
      *) printf 'service %s\n' "$entry" ;;
    esac
  done
}

# push_sample_dataset: the repository's sample dataset into the DVC remote (MinIO), from the image's
# `dvc` target: nothing but Docker is needed on the host. Extra arguments go to `docker compose`.
push_sample_dataset() {
  note "pushing the sample dataset to the DVC remote (docker compose run --rm dvc-push)"
  docker compose "$@" run --rm --build dvc-push ||
    die "pushing the sample dataset failed. See the output above; re-run with 'docker compose run --rm --build dvc-push'."
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
