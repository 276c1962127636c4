"""What a server process does once, at its start: logging, and the MLflow client's HTTP behaviour.

MLflow's client reads its HTTP timeout and retry budget from the environment at call time, for the
whole process; without limits a stopped tracking server makes every request retry for minutes. So
each entry point (``app.py``, ``grpc_server.py``, the test session) calls ``start_process`` once,
before it builds the core, and no constructor touches ``os.environ``.
"""

from __future__ import annotations

import logging
import math
import os

from mlservice.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def mlflow_client_environment(settings: Settings) -> dict[str, str]:
    """The environment variables MLflow's HTTP client takes its timeouts and retries from."""
    return {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(math.ceil(settings.mlflow_timeout_seconds))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_POOL_MAXSIZE": "32",  # request threads + the upload pool
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }


def start_process(settings: Settings) -> None:
    """Configure logging (unless the host, e.g. gunicorn, already did) and MLflow's client, once per process."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    os.environ.update(mlflow_client_environment(settings))
