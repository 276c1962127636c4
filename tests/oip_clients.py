"""Triton's tritonclient against an Open Inference Protocol server: run as a separate process by
``tests/test_oip_clients.py`` (tritonclient's generated ``inference`` messages and ours cannot share one
Python process: protobuf refuses the same message names twice).

Usage: ``python tests/oip_clients.py '<json spec>'``; prints one JSON object with what the clients got.
Spec: ``{"http": "host:port", "grpc": "host:port", "token": ..., "numeric": {"model", "rows"},
"mixed": {"model", "columns": {name: [values]}, "text": [names]}}``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException


def _refusal(call) -> str:
    try:
        call()
    except InferenceServerException as exc:
        return str(exc.status() or exc.message())
    return "accepted"


def http_side(spec: dict) -> dict:
    """tritonclient.http with binary_data=False (JSON tensors), authenticated by header."""
    client = triton_http.InferenceServerClient(spec["http"])
    auth = {"Authorization": f"Bearer {spec['token']}"}
    numeric = spec["numeric"]
    rows = np.asarray(numeric["rows"], dtype=np.float64)
    tensor = triton_http.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    outputs = [triton_http.InferRequestedOutput(name, binary_data=False) for name in ("predict", "predict_proba")]
    answer = client.infer(numeric["model"], [tensor], outputs=outputs, request_id="http-1", headers=auth)
    mixed = spec["mixed"]
    inputs = []
    for name, values in mixed["columns"].items():
        array = np.asarray(values, dtype=object if name in mixed["text"] else np.float64)
        column = triton_http.InferInput(name, [len(values)], "BYTES" if name in mixed["text"] else "FP64")
        column.set_data_from_numpy(array, binary_data=False)
        inputs.append(column)
    labels = client.infer(mixed["model"], inputs, outputs=outputs[:1], headers=auth)
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(numeric["model"], headers=auth),
        "metadata": client.get_model_metadata(numeric["model"], headers=auth),
        "id": answer.get_response()["id"],
        "predict": answer.as_numpy("predict").ravel().tolist(),
        "predict_proba": answer.as_numpy("predict_proba").tolist(),
        "mixed_predict": [v.decode() if isinstance(v, bytes) else v for v in labels.as_numpy("predict").ravel()],
        "without_token": _refusal(lambda: client.infer(numeric["model"], [tensor], outputs=outputs)),
        "unknown_model": _refusal(lambda: client.infer("no-such-model", [tensor], outputs=outputs, headers=auth)),
    }


def grpc_side(spec: dict) -> dict:
    """tritonclient.grpc (raw tensors, as it always sends them), authenticated by call metadata."""
    client = triton_grpc.InferenceServerClient(spec["grpc"])
    auth = {"authorization": f"Bearer {spec['token']}"}
    numeric = spec["numeric"]
    rows = np.asarray(numeric["rows"], dtype=np.float64)
    tensor = triton_grpc.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    outputs = [triton_grpc.InferRequestedOutput(name) for name in ("predict", "predict_proba")]
    answer = client.infer(numeric["model"], [tensor], outputs=outputs, request_id="grpc-1", headers=auth)
    mixed = spec["mixed"]
    inputs = []
    for name, values in mixed["columns"].items():
        text = name in mixed["text"]
        array = np.asarray([v.encode() for v in values] if text else values, dtype=object if text else np.float64)
        column = triton_grpc.InferInput(name, [len(values)], "BYTES" if text else "FP64")
        column.set_data_from_numpy(array)
        inputs.append(column)
    labels = client.infer(mixed["model"], inputs, outputs=outputs[:1], headers=auth)
    metadata = client.get_model_metadata(numeric["model"], headers=auth, as_json=True)
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(numeric["model"], headers=auth),
        "metadata": metadata,
        "id": answer.get_response().id,
        "raw_outputs": len(answer.get_response().raw_output_contents),
        "predict": answer.as_numpy("predict").ravel().tolist(),
        "predict_proba": answer.as_numpy("predict_proba").tolist(),
        "mixed_predict": [v.decode() if isinstance(v, bytes) else v for v in labels.as_numpy("predict").ravel()],
        "wrong_token": _refusal(
            lambda: client.infer(numeric["model"], [tensor], headers={"authorization": "Bearer wrong"})
        ),
        "unknown_model": _refusal(lambda: client.infer("no-such-model", [tensor], headers=auth)),
    }


def main() -> None:
    """Run both clients against the servers the spec names; print what they got."""
    spec = json.loads(sys.argv[1])
    print(json.dumps({"http": http_side(spec), "grpc": grpc_side(spec)}))  # noqa: T201


if __name__ == "__main__":
    main()
