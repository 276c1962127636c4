"""Core exceptions as HTTP answers: one table, one handler; every error body is ``{"message": ...}``."""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask
from flask_restx import Api
from werkzeug.exceptions import HTTPException

from mlservice.errors import (
    Cancelled,
    Conflict,
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

# Most specific first: PayloadTooLarge is an InvalidInput, InUse a Conflict.
HTTP_STATUS: list[tuple[type[ServiceError], int]] = [
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (PermissionDenied, HTTPStatus.FORBIDDEN),
    (PayloadTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (InvalidInput, HTTPStatus.BAD_REQUEST),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    # a training cancelled while the caller waited (over REST only a job is cancelled, so it is not seen)
    (Cancelled, HTTPStatus.CONFLICT),
    (TrainingLimitExceeded, HTTPStatus.UNPROCESSABLE_ENTITY),
    (PredictionLimitExceeded, HTTPStatus.UNPROCESSABLE_ENTITY),
    (TooManyJobs, HTTPStatus.TOO_MANY_REQUESTS),
    (Unavailable, HTTPStatus.SERVICE_UNAVAILABLE),
]

# Responses any operation can give, documented once for the whole spec (see rest.app.ServiceApi).
COMMON_RESPONSES = {
    "400": "Invalid input: the message names the problem",
    "401": "Authentication required: sign in or send 'Authorization: Bearer <token>'",
    "403": "Permission denied: the caller may see the object but not do this to it",
    "413": "Request too large (body, rows, features or prediction values over the configured limits)",
    "503": "MLflow or the artifact/dataset store is unavailable; try again",
}


def http_status_for(error: ServiceError) -> int:
    """The HTTP status code of a core exception (500 for one no row names)."""
    for error_type, status in HTTP_STATUS:
        if isinstance(error, error_type):
            return int(status)
    return int(HTTPStatus.INTERNAL_SERVER_ERROR)


def install_error_handlers(app: Flask, api: Api) -> None:
    """Core exceptions and werkzeug's own errors answer JSON ``{"message": ...}``, never HTML."""

    @api.errorhandler(ServiceError)
    def handle_service_error(exc: ServiceError):
        return {"message": exc.message}, http_status_for(exc)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        # URLs outside the API (and errors raised before it) answer JSON like the API; the message is
        # werkzeug's fixed text, so nothing of the request is reflected
        return {"message": exc.description or exc.name}, exc.code or 500

    del handle_service_error, handle_http_error  # registered by the decorators
