"""Side by side with MLServer: the same model (trained through our REST API, the registered estimator handed
to MLServer's scikit-learn runtime), the same Open Inference Protocol requests to both servers, over REST
(JSON) and gRPC (typed and raw contents), must give the same predictions, shapes and datatypes.

MLServer runs from a venv of its own (``make mlserver``, or ``MLSERVER_BIN``); without it these
tests skip and say so.
"""

from __future__ import annotations

import json
import struct
import subprocess

import grpc
import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris

import inference_pb2
import inference_pb2_grpc
from mlservice.devstack.mlserver import MLServer, mlserver_python
from tests.conftest import API_TOKEN, AUTH_HEADERS, ROOT, MissingBinaries, authenticated

pytestmark = pytest.mark.integration

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.0, 2.2, 5.0, 1.5]]
Tensor = inference_pb2.ModelInferRequest.InferInputTensor
Output = inference_pb2.ModelInferRequest.InferRequestedOutputTensor


@pytest.fixture(scope="module")
def side_by_side(rest_server, service, log_dir, tmp_path_factory):
    """(our model id, MLServer serving the same estimator under that name)."""
    X, y = load_iris(return_X_y=True)
    trained = requests.post(f"{rest_server.url}/models/train", headers=AUTH_HEADERS, timeout=120,
                            json={"model_type": "logistic_regression", "X": X.tolist(), "y": y.tolist()})  # fmt: skip
    assert trained.status_code == 201, trained.text
    model_id = trained.json()["model_id"]
    estimator = service.predictor.loaded(model_id).estimator  # the registered version, as the servers load it
    try:
        reference = MLServer(estimator, model_id, tmp_path_factory.mktemp("mlserver"), log_dir, parallel_workers=0)
    except MissingBinaries as missing:
        pytest.skip(str(missing))
    reference.start_and_wait()
    yield model_id, reference
    reference.stop()


