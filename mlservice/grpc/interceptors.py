"""What every call of the gRPC front end goes through: counted and timed, undecodable requests answered
INVALID_ARGUMENT rather than INTERNAL, and (``mlservice.identity.grpc_adapter``) the caller identified.

Each is a *layer*: ``wrap(method, handler)`` returns the method's handler with the layer around it.
``build_server`` wraps every registered method once, when the server is built, so a call pays for the
layers' work and nothing else (grpcio's interceptors rebuild each handler on every call). Each layer is
also a ``grpc.ServerInterceptor`` (``intercept_service`` wraps per call) for servers built elsewhere.
"""

from __future__ import annotations

import time

import grpc
from google.protobuf.message import DecodeError

from mlservice.core import metrics


class Layer(grpc.ServerInterceptor):
    """A wrapper around a method's handler; as an interceptor it wraps the handler each call finds."""

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The handler of the full method name (``/package.Service/Method``) with this layer around it."""
        raise NotImplementedError

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        return handler if handler is None else self.wrap(handler_call_details.method, handler)


class _Malformed:
    """Stands in for a request whose bytes are not a valid message (e.g. non-UTF-8 in a string)."""

    def __init__(self, error: Exception):
        self.error = error


class MalformedRequestInterceptor(Layer):
    """Answers INVALID_ARGUMENT for undecodable request bytes, where grpcio would answer INTERNAL."""

    def wrap(self, method, handler):
        if handler.request_streaming or handler.request_deserializer is None:
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


class MetricsInterceptor(Layer):
    """Counts and times every unary call of the services given (protocol per service: ``grpc``, ``v2-grpc``),
    labelled with the method's name and the status code; calls of other services pass untouched."""

    def __init__(self, protocols: dict[str, str]):
        """Args:
        protocols: full service name (``mlservice.MLService``) -> protocol label.
        """
        self.protocols = protocols

    def wrap(self, method, handler):
        service, _, operation = method.lstrip("/").partition("/")
        protocol = self.protocols.get(service)
        if protocol is None or handler.request_streaming or handler.response_streaming:
            return handler
        behaviour = handler.unary_unary

        def measured(request, context):
            started = time.perf_counter()
            status = grpc.StatusCode.UNKNOWN
            try:
                response = behaviour(request, context)
                status = context.code() or grpc.StatusCode.OK
                return response
            except BaseException:
                status = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                metrics.record_request(protocol, operation, status.name, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            measured, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
