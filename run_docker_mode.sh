#!/usr/bin/env bash
# Whole stack in Docker Compose: PostgreSQL, MinIO (+ buckets), MLflow, REST, gRPC and dashboard.
#   ./run_docker_mode.sh        (make docker-up)      stop with ./stop_all.sh (make docker-down)
# Creates .env from .env.example when missing, builds the image, starts everything, waits until
# every service is healthy (WAIT_SECONDS, default 180), points DVC at MinIO and prints the URLs.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/deploy_lib.sh
. scripts/deploy_lib.sh

require_docker
ensure_env_file

note "building the image and starting the stack"
docker compose up -d --build
wait_healthy "${WAIT_SECONDS:-180}" postgres minio mlflow rest grpc dashboard

if [ -x ./init_dvc.sh ]; then
  note "configuring the DVC remote in MinIO (init_dvc.sh)"
  DVC_REMOTE_URL="$(env_value DVC_REMOTE_URL s3://dvc)" \
    DVC_S3_ENDPOINT_URL="$(env_value DVC_S3_ENDPOINT_URL http://localhost:9000)" \
    AWS_ACCESS_KEY_ID="$(env_value AWS_ACCESS_KEY_ID)" \
    AWS_SECRET_ACCESS_KEY="$(env_value AWS_SECRET_ACCESS_KEY)" \
    AWS_DEFAULT_REGION="$(env_value AWS_DEFAULT_REGION us-east-1)" \
    ./init_dvc.sh
else
  note "init_dvc.sh not found (or not executable): skipped the DVC remote setup"
fi

cat <<TABLE

mlservice is up (Docker Compose)
  Dashboard        http://localhost:8501
  REST + Swagger   http://localhost:5000/
  gRPC             localhost:50051
  MLflow UI        http://localhost:5002
  MinIO console    http://localhost:9001   (login: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from .env)

Logs: docker compose logs -f [service]     Stop: ./stop_all.sh  (--purge also deletes the volumes)
TABLE
