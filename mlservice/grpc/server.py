"""The gRPC server: ``mlservice.MLService``, the Open Inference Protocol's ``inference.GRPCInferenceService``,
the standard health service and reflection on one port.

``build_server`` wires the servicer, the interceptors (identity, undecodable requests) and the
message-size limits; ``grpc_server.py`` at the top level runs it.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import app_pb2
import app_pb2_grpc
import inference_pb2_grpc
from mlservice.grpc.inference_servicer import PUBLIC_METHODS, InferenceServicer
from mlservice.grpc.inference_servicer import SERVICE_NAME as INFERENCE_SERVICE
from mlservice.grpc.interceptors import MalformedRequestInterceptor, MetricsInterceptor
from mlservice.grpc.servicer import MLServiceServicer
from mlservice.identity.authenticator import Authenticator
from mlservice.identity.grpc_adapter import IdentityInterceptor
from mlservice.identity.tokens import TokenStore
from mlservice.settings import Settings

SERVICE_NAME = app_pb2.DESCRIPTOR.services_by_name["MLService"].full_name


def build_server(settings: Settings, service, authenticator: Authenticator | None = None) -> tuple[grpc.Server, int]:
    """A gRPC server over the core facade, bound (port 0 picks a free one) but not started.

    Args:
        authenticator: checks bearer tokens; default one over the service database's tokens.
    """
    if authenticator is None:
        authenticator = Authenticator(settings, TokenStore(settings.service_database_url, settings.token_max_days))
    interceptors = [
        MetricsInterceptor({SERVICE_NAME: "grpc", INFERENCE_SERVICE: "v2-grpc"}),
        IdentityInterceptor(authenticator, settings, PUBLIC_METHODS),
        MalformedRequestInterceptor(),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_grpc_message_bytes),
            ("grpc.max_send_message_length", settings.max_grpc_message_bytes),
        ],
    )
    app_pb2_grpc.add_MLServiceServicer_to_server(MLServiceServicer(service), server)
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(service), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME, INFERENCE_SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    reflection.enable_server_reflection((SERVICE_NAME, INFERENCE_SERVICE, health_name, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    if port == 0:
        raise RuntimeError(f"could not bind gRPC to {settings.host}:{settings.grpc_port}")
    return server, port
