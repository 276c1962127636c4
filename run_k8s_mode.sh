#!/usr/bin/env bash
# Hybrid mode: PostgreSQL, MinIO and MLflow in Docker Compose on this machine; the front ends (rest x2,
# grpc x2, dashboard) and the training worker in Minikube, reaching them as host.minikube.internal.
#   minikube start && ./run_k8s_mode.sh        (make k8s-up)      stop with ./stop_all.sh
# Needs docker (+ compose), minikube and kubectl. Uses only the Minikube profile and kubectl context
# KUBE_CONTEXT (default: minikube), never whatever context happens to be current.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/deploy_lib.sh
. scripts/deploy_lib.sh

IMAGE=mlservice:dev
DEPLOYMENTS=(mlservice-rest mlservice-grpc mlservice-dashboard mlservice-worker)
# The NodePorts pinned in k8s/rest.yaml, grpc.yaml and dashboard.yaml.
REST_NODE_PORT=30500
GRPC_NODE_PORT=30051
DASHBOARD_NODE_PORT=30501
# The infrastructure with PostgreSQL published too, on an interface the pods can reach: they come from
# host.minikube.internal, not from this machine's loopback.
COMPOSE_FILES=(-f docker-compose.yaml -f docker-compose.k8s.yaml)
export MLSERVICE_IMAGE_TAG=dev # the tag the manifests use

require_docker
require_kubernetes_tools
mk status >/dev/null 2>&1 ||
  die "minikube (profile '$KUBE_CONTEXT') is not running. Start it first, e.g. 'minikube start -p $KUBE_CONTEXT --cpus 2 --memory 4g', then re-run."
kube get --raw /readyz >/dev/null 2>&1 ||
  die "kubectl cannot reach the '$KUBE_CONTEXT' context. Check 'minikube -p $KUBE_CONTEXT status' and 'kubectl config get-contexts' (or set KUBE_CONTEXT)."
ensure_env_file
MLSERVICE_PUBLISH_HOST="$(setting MLSERVICE_K8S_PUBLISH_HOST 0.0.0.0)"
export MLSERVICE_PUBLISH_HOST
[ "$MLSERVICE_PUBLISH_HOST" = 0.0.0.0 ] &&
  note "publishing PostgreSQL, MinIO and MLflow on every interface for the pods (MLSERVICE_K8S_PUBLISH_HOST to narrow it)"

note "building $IMAGE"
docker build -t "$IMAGE" .

note "starting the infrastructure in Docker Compose (postgres, minio, createbuckets, mlflow)"
docker compose "${COMPOSE_FILES[@]}" up -d postgres minio createbuckets mlflow
wait_healthy "${WAIT_SECONDS:-180}" postgres minio mlflow
push_sample_dataset "${COMPOSE_FILES[@]}"

note "loading $IMAGE into Minikube (this copies the whole image; it takes a while the first time)"
mk image load "$IMAGE"
node_ip="$(mk ip)"
[ -n "$node_ip" ] || die "'minikube -p $KUBE_CONTEXT ip' printed nothing"

# k8s/ as the base; the Secret's values (every key of k8s/secret.yaml) come from .env and the browser
# URLs from the node's IP and the pinned NodePorts.
# Kustomize takes the base only by a relative path: the overlay is a git-ignored folder of the checkout.
overlay="$(mktemp -d "$PWD/.k8s-deploy.XXXXXX")"
trap 'rm -rf "$overlay"' EXIT
secret_keys="$(sed -n '/^stringData:/,$ s/^  \([A-Z][A-Z0-9_]*\):.*/\1/p' k8s/secret.yaml)"
[ -n "$secret_keys" ] || die "no keys found under stringData in k8s/secret.yaml"
database_url="$(env_value MLSERVICE_DATABASE_URL)"
if [ -z "$database_url" ]; then
  # The bundled PostgreSQL as the pods see it (docker-compose.k8s.yaml publishes it).
  database_url="postgresql+psycopg2://$(env_value POSTGRES_USER mlflow):$(env_value POSTGRES_PASSWORD)@host.minikube.internal:$(env_value POSTGRES_PORT 5432)/$(env_value POSTGRES_DB mlflow)"
