"""The Open Inference Protocol's doors are the third and fourth doors to the same core.

An inference over REST (``/v2/.../infer``, JSON) and over gRPC (``inference.GRPCInferenceService``,
typed contents and raw contents) must reach the core as the same ``PredictRequest`` as the project's
own predict (REST ``/models/<id>/predict``, gRPC ``Predict``) for the same rows, and a refusal of the
core must come back as the error its table names. The recording stand-in of the core and both
servers run in this process, as in ``tests/test_parity.py``; no process is started.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import app_pb2
import app_pb2_grpc
import inference_pb2
import inference_pb2_grpc
from mlservice import errors
from mlservice.core import metrics
from mlservice.core.inputs import PredictRequest
from mlservice.grpc.status import status_code_for
from mlservice.rest.errors import http_status_for
from tests.test_parity import CALLER, TOKEN, RecordingCore, doors_in_front_of, leaf_errors, rows, struct

X = [[5.1, 3.5], [4.9, 3.0], [6.7, 3.1]]
DESCRIBED = {"model_id": "m1", "version": 2, "task": "classification", "classes": [0, 1], "probabilities": True,
             "features": [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "numeric"}]}  # fmt: skip
BOTH = ["predict", "predict_proba"]
Tensor = inference_pb2.ModelInferRequest.InferInputTensor
Contents = inference_pb2.InferTensorContents
InferRequest = inference_pb2.ModelInferRequest
Output = inference_pb2.ModelInferRequest.InferRequestedOutputTensor


class Core(RecordingCore):
    """The recording core, which also describes models."""

    def model_metadata(self, model_id, version=None, caller=None):
        self._record("model_metadata", model_id, version, caller)
        return DESCRIBED


@pytest.fixture(scope="module")
def doors(tmp_path_factory):
    """REST test client, the project's gRPC stub and the inference stub, in front of one recording core."""
    core = Core()
    with doors_in_front_of(core, tmp_path_factory.mktemp("parity-oip")) as (rest, channel):
        yield core, rest, app_pb2_grpc.MLServiceStub(channel), inference_pb2_grpc.GRPCInferenceServiceStub(channel)


METADATA = [("authorization", f"Bearer {TOKEN}")]


def normalised(call: tuple) -> tuple:
    """A recorded core call with array-valued X as lists of floats (NumPy rows and JSON rows are the same rows)."""
    name, *args = call
    shown = []
    for arg in args:
        if isinstance(arg, PredictRequest) and arg.X is not None:
            arg = PredictRequest(arg.model_id, X=np.asarray(arg.X, dtype=np.float64).tolist(), records=arg.records,
                                 version=arg.version, probabilities=arg.probabilities)  # fmt: skip
        shown.append(arg)
    return (name, *shown)


def v2_json(inputs, outputs=None, **extra):
    return {"id": "r1", "inputs": inputs, **({"outputs": [{"name": o} for o in outputs]} if outputs else {}), **extra}


def typed(name, datatype, shape, field, values):
    return Tensor(
        name=name, datatype=datatype, shape=shape, contents=inference_pb2.InferTensorContents(**{field: values})
    )


def raw_request(model, version, inputs, raws, outputs=None):
    return InferRequest(model_name=model, model_version=version, inputs=inputs, raw_input_contents=raws,
                                outputs=[Output(name=o) for o in outputs or []])  # fmt: skip


def run(core, calls) -> list[tuple]:
    core.calls.clear()
    core.fail_with = None
    for call in calls:
        call()
    return [normalised(call) for call in core.calls]


def test_rows_of_a_version_reach_the_core_as_the_projects_own_predict(doors):
    core, rest, stub, inference = doors
    flat = [value for row in X for value in row]
    calls = [
        lambda: rest.post("/models/m1/predict", json={"X": X, "version": 1}),
        lambda: stub.Predict(app_pb2.PredictRequest(model_id="m1", X=rows(X), version=1), metadata=METADATA),
        lambda: rest.post("/v2/models/m1/versions/1/infer", json=v2_json(
            [{"name": "input-0", "datatype": "FP64", "shape": [3, 2], "data": X}], BOTH)),
        lambda: inference.ModelInfer(inference_pb2.ModelInferRequest(
            model_name="m1", model_version="1", inputs=[typed("input-0", "FP64", [3, 2], "fp64_contents", flat)],
            outputs=[Output(name=o) for o in BOTH]), metadata=METADATA),
        lambda: inference.ModelInfer(raw_request(
            "m1", "1", [Tensor(name="input-0", datatype="FP64", shape=[3, 2])],
            [np.asarray(flat, dtype="<f8").tobytes()], BOTH), metadata=METADATA),
    ]  # fmt: skip
    expected = ("predict", PredictRequest("m1", X=X, version=1), CALLER)
    assert run(core, calls) == [expected] * 5


