"""Access to the MLflow registry: its failures as the core's exceptions, and the tag encoding.

No host, credential or traceback reaches a message: the details go to the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import requests
from mlflow.exceptions import MlflowException

from mlservice.core.catalogue import jsonable
from mlservice.errors import Conflict, ModelNotFound, Unavailable

logger = logging.getLogger(__name__)

MAX_TAG_VALUE = 4000  # MLflow's model-version tag limit is 5000 characters


@contextmanager
def registry_errors(action: str) -> Iterator[None]:
    """Translate MLflow / network failures into the core's exceptions (no hosts in messages)."""
    try:
        yield
    except MlflowException as exc:
        code = exc.error_code
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelNotFound(f"Not found while trying to {action}") from exc
        if code == "RESOURCE_ALREADY_EXISTS":
            raise Conflict(f"Already exists: cannot {action}") from exc
        logger.warning("MLflow failed to %s: %s", action, exc)
        raise Unavailable(f"The model registry (MLflow) is unavailable; could not {action}. Try again.") from exc
    except (requests.RequestException, OSError) as exc:
        logger.warning("MLflow / artifact store unreachable while trying to %s: %s", action, exc)
        raise Unavailable(f"The model registry (MLflow) is unavailable; could not {action}. Try again.") from exc
    except Exception as exc:  # botocore and friends raise their own hierarchy
        if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
            logger.warning("Artifact store failed while trying to %s: %s", action, exc)
            raise Unavailable(f"The artifact store is unavailable; could not {action}. Try again.") from exc
        raise


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_tag(value: Any) -> str | None:
    text = json.dumps(value, default=jsonable)
    return text if len(text) <= MAX_TAG_VALUE else None


def parse_json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
