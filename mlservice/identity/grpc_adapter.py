"""The identity adapter for gRPC: the same bearer tokens as REST, from the ``authorization`` call metadata.

``IdentityInterceptor`` authenticates every call but the standard health service (and the methods the
server declares public: the Open Inference Protocol's liveness, readiness and metadata) and hands the
caller to the servicer through ``current_caller()`` (a context variable set in the thread that runs
the call). An invalid token is refused with UNAUTHENTICATED. A call without credentials:

- in the embedded default (no GitHub sign-in) on a loopback bind, acts as ``local``, the machine's
  one user, so the reference client works unchanged against ``make run``;
- elsewhere is refused with UNAUTHENTICATED, unless ``MLSERVICE_GRPC_ALLOW_ANONYMOUS=true`` lets it in
  on purpose as ``anonymous`` (the default permission only; the server warns at start).

``GRPC_AUTH_TOKEN``, a shared secret of older releases, is accepted as the principal ``service:grpc``
and, when set, no call goes without credentials.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import logging

import grpc

from mlservice.identity.authenticator import Authenticator
from mlservice.identity.principal import Principal
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

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


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches only this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def anonymous_principal(settings: Settings) -> Principal | None:
    """Who a call without credentials acts as on a server with these settings (None: refused)."""
    if settings.grpc_auth_token:
        return None
    if not settings.github_enabled and is_loopback(settings.host):
        return LOCAL
    return Principal.anonymous() if settings.grpc_allow_anonymous else None


class IdentityInterceptor(grpc.ServerInterceptor):
    """Authenticates each call (but health) with the REST API's tokens and exposes the caller to the servicer."""

    def __init__(
        self, authenticator: Authenticator | None, settings: Settings, public_methods: frozenset[str] = frozenset()
    ):
        """Args:
        public_methods: full method names answered without credentials (besides the health service).
        """
        self.authenticator = authenticator
        self.public_methods = public_methods
        self.anonymous = anonymous_principal(settings)
        shared_token = settings.grpc_auth_token
        self._shared = f"Bearer {shared_token}".encode() if shared_token else None
        if self.anonymous is not None and self.anonymous.kind == "anonymous":
            logger.warning(
                "gRPC on %s:%s ANSWERS CALLS WITHOUT CREDENTIALS (MLSERVICE_GRPC_ALLOW_ANONYMOUS=true), as the "
                "principal 'anonymous' with the default permission %s",
                settings.host, settings.grpc_port, settings.default_permission.upper(),
            )  # fmt: skip

    def identify(self, metadata) -> Principal | None:
        """The caller a call's metadata names; None when the credentials are missing or invalid."""
        header = str(dict(metadata or ()).get("authorization", ""))
        if not header:
            return self.anonymous
        if self._shared and hmac.compare_digest(header.encode(), self._shared):
            return Principal.service("grpc")
        return self.authenticator.from_bearer(header) if self.authenticator is not None else None

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The method's handler behind the identity check (health and public methods unchanged)."""
        if method.startswith(HEALTH_PREFIX) or method in self.public_methods:
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

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        return handler if handler is None else self.wrap(handler_call_details.method, handler)
