#!/usr/bin/env bash
# `make build-push`: build the image and push it to a registry, tagged with the commit it was built from.
#   scripts/build_push.sh IMAGE            e.g. mlservice/mlservice or ghcr.io/you/mlservice
# - a clean tree is tagged <short sha> and latest; a tree with uncommitted changes (git status
#   --porcelain) is tagged <short sha>-dirty only, so a sha tag always names exactly that commit and
#   latest never points at uncommitted code;
# - before building, checks that Docker holds credentials for the image's registry (docker login),
#   and says how to log in when it does not. SKIP_LOGIN_CHECK=1 skips the check (e.g. a credential
#   helper this script cannot see).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${1:?usage: scripts/build_push.sh IMAGE (e.g. mlservice/mlservice)}"
say() { printf 'build-push: %s\n' "$*"; }
die() {
  printf 'build-push: error: %s\n' "$*" >&2
  exit 1
}

# The registry host: the first path component when it looks like a host (has . or :, or is localhost).
registry=docker.io
first="${image%%/*}"
if [ "$first" != "$image" ] && { [[ "$first" == *.* ]] || [[ "$first" == *:* ]] || [ "$first" = localhost ]; }; then
  registry="$first"
fi

logged_in() {
  local config="${DOCKER_CONFIG:-$HOME/.docker}/config.json" keys store
  [ -f "$config" ] || return 1
  if [ "$registry" = docker.io ]; then keys="https://index.docker.io/v1/ index.docker.io docker.io"; else keys="$registry"; fi
  for key in $keys; do
    # credentials stored in the file itself, or a per-registry helper
    grep -q "\"$key\"" "$config" && return 0
  done
  store="$(sed -n 's/.*"credsStore"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config" | head -n 1)"
  if [ -n "$store" ] && command -v "docker-credential-$store" >/dev/null 2>&1; then
    for key in $keys; do
      "docker-credential-$store" list 2>/dev/null | grep -qF "$key" && return 0
    done
  fi
  return 1
}

docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (docker info)"
if [ "${SKIP_LOGIN_CHECK:-0}" != 1 ] && ! logged_in; then
  login="docker login"
  [ "$registry" = docker.io ] || login="docker login $registry"
  die "Docker has no credentials for $registry: run '$login' first (or SKIP_LOGIN_CHECK=1 if a credential helper this script cannot see handles it)"
fi

sha="$(git rev-parse --short HEAD 2>/dev/null)" || die "not a git checkout: cannot name the image after a commit"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  tags=("$sha-dirty")
  say "uncommitted changes: tagging $image:$sha-dirty only (commit them for $sha and latest)"
else
  tags=("$sha" latest)
fi

build_args=()
for tag in "${tags[@]}"; do build_args+=(-t "$image:$tag"); done
docker build "${build_args[@]}" .
for tag in "${tags[@]}"; do
  docker push "$image:$tag"
done
say "pushed ${tags[*]/#/$image:}"