def test_named_records_reach_the_core_as_the_projects_own_predict(doors):
    core, rest, stub, inference = doors
    record = {"a": 1.5, "site": "north"}
    calls = [
        lambda: rest.post("/models/m1/predict", json={"records": [record]}),
        lambda: stub.Predict(app_pb2.PredictRequest(model_id="m1", records=[struct(record)]), metadata=METADATA),
        lambda: rest.post("/v2/models/m1/infer", json=v2_json(
            [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1.5]},
             {"name": "site", "datatype": "BYTES", "shape": [1, 1], "data": ["north"]}], BOTH)),
        lambda: inference.ModelInfer(inference_pb2.ModelInferRequest(model_name="m1", inputs=[
            typed("a", "FP64", [1], "fp64_contents", [1.5]), typed("site", "BYTES", [1], "bytes_contents", [b"north"])],
            outputs=[Output(name=o) for o in BOTH]), metadata=METADATA),
        lambda: inference.ModelInfer(raw_request(
            "m1", "", [Tensor(name="a", datatype="FP64", shape=[1]), Tensor(name="site", datatype="BYTES", shape=[1])],
            [np.asarray([1.5], dtype="<f8").tobytes(), b"\x05\x00\x00\x00north"], BOTH), metadata=METADATA),
    ]  # fmt: skip
    assert run(core, calls) == [("predict", PredictRequest("m1", records=[record]), CALLER)] * 5


def test_without_outputs_both_inference_doors_ask_for_labels_only(doors):
    core, rest, _, inference = doors
    calls = [
        lambda: rest.post("/v2/models/m1/infer", json=v2_json([{"name": "x", "datatype": "INT32", "shape": [1, 2],
                                                               "data": [[5, 3]]}])),
        lambda: inference.ModelInfer(inference_pb2.ModelInferRequest(
            model_name="m1", inputs=[typed("x", "INT32", [1, 2], "int_contents", [5, 3])]), metadata=METADATA),
    ]  # fmt: skip
    assert run(core, calls) == [("predict", PredictRequest("m1", X=[[5.0, 3.0]], probabilities=False), CALLER)] * 2


def test_model_metadata_and_readiness_ask_the_core_the_same_way(doors):
    core, rest, _, inference = doors
    calls = [
        lambda: rest.get("/v2/models/m1/versions/2"),
        lambda: rest.get("/v2/models/m1/versions/2/ready"),
        lambda: inference.ModelMetadata(inference_pb2.ModelMetadataRequest(name="m1", version="2"), metadata=METADATA),
        lambda: inference.ModelReady(inference_pb2.ModelReadyRequest(name="m1", version="2"), metadata=METADATA),
    ]
    assert run(core, calls) == [("model_metadata", "m1", 2, CALLER)] * 4


def test_answers_agree_across_the_inference_doors(doors):
    core, rest, _, inference = doors
    core.calls.clear()
    rest_answer = rest.post("/v2/models/m1/infer", json=v2_json(
        [{"name": "input-0", "datatype": "FP64", "shape": [2, 2], "data": [1, 2, 3, 4]}], BOTH)).json  # fmt: skip
    assert rest_answer == {"model_name": "m1", "model_version": "2", "id": "r1", "parameters": {}, "outputs": [
        {"name": "predict", "datatype": "INT64", "shape": [2, 1], "data": [1, 0]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2], "data": [0.25, 0.75, 0.5, 0.5]}]}  # fmt: skip
    flat = [1.0, 2.0, 3.0, 4.0]
    typed_answer = inference.ModelInfer(inference_pb2.ModelInferRequest(
        model_name="m1", id="r1", inputs=[typed("input-0", "FP64", [2, 2], "fp64_contents", flat)],
        outputs=[Output(name=o) for o in BOTH]), metadata=METADATA)  # fmt: skip
    assert not typed_answer.raw_output_contents and typed_answer.id == "r1"
    assert list(typed_answer.outputs[0].contents.int64_contents) == [1, 0]
    assert list(typed_answer.outputs[1].contents.fp64_contents) == [0.25, 0.75, 0.5, 0.5]
    raw_answer = inference.ModelInfer(raw_request(
        "m1", "", [Tensor(name="input-0", datatype="FP64", shape=[2, 2])], [np.asarray(flat, "<f8").tobytes()],
        BOTH), metadata=METADATA)  # fmt: skip
    assert [list(o.shape) for o in raw_answer.outputs] == [[2, 1], [2, 2]] and not raw_answer.outputs[
        0
    ].contents.ListFields()
    assert np.frombuffer(raw_answer.raw_output_contents[0], "<i8").tolist() == [1, 0]
    assert np.frombuffer(raw_answer.raw_output_contents[1], "<f8").tolist() == [0.25, 0.75, 0.5, 0.5]