fi
for key in $secret_keys; do
  case "$key" in
    MLSERVICE_DATABASE_URL) value="$database_url" ;;
    *) value="$(env_value "$key")" ;;
  esac
  printf '%s=%s\n' "$key" "$value" >>"$overlay/secret.env"
done
chmod 600 "$overlay/secret.env"
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../k8s
secretGenerator:
  - name: mlservice-secrets
    behavior: replace
    envs: [secret.env]
    options:
      disableNameSuffixHash: true
configMapGenerator:
  - name: mlservice-config
    behavior: merge
    literals:
      - API_PUBLIC_URL=http://$node_ip:$REST_NODE_PORT
      - DASHBOARD_URL=http://$node_ip:$DASHBOARD_NODE_PORT
      - MLFLOW_UI_URL=http://localhost:$(setting MLSERVICE_MLFLOW_PUBLISHED_PORT 5002)
      - MINIO_CONSOLE_URL=http://localhost:$(setting MLSERVICE_MINIO_CONSOLE_PUBLISHED_PORT 9001)
      - MLSERVICE_ADMINS=$(env_value MLSERVICE_ADMINS)
    options:
      disableNameSuffixHash: true
YAML
note "applying k8s/ (Secret from .env) to namespace $K8S_NAMESPACE"
kube kustomize "$overlay" >"$overlay/rendered.yaml"
kube apply -f - <"$overlay/rendered.yaml"

# New pods pick up the freshly loaded image and Secret (same tag, IfNotPresent: no restart otherwise).
for deployment in "${DEPLOYMENTS[@]}"; do
  kube -n "$K8S_NAMESPACE" rollout restart "deployment/$deployment"
done
for deployment in "${DEPLOYMENTS[@]}"; do
  if ! kube -n "$K8S_NAMESPACE" rollout status "deployment/$deployment" --timeout=180s; then
    kube -n "$K8S_NAMESPACE" get pods -o wide >&2 || true
    die "$deployment did not become ready. Look at 'kubectl --context $KUBE_CONTEXT -n $K8S_NAMESPACE describe pods' and 'kubectl --context $KUBE_CONTEXT -n $K8S_NAMESPACE logs deploy/$deployment'."
  fi
done

printf '\nmlservice is up (Minikube profile %s + Docker Compose)\n' "$KUBE_CONTEXT"
cat <<TABLE
  Dashboard              http://$node_ip:$DASHBOARD_NODE_PORT
  REST + Swagger         http://$node_ip:$REST_NODE_PORT/
  gRPC                   $node_ip:$GRPC_NODE_PORT
  MLflow UI              http://localhost:$(setting MLSERVICE_MLFLOW_PUBLISHED_PORT 5002)
  MinIO console          http://localhost:$(setting MLSERVICE_MINIO_CONSOLE_PUBLISHED_PORT 9001)
TABLE
if [ "$(uname -s)" != Linux ]; then
  # macOS/Windows Docker driver: the node IP is not reachable from the host; a tunnel is.
  printf '  The node IP is not reachable from macOS/Windows with the Docker driver; in another terminal run\n'
  printf '    minikube -p %s service -n %s --url mlservice-dashboard mlservice-rest mlservice-grpc\n' "$KUBE_CONTEXT" "$K8S_NAMESPACE"
  printf '  (the dashboard'"'"'s links then need API_PUBLIC_URL / DASHBOARD_URL set to those URLs).\n'
fi
printf '\n'
api_tokens_table | while read -r name token; do
  printf '  REST API token (%s): %s\n' "$name" "$token"
done
printf '\nPods: kubectl --context %s -n %s get pods     Stop: ./stop_all.sh\n' "$KUBE_CONTEXT" "$K8S_NAMESPACE"
