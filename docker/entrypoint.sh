#!/usr/bin/env bash
# One entrypoint for every role of the mlservice image; `make run` and the tests run it natively too.
#   entrypoint.sh rest | grpc | dashboard | mlflow | worker [extra args passed to the server]
# Configuration comes from the environment (see .env.example); defaults are the embedded mode's.
set -euo pipefail

role="${1:-}"
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
# Inside the image the venv is on PATH; natively, prefer the project's .venv when it exists.
if [ -x .venv/bin/python ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  PATH="$PWD/.venv/bin:$PATH"
fi

host="${MLSERVICE_HOST:-127.0.0.1}"
case "$role" in
  rest)
    # granian's WSGI server (chosen over gunicorn gthread by measurement: docs/PERFORMANCE.md): worker
    # processes x blocking threads; on SIGTERM running requests finish (up to MLSERVICE_REST_TIMEOUT s).
    port="${MLSERVICE_REST_PORT:-5000}"
    # Prometheus multiprocess mode: the workers' metric files, in a folder of this server's own,
    # emptied at start (each new worker also drops the files of workers that died).
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/mlservice-metrics-rest-${port}}"
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    access_log=()
    if [ "${MLSERVICE_REST_ACCESS_LOG:-false}" = "true" ]; then access_log=(--access-log); fi
    exec granian --interface wsgi --factory "app:create_app" \
      --host "$host" --port "$port" \
      --workers "${MLSERVICE_REST_WORKERS:-2}" --blocking-threads "${MLSERVICE_REST_THREADS:-4}" \
      --no-ws --respawn-failed-workers --workers-kill-timeout "${MLSERVICE_REST_TIMEOUT:-300}" \
      "${access_log[@]}" "$@"
    ;;
  grpc)
    exec python grpc_server.py "$@"
    ;;
  worker)
    # The training-job queue (no port): API processes with MLSERVICE_JOB_WORKERS=0 only queue jobs.
    exec python worker.py "$@"
    ;;
  dashboard)
    exec streamlit run dashboard.py \
      --server.headless true --server.address "$host" --server.port "${MLSERVICE_DASHBOARD_PORT:-8501}" \
      --browser.gatherUsageStats false "$@"
    ;;
  mlflow)
    # Metadata in PostgreSQL (postgresql+psycopg2://...) or SQLite; artifacts proxied by this server,
    # so clients need no S3 credentials (mlflow-artifacts:/ URIs).
    : "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (e.g. postgresql+psycopg2://user:pw@host:5432/mlflow)}"
    : "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (e.g. s3://mlflow)}"
    export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
    exec mlflow server \
      --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
      --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
      --host "$host" --port "${MLSERVICE_MLFLOW_PORT:-5002}" \
      --workers "${MLFLOW_WORKERS:-1}" "$@"
    ;;
  *)
    echo "usage: $0 rest|grpc|dashboard|mlflow|worker [args...]" >&2
    exit 64
    ;;
esac
