"""MLServer's own request types against our Open Inference Protocol doors: run with MLServer's Python (its
venv, ``make mlserver``) by ``tests/test_oip_mlserver.py``, since MLServer cannot be imported here.

Usage: ``<mlserver venv>/bin/python tests/mlserver_types_client.py '<json spec>'`` with
``{"http": "http://host:port", "grpc": "host:port", "token": ..., "model": ..., "rows": [[...]], "columns": [...]}``;
prints one JSON object: what MLServer's codecs decoded from our answers.

Requests are built by MLServer's codecs (``NumpyRequestCodec``: one ``[rows, features]`` tensor;
``PandasCodec``: one tensor per column, ``content_type: pd``), sent as MLServer's client would (REST
JSON from its pydantic types; gRPC through MLServer's own converters and ``dataplane_pb2`` stub), and the
answers read back with MLServer's types and codecs.
"""

from __future__ import annotations

import json
import sys
import urllib.request

import grpc
import numpy as np
import pandas as pd

# MLServer lives in a venv of its own (make mlserver); the project's lint runs without it.
from mlserver.codecs import NumpyCodec, NumpyRequestCodec, PandasCodec  # pylint: disable=import-error
from mlserver.grpc import dataplane_pb2_grpc  # pylint: disable=import-error
from mlserver.grpc.converters import (  # pylint: disable=import-error
    ModelInferRequestConverter,
    ModelInferResponseConverter,
)
from mlserver.types import InferenceResponse, RequestOutput  # pylint: disable=import-error


def rest_infer(spec: dict, request) -> InferenceResponse:
    """POST an MLServer ``InferenceRequest`` to our REST door, with the token; the answer as MLServer's type."""
    call = urllib.request.Request(  # noqa: S310  # the test's own loopback server
        f"{spec['http']}/v2/models/{spec['model']}/infer",
        data=request.model_dump_json(exclude_none=True).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {spec['token']}"},
        method="POST",
    )
    with urllib.request.urlopen(call, timeout=30) as answer:  # noqa: S310
        return InferenceResponse.model_validate_json(answer.read())


def decoded(response: InferenceResponse) -> dict:
    return {output.name: NumpyCodec.decode_output(output).tolist() for output in response.outputs}


def main() -> None:
    spec = json.loads(sys.argv[1])
    rows = np.asarray(spec["rows"], dtype=np.float64)
    outputs = [RequestOutput(name="predict"), RequestOutput(name="predict_proba")]
    as_array = NumpyRequestCodec.encode_request(rows)
    as_array.outputs = outputs
    as_frame = PandasCodec.encode_request(pd.DataFrame(rows, columns=spec["columns"]))
    as_frame.outputs = outputs
    got = {"rest_numpy": decoded(rest_infer(spec, as_array)), "rest_pandas": decoded(rest_infer(spec, as_frame))}
    with grpc.insecure_channel(spec["grpc"]) as channel:
        stub = dataplane_pb2_grpc.GRPCInferenceServiceStub(channel)
        message = ModelInferRequestConverter.from_types(as_array, model_name=spec["model"], model_version=None)
        answer = stub.ModelInfer(message, metadata=(("authorization", f"Bearer {spec['token']}"),), timeout=30)
        got["grpc_numpy"] = decoded(ModelInferResponseConverter.to_types(answer))
    print(json.dumps(got))


if __name__ == "__main__":
    main()
