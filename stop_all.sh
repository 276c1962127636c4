#!/usr/bin/env bash
# Stops everything run_docker_mode.sh / run_k8s_mode.sh started:
#   ./stop_all.sh            delete the Kubernetes resources (namespace mlservice) and stop Compose
#   ./stop_all.sh --purge    also delete the Compose volumes (PostgreSQL metadata, MinIO objects:
#                            every model and dataset) and the image loaded into Minikube
# Only the Minikube profile / kubectl context KUBE_CONTEXT (default: minikube) is touched.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/deploy_lib.sh
. scripts/deploy_lib.sh

purge=false
case "${1:-}" in
  "") ;;
  --purge) purge=true ;;
  -h | --help)
    sed -n '2,6p' "$0"
    exit 0
    ;;
  *) die "unknown option '$1' (use --purge or --help)" ;;
esac

# Kubernetes first: its pods use the MLflow server that Compose runs.
if ! have kubectl; then
  note "kubectl not installed: no Kubernetes resources to delete"
elif ! kube get --raw /readyz >/dev/null 2>&1; then
  note "the '$KUBE_CONTEXT' cluster is not reachable (minikube stopped?): no Kubernetes resources deleted"
else
  note "deleting k8s/ resources from the '$KUBE_CONTEXT' context"
  kube delete -k k8s --ignore-not-found --wait=true
  if $purge && have minikube; then
    mk image rm mlservice:dev >/dev/null 2>&1 || true
  fi
fi

require_docker
if $purge; then
  note "stopping Docker Compose and deleting its volumes"
  docker compose down --volumes --remove-orphans
else
  note "stopping Docker Compose (volumes kept; --purge deletes them)"
  docker compose down --remove-orphans
fi
note "done"
