#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine or cluster needed); `make lint` runs it.
#   hadolint Dockerfile
#   check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yaml docker-compose.k8s.yaml
#   kubectl kustomize k8s | kubernetes-validate --strict -   (without kubectl: each k8s/*.yaml)
#   ShellCheck on every *.sh of the top level, docker/, docker/standins/ and scripts/ (skipped with a
#   warning if absent)
# Runs every check, then exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
failed=()

run_check() {
  local name="$1"
  shift
  printf '== %s\n' "$name"
  if "$@"; then
    printf 'ok: %s\n' "$name"
  else
    printf 'FAILED: %s\n' "$name" >&2
    failed+=("$name")
  fi
}

tool() {
  if [ -x "$BIN/$1" ]; then
    printf '%s\n' "$BIN/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    printf 'lint_deploy: %s not found (make install provides it in %s)\n' "$1" "$BIN" >&2
    return 1
  fi
}

validate_k8s() {
  local validator rendered status=0
  validator="$(tool kubernetes-validate)" || return 1
  if command -v kubectl >/dev/null 2>&1; then
    rendered="$(mktemp)"
    if kubectl kustomize k8s >"$rendered" && [ -s "$rendered" ]; then
      "$validator" --strict --quiet - <"$rendered" || status=1
    else
      printf 'lint_deploy: kubectl kustomize k8s failed or rendered nothing\n' >&2
      status=1
    fi
    rm -f "$rendered"
    return "$status"
  fi
  printf 'lint_deploy: kubectl not found; validating the k8s/ files one by one (no kustomize render)\n' >&2
  local manifests=()
  for file in k8s/*.yaml; do
    [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
  done
  "$validator" --strict --quiet "${manifests[@]}"
}

hadolint_dockerfile() {
  local hadolint
  hadolint="$(tool hadolint)" && "$hadolint" Dockerfile
}

compose_schema() {
  local checker
  checker="$(tool check-jsonschema)" && "$checker" --builtin-schema vendor.compose-spec docker-compose.yaml docker-compose.k8s.yaml
}

shellcheck_scripts() {
  local scripts=()
  for file in ./*.sh docker/*.sh docker/standins/*.sh scripts/*.sh; do
    [ -f "$file" ] && scripts+=("$file")
  done
  [ ${#scripts[@]} -gt 0 ] || return 0
  shellcheck -x "${scripts[@]}"
}

run_check "hadolint Dockerfile" hadolint_dockerfile
run_check "compose schema (docker-compose.yaml)" compose_schema
run_check "kubernetes-validate --strict (k8s/)" validate_k8s
if command -v shellcheck >/dev/null 2>&1; then
  run_check "shellcheck" shellcheck_scripts
else
  printf 'lint_deploy: warning: shellcheck not installed (apt-get install shellcheck, or make system-deps); scripts NOT checked\n' >&2
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'lint_deploy: %d check(s) failed: %s\n' "${#failed[@]}" "${failed[*]}" >&2
  exit 1
fi
printf 'lint_deploy: all deployment checks passed\n'