def infer_json(outputs: list[str]) -> dict:
    body = {"id": "side-1", "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(ROWS), 4], "data": ROWS}]}
    if outputs:
        body["outputs"] = [{"name": name} for name in outputs]
    return body


def tensors(answer: dict) -> dict[str, tuple]:
    return {o["name"]: (o["datatype"], o["shape"], np.asarray(o["data"]).ravel()) for o in answer["outputs"]}


@pytest.mark.parametrize("outputs", [["predict", "predict_proba"], ["predict"], []])
def test_rest_infer_answers_as_mlserver(side_by_side, rest_server, outputs):
    model_id, reference = side_by_side
    ours = requests.post(f"{rest_server.url}/v2/models/{model_id}/infer", headers=AUTH_HEADERS, timeout=30,
                         json=infer_json(outputs))  # fmt: skip
    theirs = requests.post(f"{reference.url}/v2/models/{model_id}/infer", json=infer_json(outputs), timeout=30)
    assert ours.status_code == theirs.status_code == 200, (ours.text, theirs.text)
    ours_tensors, their_tensors = tensors(ours.json()), tensors(theirs.json())
    assert ours.json()["id"] == theirs.json()["id"] == "side-1"
    assert set(ours_tensors) == set(their_tensors) == set(outputs or ["predict"])
    for name, (datatype, shape, data) in their_tensors.items():
        assert ours_tensors[name][:2] == (datatype, shape), name
        np.testing.assert_allclose(ours_tensors[name][2], data, rtol=0, atol=1e-12)


def grpc_request(model_id: str, raw: bool) -> inference_pb2.ModelInferRequest:
    values = [v for row in ROWS for v in row]
    outputs = [Output(name="predict"), Output(name="predict_proba")]
    request = inference_pb2.ModelInferRequest(model_name=model_id, id="side-2", outputs=outputs)
    if raw:
        request.inputs.append(Tensor(name="input-0", datatype="FP64", shape=[len(ROWS), 4]))
        request.raw_input_contents.append(struct.pack(f"<{len(values)}d", *values))
    else:
        request.inputs.append(Tensor(name="input-0", datatype="FP64", shape=[len(ROWS), 4],
                                     contents=inference_pb2.InferTensorContents(fp64_contents=values)))  # fmt: skip
    return request


def decoded(answer: inference_pb2.ModelInferResponse) -> dict[str, tuple]:
    kinds = {"INT64": ("<i8", "int64_contents"), "FP64": ("<f8", "fp64_contents")}
    found = {}
    for index, output in enumerate(answer.outputs):
        dtype, field = kinds[output.datatype]
        if answer.raw_output_contents:
            data = np.frombuffer(answer.raw_output_contents[index], dtype=dtype)
        else:
            data = np.asarray(getattr(output.contents, field))
        found[output.name] = (output.datatype, list(output.shape), data)
    return found


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
def test_grpc_model_infer_answers_as_mlserver(side_by_side, grpc_server_process, raw):
    model_id, reference = side_by_side
    with (
        grpc.insecure_channel(grpc_server_process.url) as ours_channel,
        grpc.insecure_channel(reference.grpc_target) as their_channel,
    ):
        ours = inference_pb2_grpc.GRPCInferenceServiceStub(authenticated(ours_channel)).ModelInfer(
            grpc_request(model_id, raw), timeout=30
        )
        theirs = inference_pb2_grpc.GRPCInferenceServiceStub(their_channel).ModelInfer(
            grpc_request(model_id, raw), timeout=30
        )
    assert ours.id == theirs.id == "side-2"
    assert bool(ours.raw_output_contents) == bool(theirs.raw_output_contents) == raw  # answered in the request's form
    ours_tensors, their_tensors = decoded(ours), decoded(theirs)
    assert set(ours_tensors) == set(their_tensors) == {"predict", "predict_proba"}
    for name, (datatype, shape, data) in their_tensors.items():
        assert ours_tensors[name][:2] == (datatype, shape), name
        np.testing.assert_allclose(ours_tensors[name][2], data, rtol=0, atol=1e-12)


def test_metadata_and_errors_as_mlserver(side_by_side, rest_server):
    model_id, reference = side_by_side
    ours = requests.get(f"{rest_server.url}/v2/models/{model_id}", headers=AUTH_HEADERS, timeout=30).json()
    theirs = requests.get(f"{reference.url}/v2/models/{model_id}", timeout=30).json()
    assert ours["name"] == theirs["name"] == model_id
    missing = "no-such-model"
    ours_missing = requests.post(f"{rest_server.url}/v2/models/{missing}/infer", headers=AUTH_HEADERS, timeout=30,
                                 json=infer_json([]))  # fmt: skip
    theirs_missing = requests.post(f"{reference.url}/v2/models/{missing}/infer", json=infer_json([]), timeout=30)
    assert ours_missing.status_code == theirs_missing.status_code == 404
    assert set(ours_missing.json()) == set(theirs_missing.json()) == {"error"}


def test_mlserver_types_and_codecs_get_what_our_own_predict_answers(
    side_by_side, rest_server, grpc_server_process, service
):
    """Requests built by MLServer's own codecs (NumpyRequestCodec, PandasCodec) and its gRPC converters,
    answers read back with its types: the project's own predict's predictions and probabilities."""
    model_id, _ = side_by_side
    columns = [feature["name"] for feature in service.predictor.describe(model_id)["features"]]
    spec = {"http": rest_server.url, "grpc": grpc_server_process.url, "token": API_TOKEN, "model": model_id,
            "rows": ROWS, "columns": columns}  # fmt: skip
    run = subprocess.run([mlserver_python(), "tests/mlserver_types_client.py", json.dumps(spec)], cwd=ROOT,
                         capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    own = requests.post(f"{rest_server.url}/models/{model_id}/predict", headers=AUTH_HEADERS, json={"X": ROWS},
                        timeout=30).json()  # fmt: skip
    for form in ("rest_numpy", "rest_pandas", "grpc_numpy"):
        assert np.ravel(got[form]["predict"]).tolist() == own["predictions"], form
        np.testing.assert_allclose(got[form]["predict_proba"], own["probabilities"], rtol=0, atol=1e-12)
