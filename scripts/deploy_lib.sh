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

random_hex() { od -An -N"${1:-32}" -tx1 /dev/urandom | tr -d " \n"; }

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

# placeholder_value VALUE: whether VALUE is a well-known example secret (the app refuses them too).
placeholder_value() {
  case "$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" in
    change-me* | changeme* | change_me* | replace-me* | your-* | changeit | secret | password | minioadmin) return 0 ;;
    *) return 1 ;;
  esac
}

# fill_empty KEY VALUE: set KEY to VALUE in .env when it is empty there, and add KEY to the caller's `filled`.
fill_empty() {
  if [ -z "$(env_value "$1")" ]; then
    set_env "$1" "$2"
    filled+=("$1")
  fi
}

# ensure_env_file: .env from .env.example when missing; then, in a new or an existing .env (e.g. one
# made by `cp .env.example .env`), generate every secret left empty: SECRET_KEY, the PostgreSQL and
# MinIO passwords (the S3 keys follow MinIO's root account), and an administrator's REST/gRPC token
# (`admin=` in MLSERVICE_API_TOKENS, `service:admin` in MLSERVICE_ADMINS). Values already set are
# kept; a placeholder ("change-me", "minioadmin") stops the script: the services would refuse it.
ensure_env_file() {
  local filled=() key value tokens admins # fill_empty appends to filled (bash locals are dynamically scoped)
  if [ ! -f .env ]; then
    cp .env.example .env
    chmod 600 .env
    note "created .env from .env.example"
  fi
  for key in SECRET_KEY POSTGRES_PASSWORD MINIO_ROOT_USER MINIO_ROOT_PASSWORD AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
    value="$(env_value "$key")"
    if [ -n "$value" ] && placeholder_value "$value"; then
      die "$key in .env is the example value '$value', which anyone can read: empty it to have one generated (the bundled PostgreSQL and MinIO keep the credentials they were first started with: './stop_all.sh --purge' first, which deletes their data) or set your own."
    fi
  done
  fill_empty SECRET_KEY "$(random_hex)"
  fill_empty POSTGRES_PASSWORD "$(random_hex 16)"
  fill_empty MINIO_ROOT_USER mlservice
  fill_empty MINIO_ROOT_PASSWORD "$(random_hex 16)"
  fill_empty AWS_ACCESS_KEY_ID "$(env_value MINIO_ROOT_USER)"
  fill_empty AWS_SECRET_ACCESS_KEY "$(env_value MINIO_ROOT_PASSWORD)"
  tokens="$(env_value MLSERVICE_API_TOKENS)"
  case ",${tokens// /}," in
    *",admin="*) ;;
    *)
      set_env MLSERVICE_API_TOKENS "${tokens:+${tokens},}admin=mls_$(random_hex)"
      filled+=(MLSERVICE_API_TOKENS)
      ;;
  esac
  admins="$(env_value MLSERVICE_ADMINS)"
  case ",${admins// /}," in
    *",service:admin,"*) ;;
    *)
      set_env MLSERVICE_ADMINS "${admins:+${admins},}service:admin"
      filled+=(MLSERVICE_ADMINS)
      ;;
  esac
  if [ ${#filled[@]} -gt 0 ]; then
    note "generated ${filled[*]} in .env"
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
