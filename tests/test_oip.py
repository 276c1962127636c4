"""The Open Inference Protocol's shared part: tensor encodings, requests to the core, answers and metadata."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mlservice.core.inputs import PredictRequest
from mlservice.errors import InvalidInput
from mlservice.oip import dataplane
from mlservice.oip.dataplane import InferRequest
from mlservice.oip.tensors import Tensor, as_output, check_header, from_raw, from_values, to_raw


def tensor(name="input-0", datatype="FP64", shape=(2, 2)) -> Tensor:
    return Tensor(*check_header(name, datatype, list(shape)))


# --- tensors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [[1, 2, 3, 4], [[1, 2], [3, 4]], [[[1, 2]], [[3, 4]]]], ids=["flat", "nested", "deep"])
def test_json_data_flat_or_nested_is_row_major(data):
    decoded = from_values(tensor(), data)
    assert decoded.dtype == np.float64 and decoded.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("datatype", "dtype"), [("FP32", np.float32), ("INT64", np.int64), ("INT8", np.int8), ("UINT16", np.uint16),
                            ("BOOL", np.bool_), ("FP16", np.float16)],
)  # fmt: skip
def test_each_numeric_datatype_decodes_to_its_dtype(datatype, dtype):
    assert from_values(tensor(datatype=datatype, shape=[1, 2]), [1, 0]).dtype == dtype


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (("", "FP64", [1]), "needs a name"),
        (("x", "BF16", [1]), "not supported"),
        (("x", "FP64", []), "shape"),
        (("x", "FP64", [-1, 2]), "shape"),
        (("x", "FP64", [1.5]), "shape"),
        (("x", "FP64", [True]), "shape"),
        (("x", "FP64", "1,2"), "shape"),
    ],
)
def test_malformed_headers_are_invalid_input(header, problem):
    with pytest.raises(InvalidInput, match=problem):
        check_header(*header)


def test_data_must_fill_the_shape_and_match_the_datatype():
    with pytest.raises(InvalidInput, match=r"holds 4 values, but 3 were sent"):
        from_values(tensor(), [1, 2, 3])
    with pytest.raises(InvalidInput, match="must be numbers"):
        from_values(tensor(shape=[1, 2]), ["a", "b"])
    with pytest.raises(InvalidInput, match="must be strings"):
        from_values(tensor(datatype="BYTES", shape=[1]), [1])


def test_bytes_are_always_text():
    assert from_values(tensor(datatype="BYTES", shape=[2]), ["red", b"blue"]) == ["red", "blue"]
    with pytest.raises(InvalidInput, match="UTF-8"):
        from_values(tensor(datatype="BYTES", shape=[1]), [b"\xff"])


def test_raw_numeric_contents_are_little_endian_and_sized_by_the_shape():
    values = np.array([5.1, 3.5, 1.4, 0.2], dtype="<f4")
    decoded = from_raw(tensor(datatype="FP32", shape=[1, 4]), values.tobytes())
    assert decoded.tolist() == values.tolist()
    with pytest.raises(InvalidInput, match="needs 16 bytes of raw contents, got 12"):
        from_raw(tensor(datatype="FP32", shape=[1, 4]), values.tobytes()[:12])


def test_raw_bytes_are_length_prefixed():
    raw = b"".join(struct.pack("<I", len(v)) + v for v in (b"red", b"", "grün".encode()))
    assert from_raw(tensor(datatype="BYTES", shape=[3]), raw) == ["red", "", "grün"]
    assert to_raw(["red", "", "grün"]) == raw
    with pytest.raises(InvalidInput, match="length prefix"):
        from_raw(tensor(datatype="BYTES", shape=[3]), raw[:-5] + b"\x01")
    with pytest.raises(InvalidInput, match="holds 2 values, but 3"):
        from_raw(tensor(datatype="BYTES", shape=[2]), raw)


@pytest.mark.parametrize(
    ("array", "datatype", "values"),
    [
        (np.array([0, 2]), "INT64", [0, 2]),
        (np.array([0, 2], dtype=np.int32), "INT64", [0, 2]),
        (np.array([0.5, 1.5]), "FP64", [0.5, 1.5]),
        (np.array(["setosa", "virginica"], dtype=object), "BYTES", ["setosa", "virginica"]),
        (np.array([True, False]), "BOOL", [True, False]),
    ],
)
def test_outputs_take_the_datatype_of_their_values(array, datatype, values):
    found, flat = as_output(array)
    assert found == datatype
    assert (flat.tolist() if isinstance(flat, np.ndarray) else flat) == values
    if datatype == "INT64":
        assert to_raw(flat) == np.asarray(values, dtype="<i8").tobytes()


# --- requests to the core ---------------------------------------------------------------------------


def decoded(name: str, datatype: str, shape: list[int], values) -> Tensor:
    made = Tensor(*check_header(name, datatype, shape))
    made.data = from_values(made, values)
    return made


def test_one_rows_by_features_tensor_is_the_rows_of_x():
    request = InferRequest("m1", "3", inputs=[decoded("input-0", "FP64", [2, 2], [1, 2, 3, 4])])
    asked = dataplane.predict_request(request)
    assert (asked.model_id, asked.version, asked.records, asked.probabilities) == ("m1", 3, None, False)
    assert asked.X.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_text_rows_stay_lists_of_text():
    request = InferRequest("m1", inputs=[decoded("x", "BYTES", [2, 1], ["a", "b"])], outputs=["predict_proba"])
    assert dataplane.predict_request(request) == PredictRequest("m1", X=[["a"], ["b"]], probabilities=True)


def test_a_tensor_per_feature_is_named_records():
    request = InferRequest(
        "m1", inputs=[decoded("length", "FP32", [2], [1.5, 2.5]), decoded("site", "BYTES", [2, 1], ["n", "s"])]
    )
    assert dataplane.predict_request(request) == PredictRequest(
        "m1", records=[{"length": 1.5, "site": "n"}, {"length": 2.5, "site": "s"}], probabilities=False
    )


def test_pandas_content_type_makes_even_one_tensor_a_column():
    request = InferRequest("m1", inputs=[decoded("a", "INT64", [2], [1, 2])], parameters={"content_type": "pd"})
    assert dataplane.predict_request(request).records == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("inputs", "outputs", "problem"),
    [
        ([], None, "at least one input"),
        ([decoded("x", "FP64", [4], [1, 2, 3, 4])], None, r"shape \[rows, features\]"),
        ([decoded("a", "FP64", [1], [1]), decoded("a", "FP64", [1], [2])], None, "unique"),
        ([decoded("a", "FP64", [2, 2], [1, 2, 3, 4]), decoded("b", "FP64", [1], [2])], None, r"\[rows\] or"),
        ([decoded("a", "FP64", [2], [1, 2]), decoded("b", "FP64", [1], [2])], None, "same number of rows"),
        ([decoded("x", "FP64", [1, 1], [1])], ["transform"], "unknown output 'transform'"),
    ],
)
def test_requests_the_protocol_refuses(inputs, outputs, problem):
    with pytest.raises(InvalidInput, match=problem):
        dataplane.predict_request(InferRequest("m1", inputs=inputs, outputs=outputs))


def test_versions_are_numbers_when_they_are_numbers():
    assert [dataplane.model_version(v) for v in (None, "", "7", "v7")] == [None, None, 7, "v7"]


def test_output_tensors_as_asked_with_labels_as_a_column():
    result = {"model_id": "m1", "version": 2, "predictions": np.array([1, 0]),
              "probabilities": np.array([[0.25, 0.75], [0.5, 0.5]])}  # fmt: skip
    default = dataplane.output_tensors(result, None)
    assert [(t.name, t.datatype, t.shape, t.data.tolist()) for t in default] == [("predict", "INT64", [2, 1], [1, 0])]
    both = dataplane.output_tensors(result, ["predict_proba", "predict", "predict_proba"])
    assert [(t.name, t.shape) for t in both] == [("predict_proba", [2, 2]), ("predict", [2, 1])]
    with pytest.raises(InvalidInput, match="no class probabilities"):
        dataplane.output_tensors({"model_id": "r", "predictions": np.array([1.5])}, ["predict_proba"])


# --- metadata -----------------------------------------------------------------------------------------


def described(kinds: dict[str, str], classes=None, task="classification"):
    return {"model_id": "m1", "version": 4, "task": task, "classes": classes, "probabilities": classes is not None,
            "features": [{"name": name, "kind": kind} for name, kind in kinds.items()]}  # fmt: skip


def test_numeric_models_list_one_rows_by_features_tensor():
    metadata = dataplane.model_metadata(described({"a": "numeric", "b": "numeric"}, classes=[0, 1, 2]))
    assert metadata["name"] == "m1" and metadata["versions"] == ["4"] and metadata["platform"] == "sklearn"
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]},
                                   {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}]  # fmt: skip


def test_models_with_text_columns_list_a_tensor_per_feature():
    metadata = dataplane.model_metadata(described({"a": "numeric", "site": "categorical"}, classes=["x", "y"]))
    assert metadata["inputs"] == [{"name": "a", "datatype": "FP64", "shape": [-1, 1]},
                                  {"name": "site", "datatype": "BYTES", "shape": [-1, 1]}]  # fmt: skip
    assert metadata["outputs"][0]["datatype"] == "BYTES" and metadata["parameters"]["content_type"] == "pd"
    regression = dataplane.model_metadata(described({"a": "numeric"}, task="regression"))
    assert regression["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1, 1]}]


def test_server_metadata_names_the_project_version():
    import tomllib  # pylint: disable=import-outside-toplevel

    from tests.conftest import ROOT  # pylint: disable=import-outside-toplevel

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert dataplane.server_metadata() == {"name": "mlservice", "version": version, "extensions": []}
