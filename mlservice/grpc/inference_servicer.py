"""``inference.GRPCInferenceService`` (the Open Inference Protocol) over the core, beside ``mlservice.MLService``.

Each RPC converts (``inference_convert``, ``mlservice.oip``), calls the core with the caller the
identity interceptor established, and converts back, as the project's own ``Predict`` does; errors
are the core's exceptions through the same table (``mlservice.grpc.status``): INVALID_ARGUMENT for a
bad tensor, NOT_FOUND for an unknown model or version. ``ServerLive``, ``ServerReady`` and
``ServerMetadata`` answer without credentials, like the REST door's health endpoints.
"""

from __future__ import annotations

import inference_pb2
import inference_pb2_grpc
from mlservice.grpc import inference_convert
from mlservice.grpc.status import translate_errors
from mlservice.identity.grpc_adapter import current_caller
from mlservice.oip import dataplane

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
PUBLIC_METHODS = frozenset(f"/{SERVICE_NAME}/{name}" for name in ("ServerLive", "ServerReady", "ServerMetadata"))


class InferenceServicer(inference_pb2_grpc.GRPCInferenceServiceServicer):
    """Implements ``inference.GRPCInferenceService`` over the shared core."""

    def __init__(self, service):
        self.service = service

    @translate_errors
    def ServerLive(self, request, context):
        return inference_pb2.ServerLiveResponse(live=True)

    @translate_errors
    def ServerReady(self, request, context):
        return inference_pb2.ServerReadyResponse(ready=self.service.health()["status"] == "ok")

    @translate_errors
    def ServerMetadata(self, request, context):
        return inference_pb2.ServerMetadataResponse(**dataplane.server_metadata())

    @translate_errors
    def ModelReady(self, request, context):
        self._described(request.name, request.version)
        return inference_pb2.ModelReadyResponse(ready=True)

    @translate_errors
    def ModelMetadata(self, request, context):
        metadata = dataplane.model_metadata(self._described(request.name, request.version))
        return inference_convert.model_metadata(metadata)

    @translate_errors
    def ModelInfer(self, request, context):
        inferred = inference_convert.infer_request(request)
        result = self.service.predict(dataplane.predict_request(inferred), current_caller())
        outputs = dataplane.output_tensors(result, inferred.outputs)
        raw = bool(request.raw_input_contents)  # answer in the form the request used
        return inference_convert.infer_response(inferred, result["version"], outputs, raw)

    def _described(self, name: str, version: str) -> dict:
        return self.service.model_metadata(name, dataplane.model_version(version), current_caller())