@pytest.mark.parametrize(
    "error_class", [c for c in leaf_errors() if c is not errors.Cancelled], ids=lambda c: c.__name__
)
def test_a_refusal_of_the_core_is_the_same_error_kind_on_the_inference_doors(doors, error_class):
    core, rest, _, inference = doors
    core.fail_with = error_class(f"refused: {error_class.__name__}")
    try:
        response = rest.post("/v2/models/m1/infer", json=v2_json(
            [{"name": "x", "datatype": "FP64", "shape": [1, 1], "data": [1]}]))  # fmt: skip
        with pytest.raises(grpc.RpcError) as failure:
            inference.ModelInfer(
                inference_pb2.ModelInferRequest(
                    model_name="m1", inputs=[typed("x", "FP64", [1, 1], "fp64_contents", [1.0])]
                ),
                metadata=METADATA,
            )
    finally:
        core.fail_with = None
    assert response.status_code == http_status_for(error_class("x"))
    assert response.json == {"error": f"refused: {error_class.__name__}"}
    assert failure.value.code() == status_code_for(error_class("x"))
    assert failure.value.details() == f"refused: {error_class.__name__}"


def test_a_malformed_tensor_is_refused_at_the_door_in_the_protocols_words(doors):
    core, rest, _, inference = doors
    core.calls.clear()
    response = rest.post("/v2/models/m1/infer", json=v2_json([{"name": "x", "datatype": "FP64", "shape": [1, 2],
                                                                "data": [1]}]))  # fmt: skip
    assert response.status_code == 400 and "holds 2 values" in response.json["error"]
    with pytest.raises(grpc.RpcError) as failure:
        inference.ModelInfer(raw_request("m1", "", [Tensor(name="x", datatype="FP64", shape=[1, 2])], [b"\0" * 8]),
                             metadata=METADATA)  # fmt: skip
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "16 bytes" in failure.value.details()
    assert not core.calls  # the core never saw them


def test_health_and_server_metadata_need_no_credentials_but_inference_does(doors):
    _, rest, _, inference = doors
    anonymous = rest.application.test_client()
    assert anonymous.get("/v2/health/live").json == {"live": True}
    assert anonymous.get("/v2").json["name"] == "mlservice"
    refused = anonymous.post("/v2/models/m1/infer", json=v2_json([]))
    assert refused.status_code == 401 and "error" in refused.json
    assert inference.ServerLive(inference_pb2.ServerLiveRequest()).live is True


def test_requests_move_the_counters_by_protocol_operation_and_status(doors):
    _, rest, _, inference = doors

    def count(protocol, operation, status):
        return metrics.REQUESTS.labels(protocol, operation, status)._value.get()  # pylint: disable=protected-access

    before = (count("v2-rest", "v2.infer", "200"), count("v2-grpc", "ModelInfer", "OK"),
              count("rest", "models_predict", "200"))  # fmt: skip
    body = v2_json([{"name": "x", "datatype": "FP64", "shape": [1, 1], "data": [1]}])
    rest.post("/v2/models/m1/infer", json=body)
    rest.post("/models/m1/predict", json={"X": [[1.0]]})
    one = typed("x", "FP64", [1, 1], "fp64_contents", [1.0])
    inference.ModelInfer(inference_pb2.ModelInferRequest(model_name="m1", inputs=[one]), metadata=METADATA)
    after = (count("v2-rest", "v2.infer", "200"), count("v2-grpc", "ModelInfer", "OK"),
             count("rest", "models_predict", "200"))  # fmt: skip
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    scraped = rest.get("/metrics").data.decode()
    assert 'mlservice_requests_total{operation="v2.infer",protocol="v2-rest",status="200"}' in scraped
