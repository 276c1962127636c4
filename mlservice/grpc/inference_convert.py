"""Conversions between ``inference.proto`` messages (the Open Inference Protocol) and its tensors.

Tensors come as typed ``contents`` or as ``raw_input_contents`` (one entry per input, in order, as
tritonclient always sends them); the answer goes out in the form the request used: raw in, raw out
(tritonclient reads only raw outputs), typed in, typed out. BYTES are read as UTF-8 text.
"""

from __future__ import annotations

from typing import Any

import inference_pb2
from mlservice.errors import InvalidInput
from mlservice.oip.dataplane import InferRequest
from mlservice.oip.tensors import BYTES, Tensor, check_header, from_raw, from_values, to_raw

# datatype -> the InferTensorContents field that carries it typed (FP16 travels raw only)
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}


def parameters(mapping) -> dict[str, Any]:
    """A ``map<string, InferParameter>`` as plain values."""
    values = {}
    for key, parameter in mapping.items():
        kind = parameter.WhichOneof("parameter_choice")
        values[key] = getattr(parameter, kind) if kind else None
    return values


def infer_request(message) -> InferRequest:
    """A ``ModelInferRequest`` as the protocol's request with decoded tensors.

    Raises:
        InvalidInput: raw contents that do not match the inputs one to one, a malformed tensor.
    """
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs")
    inputs = []
    for index, item in enumerate(message.inputs):
        name, datatype, shape = check_header(item.name, item.datatype, list(item.shape))
        tensor = Tensor(name, datatype, shape, parameters=parameters(item.parameters))
        if raw:
            tensor.data = from_raw(tensor, raw[index])
        elif datatype in CONTENTS_FIELD:
            tensor.data = from_values(tensor, getattr(item.contents, CONTENTS_FIELD[datatype]))
        else:
            raise InvalidInput(f"tensor '{name}': {datatype} travels only in raw_input_contents")
        inputs.append(tensor)
    return InferRequest(
        model_name=message.model_name,
        model_version=message.model_version or None,
        id=message.id,
        inputs=inputs,
        outputs=[output.name for output in message.outputs] or None,
        parameters=parameters(message.parameters),
    )


def infer_response(request: InferRequest, version: int, tensors: list[Tensor], raw: bool):
    """A ``ModelInferResponse``: outputs raw when the request's inputs were raw, typed otherwise."""
    response = inference_pb2.ModelInferResponse(model_name=request.model_name, model_version=str(version),
                                                id=request.id or "")  # fmt: skip
    for tensor in tensors:
        output = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        if raw:
            response.raw_output_contents.append(to_raw(tensor.data))
        elif tensor.datatype == BYTES:
            output.contents.bytes_contents.extend(value.encode() for value in tensor.data)
        else:
            getattr(output.contents, CONTENTS_FIELD[tensor.datatype]).extend(tensor.data.tolist())
    return response


def model_metadata(metadata: dict[str, Any]):
    """The protocol's model metadata (``dataplane.model_metadata``) as a ``ModelMetadataResponse``."""
    tensor = inference_pb2.ModelMetadataResponse.TensorMetadata
    return inference_pb2.ModelMetadataResponse(
        name=metadata["name"],
        versions=metadata["versions"],
        platform=metadata["platform"],
        inputs=[tensor(**entry) for entry in metadata["inputs"]],
        outputs=[tensor(**entry) for entry in metadata["outputs"]],
        properties={key: str(value) for key, value in metadata["parameters"].items()},
    )
