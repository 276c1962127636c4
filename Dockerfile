# syntax=docker/dockerfile:1
# One image for every role of mlservice; the command picks the role (docker/entrypoint.sh):
#   rest (granian, 5000) | grpc (50051) | dashboard (streamlit, 8501) | mlflow (tracking server, 5002)
#   | worker (training-job queue, no port)
# Build: docker build -t mlservice:dev .      Run: docker run --rm -p 5000:5000 mlservice:dev rest
# Stages: builder (venv from poetry.lock) -> base (venv + user) -> dvc (base + the DVC command line, for
# the one-shot `dvc-push` Compose service: docker build --target dvc) | runtime (the service image, last).

# Exact tag, no digest: rebuilds pick up nothing new unless this line changes.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: poetry.lock -> hash-pinned requirements -> /opt/venv --------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# Poetry lives in a throwaway venv of this stage only; it never reaches the final image.
RUN python -m venv /opt/poetry \
 && /opt/poetry/bin/pip install --no-cache-dir poetry==2.5.1 poetry-plugin-export==1.10.1
COPY pyproject.toml poetry.lock ./
# `poetry export` fails when poetry.lock is stale, so the image never drifts from the lock.
# Only the main group: test and lint tools stay out of the image. The `dvc` group (the DVC command
# line) is exported too, for the dvc target only.
RUN /opt/poetry/bin/poetry export --only main -f requirements.txt -o requirements.txt \
 && /opt/poetry/bin/poetry export --only dvc -f requirements.txt -o requirements-dvc.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt

# --- base: the Python runtime and the service user, without the code ----------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    MLSERVICE_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv

# --- dvc: base + the DVC command line (an extra target, not the service image) ---------------------
# `docker compose run --rm dvc-push` runs it to push the repository's sample dataset to the DVC remote
# (MinIO), so run_docker_mode.sh needs nothing on the host but Docker. No service process imports dvc.
# It does not contain the service's code, so code changes do not rebuild it.
FROM base AS dvc
COPY --from=builder /build/requirements-dvc.txt /tmp/requirements-dvc.txt
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements-dvc.txt \
 && rm /tmp/requirements-dvc.txt
COPY docker/dvc_push.sh /usr/local/bin/dvc_push.sh
RUN chmod 0755 /usr/local/bin/dvc_push.sh
# A writable copy of the repository's DVC files; dvc_push.sh runs init_dvc.sh in it.
WORKDIR /home/app/repo
COPY --chown=10001:10001 init_dvc.sh ./
COPY --chown=10001:10001 .dvc/config .dvc/config
COPY --chown=10001:10001 data/make_train_csv.py data/train.csv.dvc data/
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/dvc_push.sh"]

# --- runtime: the service image (the last stage, so `docker build .` and Compose's `build: .` make it)
FROM base AS runtime
WORKDIR /app
# .dockerignore is an allow-list: only the top-level entry points (including the checked-in app_pb2*.py,
# never regenerated here), the mlservice/ package (without its devstack), app.proto, docker/,
# .streamlit/ and the DVC files (data/*.dvc, .dvc/config, init_dvc.sh, data/make_train_csv.py: the
# dvc target's) reach this COPY.
# Files stay root-owned: the service user can read its code but not change it.
COPY . /app/
RUN chmod 0755 /app/docker/entrypoint.sh /app/docker/healthcheck.py
USER 10001:10001
EXPOSE 5000 50051 8501 5002 9102 9103
# The check finds the role from PID 1's command line (or MLSERVICE_ROLE) and probes that role's port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["rest"]
