"""Each core exception maps to one HTTP status and one gRPC status code, in one table per front end."""

import grpc
import pytest

from mlservice.errors import (
    MAX_MESSAGE_CHARS,
    Cancelled,
    Conflict,
    DatasetNotFound,
    InUse,
    InvalidInput,
    ModelNotFound,
    PayloadTooLarge,
    ServiceError,
    TrainingLimitExceeded,
    Unauthenticated,
    Unavailable,
)
from mlservice.grpc.status import status_code_for
from mlservice.rest.errors import http_status_for


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
        (TrainingLimitExceeded("x"), 422, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Unauthenticated("x"), 401, grpc.StatusCode.UNAUTHENTICATED),
        (ServiceError("x"), 500, grpc.StatusCode.INTERNAL),
    ],
)
def test_exception_maps_to_http_and_grpc_codes(error, http_status, grpc_code):
    assert http_status_for(error) == http_status
    assert status_code_for(error) == grpc_code


def test_a_training_stopped_because_the_grpc_client_left_is_cancelled():
    assert status_code_for(Cancelled("the client is gone")) == grpc.StatusCode.CANCELLED


def test_a_message_quoting_a_huge_input_stays_short():
    error = InvalidInput(f"Unknown model_type '{'x' * 1_000_000}'; choose one of: knn, svc")
    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert error.message.startswith("Unknown model_type 'xxx") and error.message.endswith("'; choose one of: knn, svc")
    assert "characters left out" in error.message
    assert str(error) == error.message
    assert InvalidInput("short").message == "short"
