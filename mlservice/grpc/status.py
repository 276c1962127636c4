"""Core exceptions as gRPC status codes: one table, one decorator that aborts with the core's message."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import grpc

from mlservice.errors import (
    Cancelled,
    Conflict,
    InUse,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PredictionLimitExceeded,
    ServiceError,
    TooManyJobs,
    TrainingLimitExceeded,
    Unauthenticated,
    Unavailable,
)

logger = logging.getLogger(__name__)

# Most specific first: PayloadTooLarge is an InvalidInput, InUse a Conflict.
STATUS_CODES: list[tuple[type[ServiceError], grpc.StatusCode]] = [
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InUse, grpc.StatusCode.FAILED_PRECONDITION),
    (Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (TrainingLimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (PredictionLimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (TooManyJobs, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def status_code_for(error: ServiceError) -> grpc.StatusCode:
    """The gRPC status code of a core exception (INTERNAL for one no row names)."""
    for error_type, code in STATUS_CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def translate_errors(method: Callable) -> Callable:
    """Turn core exceptions into gRPC statuses; anything unexpected into INTERNAL without details."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServiceError as exc:
            context.abort(status_code_for(exc), exc.message)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("Unexpected error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "Internal server error; the details are in the server log")
        return None  # unreachable: abort raises

    return wrapper
