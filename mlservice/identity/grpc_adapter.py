"""The identity adapter for gRPC: the same bearer tokens as REST, from the ``authorization`` call metadata.

``IdentityInterceptor`` authenticates every call but the standard health service and hands the
caller to the servicer through ``current_caller()`` (a context variable set in the thread that runs
the call). A call without credentials acts as ``local`` unless the server requires them
(``GRPC_AUTH_TOKEN`` set): then it is refused with UNAUTHENTICATED, as is any invalid token.
``GRPC_AUTH_TOKEN`` itself is accepted as the service principal ``grpc``.
"""

from __future__ import annotations

import contextvars
import hmac

import grpc

from mlservice.identity.authenticator import Authenticator
from mlservice.identity.principal import Principal

HEALTH_PREFIX = "/grpc.health.v1.Health/"
LOCAL = Principal.local()
_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("grpc_caller", default=None)


def current_caller() -> Principal | None:
    """The caller of the gRPC call this thread is running (None outside a call)."""
    return _CALLER.get()


def _handler_kind(handler: grpc.RpcMethodHandler):
    kinds = {
        (False, False): (grpc.unary_unary_rpc_method_handler, "unary_unary"),
        (False, True): (grpc.unary_stream_rpc_method_handler, "unary_stream"),
        (True, False): (grpc.stream_unary_rpc_method_handler, "stream_unary"),
        (True, True): (grpc.stream_stream_rpc_method_handler, "stream_stream"),
    }
    return kinds[(handler.request_streaming, handler.response_streaming)]


class IdentityInterceptor(grpc.ServerInterceptor):
    """Authenticates each call (but health) with the REST API's tokens and exposes the caller to the servicer."""

    def __init__(self, authenticator: Authenticator | None, shared_token: str | None = None):
        self.authenticator = authenticator
        self._shared = f"Bearer {shared_token}".encode() if shared_token else None

    def identify(self, metadata) -> Principal | None:
        """The caller a call's metadata names; None when the credentials are missing or invalid."""
        header = str(dict(metadata or ()).get("authorization", ""))
        if not header:
            return None if self._shared else LOCAL
        if self._shared and hmac.compare_digest(header.encode(), self._shared):
            return Principal.service("grpc")
        return self.authenticator.from_bearer(header) if self.authenticator is not None else None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        make, attribute = _handler_kind(handler)
        behaviour = getattr(handler, attribute)

        def authenticated(request, context):
            principal = self.identify(context.invocation_metadata())
            if principal is None:
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid 'authorization: Bearer <token>' metadata"
                )
            token = _CALLER.set(principal)
            try:
                return behaviour(request, context)
            finally:
                _CALLER.reset(token)

        return make(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
