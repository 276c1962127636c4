"""The Open Inference Protocol over the core: an inference request as the core's ``PredictRequest``, the
core's answer as output tensors, a model's description as the protocol's metadata.

Both doors (REST ``/v2/...`` in ``mlservice.rest.v2_routes``, gRPC ``inference.GRPCInferenceService``
in ``mlservice.grpc.inference_servicer``) decode their tensors (``mlservice.oip.tensors``) and call
these functions, then the core facade, exactly as the project's own predict does: the core checks
and types the features. Inputs, as MLServer's scikit-learn runtime takes them:

- one tensor ``[rows, features]`` (any numeric datatype, or BYTES): the rows in the model's feature
  order, i.e. ``PredictRequest.X``;
- one tensor per feature, named after it, shape ``[rows]`` or ``[rows, 1]`` (BYTES, always read as
  UTF-8 text, for categorical columns), or any tensors with the request parameter
  ``content_type: "pd"``: named records, i.e. ``PredictRequest.records``.

Outputs: ``predict`` (the default, as MLServer) and, for classifiers, ``predict_proba``; chosen with
``outputs``. Class probabilities are computed only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlservice.core.inputs import PredictRequest
from mlservice.errors import InvalidInput
from mlservice.oip.tensors import BYTES, Tensor, as_output

SERVER_NAME = "mlservice"
SERVER_VERSION = "0.1.0"  # the project's version (pyproject.toml)
PLATFORM = "sklearn"
PREDICT, PREDICT_PROBA = "predict", "predict_proba"
OUTPUT_NAMES = (PREDICT, PREDICT_PROBA)


@dataclass
class InferRequest:
    """An inference request as either door received it, its tensors decoded (``Tensor.data`` is an array)."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[str] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def server_metadata() -> dict[str, Any]:
    """``GET /v2`` / ``ServerMetadata``."""
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []}


def requested_outputs(names: Sequence[str] | None) -> list[str]:
    """The outputs asked for, in order (default: ``predict``), each named once.

    Raises:
        InvalidInput: a name this server does not answer.
    """
    if not names:
        return [PREDICT]
    chosen: list[str] = []
    for name in names:
        if name not in OUTPUT_NAMES:
            shown = str(name)[:60]
            raise InvalidInput(f"unknown output '{shown}': the outputs are {', '.join(OUTPUT_NAMES)}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def model_version(version: str | None) -> int | str | None:
    """A version as the project's own predict passes it: a number when it is one (the core checks the rest)."""
    if version is None or version == "":
        return None
    return int(version) if version.isdigit() else version


def predict_request(request: InferRequest) -> PredictRequest:
    """The core's request for an inference request: ``X`` from one ``[rows, features]`` tensor, else ``records``.

    Raises:
        InvalidInput: no inputs, an input of the wrong shape, tensors of different row counts.
    """
    outputs = requested_outputs(request.outputs)
    version = model_version(request.model_version)
    probabilities = PREDICT_PROBA in outputs
    if not request.inputs:
        raise InvalidInput("send at least one input tensor")
    names = [tensor.name for tensor in request.inputs]
    if len(set(names)) != len(names):
        raise InvalidInput("input tensor names must be unique")
    if len(request.inputs) == 1 and request.parameters.get("content_type") != "pd":
        X = _rows(request.inputs[0])
        return PredictRequest(request.model_name, X=X, version=version, probabilities=probabilities)
    records = _records(request.inputs)
    return PredictRequest(request.model_name, records=records, version=version, probabilities=probabilities)


def _rows(tensor: Tensor) -> Any:
    if len(tensor.shape) != 2:
        raise InvalidInput(
            f"tensor '{tensor.name}': one input tensor must have shape [rows, features], got {tensor.shape}; "
            "or send one tensor per feature, named after it"
        )
    n_rows, n_features = tensor.shape
    values = tensor.data
    if isinstance(values, np.ndarray):
        return values.reshape(n_rows, n_features)
    return [values[row * n_features : (row + 1) * n_features] for row in range(n_rows)]


def _records(tensors: list[Tensor]) -> list[dict[str, Any]]:
    columns = []
    for tensor in tensors:
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInput(
                f"tensor '{tensor.name}': a tensor per feature must have shape [rows] or [rows, 1], got {tensor.shape}"
            )
        values = tensor.data
        columns.append(values.tolist() if isinstance(values, np.ndarray) else values)
    rows = {len(column) for column in columns}
    if len(rows) != 1:
        raise InvalidInput("every input tensor must have the same number of rows")
    names = [tensor.name for tensor in tensors]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def output_tensors(result: dict[str, Any], outputs: Sequence[str] | None) -> list[Tensor]:
    """The core's prediction result as the output tensors asked for (flat values, shape ``[rows, 1]`` for
    labels as MLServer gives them, ``[rows, classes]`` for probabilities).

    Raises:
        InvalidInput: ``predict_proba`` asked of a model that gives no probabilities.
    """
    tensors = []
    for name in requested_outputs(outputs):
        array = result["predictions"] if name == PREDICT else result.get("probabilities")
        if array is None:
            raise InvalidInput(f"model '{result['model_id']}' gives no class probabilities (predict_proba)")
        datatype, values = as_output(array)
        shape = [int(array.shape[0]), 1] if array.ndim == 1 else [int(d) for d in array.shape]
        tensors.append(Tensor(name, datatype, shape, values))
    return tensors


def label_datatype(described: dict[str, Any]) -> str:
    """The datatype of a model's ``predict`` output: numbers for regression, INT64 or BYTES class labels."""
    classes = described.get("classes")
    if described.get("task") != "classification" or classes is None:
        return "FP64"
    return "INT64" if all(isinstance(c, int) and not isinstance(c, bool) for c in classes) else BYTES


def model_metadata(described: dict[str, Any]) -> dict[str, Any]:
    """The protocol's model metadata from the core's description of a version (``ModelService.model_metadata``).

    Numeric-only models list one ``[-1, features]`` FP64 tensor (``input-0``); models with categorical
    columns list one tensor per feature (BYTES for text). Both forms are accepted either way.
    """
    features = described["features"]
    numeric = all(feature["kind"] == "numeric" for feature in features)
    if numeric:
        inputs = [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(features)]}]
    else:
        inputs = [
            {"name": f["name"], "datatype": BYTES if f["kind"] == "categorical" else "FP64", "shape": [-1, 1]}
            for f in features
        ]
    outputs = [{"name": PREDICT, "datatype": label_datatype(described), "shape": [-1, 1]}]
    if described.get("probabilities"):
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(described["classes"])]})
    return {
        "name": described["model_id"],
        "versions": [str(described["version"])],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"content_type": "np" if numeric else "pd", "task": described["task"]},
    }
