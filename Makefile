# mlservice: every step a fresh machine with Python 3.11 and make needs lives here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
POETRY := $(TOOLS)/poetry/bin/poetry
STAMP := $(VENV)/.installed-$(shell cat poetry.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
DOCKER_USERNAME ?= mlservice
IMAGE := $(DOCKER_USERNAME)/mlservice
PY_SOURCES := $(filter-out app_pb2.py app_pb2_grpc.py inference_pb2.py inference_pb2_grpc.py,$(wildcard *.py)) mlservice tests tools bench
SHELL_SCRIPTS := $(wildcard *.sh docker/*.sh docker/standins/*.sh scripts/*.sh)

.PHONY: help install system-deps run test test-unit test-reliability test-docker lint audit proto proto-check lock \
        bench bench-quick mlserver load build-push docker-up docker-down k8s-up k8s-down clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(POETRY):
	$(PYTHON) -m venv $(TOOLS)/poetry
	$(TOOLS)/poetry/bin/pip install -q poetry==2.5.1 poetry-plugin-export==1.10.1

# Poetry resolves (make lock); pip installs the exported, hash-pinned lock (no Poetry network code).
$(STAMP): poetry.lock pyproject.toml | $(POETRY)
	$(POETRY) check --lock
	$(POETRY) export --with dev -f requirements.txt -o $(TOOLS)/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(TOOLS)/requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv from poetry.lock

system-deps: ## Debian packages the tests use (PostgreSQL, shellcheck, chromium) where missing
	bash scripts/install_system_deps.sh

lock: | $(POETRY) ## re-resolve poetry.lock after editing pyproject.toml
	$(TOOLS)/poetry/bin/python tools/lock.py

run: install ## run everything natively on the embedded default (MLflow 5002, REST 5000, gRPC 50051)
	$(BIN)/python -m mlservice.launcher

test: install system-deps mlserver ## all tests, against real MLflow/PostgreSQL/S3/gRPC processes (and MLServer beside ours)
	$(BIN)/python -m pytest

test-unit: install ## the fast tier: every test that starts no process (no services needed)
	$(BIN)/python -m pytest --unit

proto: install ## regenerate app_pb2*.py and inference_pb2*.py from app.proto and inference.proto
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. app.proto inference.proto

test-reliability: install system-deps ## only the fault, load, kill and time-limit tests (pytest -m reliability)
	$(BIN)/python -m pytest -m reliability

# Not part of `make test`: needs a Docker engine (installed and started here when run as root on Debian).
test-docker: install ## the real image and Compose stack, checked through the published ports (Docker)
	PYTHON=$(BIN)/python bash scripts/test_docker.sh

lint: install system-deps ## ruff + pylint + layering contracts + deployment-file checks + dependency audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --unit -q tests/test_architecture.py
	$(BIN)/pylint $(PY_SOURCES)
	@if [ -f scripts/lint_deploy.sh ]; then bash scripts/lint_deploy.sh; fi
	$(BIN)/python tools/audit.py

audit: install ## pip-audit over poetry.lock (AUDIT_REQUIRE=1: fail when the database is unreachable)
	$(BIN)/python tools/audit.py

# MLServer cannot share the project's venv (protobuf 6, FastAPI, uvloop): a venv of its own. uvloop 0.21: with
# 0.23 MLServer's default parallel_workers never becomes ready (docs/INFERENCE_PROTOCOL.md).
mlserver: ## MLServer 1.7.1 in .tools/mlserver: reference of tests/test_oip_mlserver.py, baseline of make bench
	test -x $(TOOLS)/mlserver/bin/mlserver || { $(PYTHON) -m venv $(TOOLS)/mlserver && \
	  $(TOOLS)/mlserver/bin/pip install -q mlserver==1.7.1 mlserver-sklearn==1.7.1 uvloop==0.21.0; }

bench: install ## full benchmark suite (bench/RESULTS.md)
	$(BIN)/python -m bench

bench-quick: install ## quick benchmarks, well under 2 minutes
	$(BIN)/python -m bench --quick

load: install system-deps ## bounded load test on the real stack (LOAD_SECONDS, LOAD_CLIENTS)
	$(BIN)/python -m bench.loadtest --duration $(or $(LOAD_SECONDS),60) --clients $(or $(LOAD_CLIENTS),8)

build-push: ## build and push $(IMAGE):<git sha> and :latest (<sha>-dirty only, with uncommitted changes)
	bash scripts/build_push.sh $(IMAGE)

docker-up: ## whole stack in Docker Compose
	./run_docker_mode.sh
docker-down: ## stop the Compose stack
	./stop_all.sh
k8s-up: ## infrastructure in Compose, applications in Minikube
	./run_k8s_mode.sh
k8s-down: ## remove the Kubernetes resources and stop Compose
	./stop_all.sh

clean: ## remove venvs and caches (keeps .state, your models)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
