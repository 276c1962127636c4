#!/usr/bin/env bash
# Hybrid mode: PostgreSQL, MinIO and MLflow in Docker Compose on this machine; the front ends (rest x2,
# grpc x2, dashboard) in Minikube, reaching MLflow as host.minikube.internal:5002.
#   minikube start && ./run_k8s_mode.sh        (make k8s-up)      stop with ./stop_all.sh
# Needs docker (+ compose), minikube and kubectl. Uses only the kubectl context KUBE_CONTEXT
# (default: minikube), never whatever context happens to be current.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/deploy_lib.sh
. scripts/deploy_lib.sh

IMAGE=mlservice:dev
DEPLOYMENTS=(mlservice-rest mlservice-grpc mlservice-dashboard)
# Keys of .env that go into the Kubernetes Secret (the rest of .env, e.g. database and MinIO root
# passwords, stays out of the cluster: the front ends talk to MLflow only).
SECRET_KEYS=(SECRET_KEY GITHUB_CLIENT_SECRET MLSERVICE_API_TOKENS GRPC_AUTH_TOKEN)

require_docker
require_kubernetes_tools
minikube status >/dev/null 2>&1 ||
  die "minikube is not running. Start it first, e.g. 'minikube start --cpus 2 --memory 4g', then re-run."
kube get --raw /readyz >/dev/null 2>&1 ||
  die "kubectl cannot reach the '$KUBE_CONTEXT' context. Check 'minikube status' and 'kubectl config get-contexts' (or set KUBE_CONTEXT)."
ensure_env_file

note "building $IMAGE"
docker build -t "$IMAGE" .

note "starting the infrastructure in Docker Compose (postgres, minio, createbuckets, mlflow)"
MLSERVICE_IMAGE_TAG=dev docker compose up -d postgres minio createbuckets mlflow
wait_healthy "${WAIT_SECONDS:-180}" postgres minio mlflow

note "loading $IMAGE into Minikube (this copies the whole image; it takes a while the first time)"
minikube image load "$IMAGE"

note "applying k8s/ to namespace $K8S_NAMESPACE"
kube apply -k k8s

# The committed Secret is a template; the real values come from .env.
secret_env="$(mktemp)"
trap 'rm -f "$secret_env"' EXIT
for key in "${SECRET_KEYS[@]}"; do
  printf '%s=%s\n' "$key" "$(env_value "$key")" >>"$secret_env"
done
kube -n "$K8S_NAMESPACE" create secret generic mlservice-secrets --from-env-file="$secret_env" \
  --dry-run=client -o yaml | kube apply -f -

# New pods pick up the freshly loaded image and Secret (same tag, IfNotPresent: no restart otherwise).
for deployment in "${DEPLOYMENTS[@]}"; do
  kube -n "$K8S_NAMESPACE" rollout restart "deployment/$deployment"
done
for deployment in "${DEPLOYMENTS[@]}"; do
  if ! kube -n "$K8S_NAMESPACE" rollout status "deployment/$deployment" --timeout=180s; then
    kube -n "$K8S_NAMESPACE" get pods -o wide >&2 || true
    die "$deployment did not become ready. Look at 'kubectl -n $K8S_NAMESPACE describe pods' and 'kubectl -n $K8S_NAMESPACE logs deploy/$deployment'."
  fi
done

printf '\nmlservice is up (Minikube + Docker Compose)\n'
if [ "$(uname -s)" = Linux ]; then
  # On Linux the node IP is reachable and `minikube service --url` returns at once.
  for service in mlservice-dashboard mlservice-rest mlservice-grpc; do
    url="$(minikube service -n "$K8S_NAMESPACE" --url "$service" | head -n 1)"
    [ "$service" = mlservice-grpc ] && url="${url#http://}"
    printf '  %-22s %s\n' "$service" "$url"
  done
else
  # macOS/Windows Docker driver: `minikube service --url` keeps a tunnel open and never returns.
  printf '  Run in another terminal (each keeps a tunnel open):\n'
  printf '    minikube service -n %s --url %s\n' "$K8S_NAMESPACE" mlservice-dashboard mlservice-rest mlservice-grpc
fi
cat <<TABLE
  MLflow UI              http://localhost:5002
  MinIO console          http://localhost:9001

Pods: kubectl --context $KUBE_CONTEXT -n $K8S_NAMESPACE get pods     Stop: ./stop_all.sh
TABLE
