#!/usr/bin/env bash
# Makes every image the project's Dockerfile and docker-compose.yaml use available locally: an image
# that is present is kept, one that can be pulled is pulled, and only one that can be neither is built
# here as a stand-in under the same name (see README.md for what each stand-in leaves out).
# Adapted from the team's shared docker-standins. Needs a running Docker engine.
#   docker/standins/build.sh          (REBUILD=1: rebuild stand-ins even when present)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export DOCKER_BUILDKIT=0 # the legacy builder: BuildKit would try to pull frontends and base images
PULL_TIMEOUT=${PULL_TIMEOUT:-20}

say() { printf 'standins: %s\n' "$*"; }

# The names, read from the project's files so that they cannot drift apart.
PYTHON_TAG=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$root/Dockerfile" | head -n 1)
POSTGRES_TAG=$(sed -n 's/^ *image: *\(postgres:[^ ]*\)$/\1/p' "$root/docker-compose.yaml" | head -n 1)
# shellcheck disable=SC2016  # a literal ${...} of the Compose file
MINIO_TAG=$(sed -n 's/^ *image: *\${MINIO_IMAGE:-\([^}]*\)}$/\1/p' "$root/docker-compose.yaml" | head -n 1)
# shellcheck disable=SC2016
MC_TAG=$(sed -n 's/^ *image: *\${MINIO_MC_IMAGE:-\([^}]*\)}$/\1/p' "$root/docker-compose.yaml" | head -n 1)
for pair in "PYTHON_TAG=$PYTHON_TAG" "POSTGRES_TAG=$POSTGRES_TAG" "MINIO_TAG=$MINIO_TAG" "MC_TAG=$MC_TAG"; do
  [ -n "${pair#*=}" ] || { say "error: could not read ${pair%%=*} from Dockerfile / docker-compose.yaml" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

present() { docker image inspect "$1" >/dev/null 2>&1; }
# available IMAGE: present, or pulled now; false when a stand-in is needed (or REBUILD=1).
available() {
  [ "${REBUILD:-0}" = 1 ] && return 1
  present "$1" && return 0
  if timeout "$PULL_TIMEOUT" docker pull -q "$1" >/dev/null 2>&1; then
    say "pulled $1"
    return 0
  fi
  say "cannot pull $1: building a stand-in"
  return 1
}

need_host_tool() { # need_host_tool COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $2 (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
  fi
  command -v "$1" >/dev/null 2>&1 || { say "error: $1 is needed to build the stand-ins (install $2)" >&2; exit 1; }
}

debian_base() { # the base of every stand-in: Debian 12 from the configured mirror
  if [ "${REBUILD:-0}" != 1 ] && present local/debian:bookworm; then return 0; fi
  need_host_tool debootstrap debootstrap
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -5 "$work/debootstrap.log" >&2; exit 1; }
  [ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/"
  tar -C "$work/rootfs" -c . | docker import - local/debian:bookworm >/dev/null
  rm -rf "$work/rootfs"
  say "built local/debian:bookworm"
}

if ! available "$PYTHON_TAG"; then
  debian_base
  cp -r "$here/python" "$work/python"
  cp /etc/ssl/certs/ca-certificates.crt "$work/python/hostca.crt"
  docker build -q -t "$PYTHON_TAG" "$work/python" >/dev/null && say "built $PYTHON_TAG (stand-in)"
fi
if ! available "$POSTGRES_TAG"; then
  debian_base
  docker build -q -t "$POSTGRES_TAG" "$here/postgres" >/dev/null && say "built $POSTGRES_TAG (stand-in)"
fi
if ! available "$MINIO_TAG"; then
  debian_base
  need_host_tool npm npm
  cp -r "$here/minio" "$work/minio"
  npm install --silent --no-audit --no-fund --prefix "$work/minio" s3rver@3.7.1 >/dev/null
  docker build -q -t "$MINIO_TAG" "$work/minio" >/dev/null && say "built $MINIO_TAG (stand-in)"
fi
if ! available "$MC_TAG"; then
  docker build -q --build-arg "PYTHON_IMAGE=$PYTHON_TAG" -t "$MC_TAG" "$here/mc" >/dev/null && say "built $MC_TAG (stand-in)"
fi
say "images ready: $PYTHON_TAG $POSTGRES_TAG $MINIO_TAG $MC_TAG"
