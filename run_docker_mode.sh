#!/usr/bin/env bash
# Whole stack in Docker Compose: PostgreSQL, MinIO (+ buckets), MLflow, REST, gRPC, dashboard and the
# training worker.
#   ./run_docker_mode.sh        (make docker-up)      stop with ./stop_all.sh (make docker-down)
# Needs only Docker with Compose v2 on the host. Creates .env from .env.example when missing (and fills
# an empty SECRET_KEY / dashboard token), builds the image, starts everything, waits until every service
# is healthy (WAIT_SECONDS, default 180), pushes the sample dataset to the DVC remote from a container,
# and prints the URLs and the API token to use.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/deploy_lib.sh
. scripts/deploy_lib.sh

require_docker
ensure_env_file

note "building the image and starting the stack"
docker compose up -d --build
wait_healthy "${WAIT_SECONDS:-180}" postgres minio mlflow rest grpc dashboard worker
# shellcheck disable=SC2119  # no extra compose arguments in this mode
push_sample_dataset

host="$(setting MLSERVICE_PUBLISH_HOST 127.0.0.1)"
case "$host" in 0.0.0.0 | 127.0.0.1 | "") host=localhost ;; esac
cat <<TABLE

mlservice is up (Docker Compose, project ${COMPOSE_PROJECT_NAME:-mlservice})
  Dashboard        http://${host}:$(setting MLSERVICE_DASHBOARD_PUBLISHED_PORT 8501)
  REST + Swagger   http://${host}:$(setting MLSERVICE_REST_PUBLISHED_PORT 5000)/
  gRPC             ${host}:$(setting MLSERVICE_GRPC_PUBLISHED_PORT 50051)
  MLflow UI        http://${host}:$(setting MLSERVICE_MLFLOW_PUBLISHED_PORT 5002)
  MinIO console    http://${host}:$(setting MLSERVICE_MINIO_CONSOLE_PUBLISHED_PORT 9001)   (login: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from .env)
TABLE
printf '\nAPI tokens in .env (REST: header "Authorization: Bearer <token>"; also the Swagger page'"'"'s Authorize):\n'
api_tokens_table | while read -r name token; do
  printf '  REST API token (%s): %s\n' "$name" "$token"
done
grpc_token="$(env_value GRPC_AUTH_TOKEN)"
if [ -n "$grpc_token" ]; then
  printf '  gRPC token (metadata "authorization: Bearer <token>"): %s\n' "$grpc_token"
else
  printf '  gRPC: no token configured (GRPC_AUTH_TOKEN is empty in .env)\n'
fi
cat <<'TABLE'

Logs: docker compose logs -f [service]     Stop: ./stop_all.sh  (--purge also deletes the volumes)
TABLE
