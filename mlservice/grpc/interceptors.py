"""Server interceptors of the gRPC front end: undecodable requests answer INVALID_ARGUMENT, not INTERNAL."""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError


class _Malformed:
    """Stands in for a request whose bytes are not a valid message (e.g. non-UTF-8 in a string)."""

    def __init__(self, error: Exception):
        self.error = error


class MalformedRequestInterceptor(grpc.ServerInterceptor):
    """Answers INVALID_ARGUMENT for undecodable request bytes, where grpcio would answer INTERNAL."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        deserialize, behaviour = handler.request_deserializer, handler.unary_unary or handler.unary_stream

        def tolerant(data: bytes):
            try:
                return deserialize(data)
            except DecodeError as exc:
                return _Malformed(exc)

        def guarded(request, context):
            if isinstance(request, _Malformed):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "The request is not a valid message (string fields must be UTF-8; types must match app.proto; "
                    "records nest at most about 30 levels)",
                )
            return behaviour(request, context)

        make = (
            grpc.unary_stream_rpc_method_handler if handler.response_streaming else grpc.unary_unary_rpc_method_handler
        )
        return make(guarded, request_deserializer=tolerant, response_serializer=handler.response_serializer)
