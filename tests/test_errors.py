"""Each core exception maps to one HTTP status and one gRPC status code, in one table per front end."""

import grpc
import pytest

import app
import grpc_server
from errors import (
    Conflict,
    DatasetNotFound,
    InUse,
    InvalidInput,
    ModelNotFound,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error", "http_status", "grpc_code"),
    [
        (InvalidInput("x"), 400, grpc.StatusCode.INVALID_ARGUMENT),
        (PayloadTooLarge("x"), 413, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (ModelNotFound("x"), 404, grpc.StatusCode.NOT_FOUND),
        (DatasetNotFound("x"), 404, grpc.StatusCode.NOT_FOUND),
        (Conflict("x"), 409, grpc.StatusCode.ALREADY_EXISTS),
        (InUse("x"), 409, grpc.StatusCode.FAILED_PRECONDITION),
        (Unavailable("x"), 503, grpc.StatusCode.UNAVAILABLE),
        (ServiceError("x"), 500, grpc.StatusCode.INTERNAL),
    ],
)
def test_exception_maps_to_http_and_grpc_codes(error, http_status, grpc_code):
    assert app.http_status_for(error) == http_status
    assert grpc_server.status_code_for(error) == grpc_code
