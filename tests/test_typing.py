"""Wrongly typed feature values never become a 5xx / INTERNAL, on any predict path of either front end.

Four models are trained once (numeric features from inline rows; a dataset with only text features; a
mixed dataset; a mixed dataset with imputation), then values of every JSON kind are thrown at REST (JSON
rows, JSON records, CSV upload) and gRPC (rows, records, packed values). Hypothesis generates the values;
the answer must be a 200 or a 4xx / INVALID_ARGUMENT, and where the values are plainly of the wrong kind
it must be a 400 that names the feature. The REST app runs in Flask's test client and the gRPC server in
this process, both over one real core (MLflow server on PostgreSQL + S3).
"""

from __future__ import annotations

import csv
import io
import json
import math
import string
import uuid
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app_pb2
import app_pb2_grpc
from mlservice.grpc.server import build_server
from mlservice.identity.principal import Principal
from mlservice.rest.app import create_app
from tests.conftest import AUTH_HEADERS, free_port, train

pytestmark = pytest.mark.integration

SITES = ["north", "south"]
COLOURS = ["red", "green", "blue"]


@dataclass(frozen=True)
class Model:
    """A trained model and what its features are."""

    model_id: str
    features: tuple[str, ...]  # in the model's order
    imputes: bool = False

    @property
    def text(self) -> tuple[str, ...]:
        return tuple(name for name in self.features if name in ("site", "colour"))

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(name for name in self.features if name not in self.text)


def dataset_csv(columns: list[str], rows: int = 24) -> bytes:
    """Rows of numbers (size, weight), text (site, colour) and a label the features explain."""
    lines = [",".join([*columns, "label"])]
    for i in range(rows):
        values = {"size": f"{1 + i % 7}.5", "weight": str(10 + i % 5), "site": SITES[i % 2], "colour": COLOURS[i % 3]}
        lines.append(",".join([*(values[c] for c in columns), "yes" if i % 2 else "no"]))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def core(settings):
    """The core with a registry TTL: the models do not change here, so predictions need not ask MLflow."""
    from models import ModelService  # pylint: disable=import-outside-toplevel

    return ModelService(settings.model_copy(update={"registry_ttl_seconds": 600}))


@pytest.fixture(scope="module")
def models(core):
    """The four models; deleted (with their datasets) afterwards."""
    service = core
    owner = Principal.service("tests")
    suffix = uuid.uuid4().hex[:6]
    made, uploaded = [], []
    try:
        inline = train(service, "logistic_regression", X=[[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]] * 3,
                       y=[0, 1, 0, 1] * 3, feature_names=["size", "weight"])  # fmt: skip
        made.append(Model(inline["model_id"], ("size", "weight")))
        for columns, impute in ((["site", "colour"], False), (["size", "site", "weight"], False),
                                (["size", "colour", "site"], True)):  # fmt: skip
            record = service.upload_dataset(f"typing-{suffix}-{len(uploaded)}", dataset_csv(columns), owner)
            uploaded.append(record)
            result = train(service, "logistic_regression", dataset=f"{record['name']}@{record['version']}",
                           target="label", impute=impute)  # fmt: skip
            made.append(Model(result["model_id"], tuple(columns), impute))
        yield made
    finally:
        for model in made:
            service.delete_model(model.model_id)
        for record in uploaded:
            service.delete_dataset(record["name"], record["version"])


@pytest.fixture(scope="module")
def rest(settings, core):
    client = create_app(settings, service=core).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    return client


@pytest.fixture(scope="module")
def stub(settings, core):
    server, port = build_server(settings.model_copy(update={"grpc_port": free_port()}), core)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield app_pb2_grpc.MLServiceStub(channel)
    channel.close()
    server.stop(grace=None)


def struct(record: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(record)
    return message


# --- the reproduction of issue 16 ----------------------------------------------------------------------


def test_a_number_for_a_text_feature_is_a_400_naming_it_over_rest_and_grpc(models, rest, stub):
    """A model trained with a text column `site` (north/south) answered {"site": 0} with a 500."""
    mixed = models[2]
    record = {"size": 1.5, "site": 0, "weight": 11}
    response = rest.post(f"/models/{mixed.model_id}/predict", json={"records": [record]})
    assert response.status_code == 400, response.json
    assert "feature 'site' is categorical" in response.json["message"]
    assert "'north', 'south'" in response.json["message"]  # the known categories, to pick from
    with pytest.raises(grpc.RpcError) as refused:
        stub.Predict(app_pb2.PredictRequest(model_id=mixed.model_id, records=[struct(record)]), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "feature 'site' is categorical" in refused.value.details()
    with pytest.raises(grpc.RpcError) as rows:
        stub.Predict(app_pb2.PredictRequest(model_id=mixed.model_id, X=[app_pb2.FeatureArray(values=[1.5, 0, 11])]),
                     timeout=30)  # fmt: skip
    assert rows.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'site'" in rows.value.details()
    fine = rest.post(f"/models/{mixed.model_id}/predict", json={"records": [{**record, "site": "west"}]})
    assert fine.status_code == 200 and fine.json["predictions"][0] in ("yes", "no")  # unknown text: no category


def test_csv_with_a_numeric_looking_category_and_a_text_in_a_number_column(models, rest):
    mixed = models[2]
    good = b"size,site,weight\n1.5,north,10\n2.5,7,11\n"  # '7' is an unknown category, not a wrong type
    response = rest.post(f"/models/{mixed.model_id}/predict/csv", data={"file": (io.BytesIO(good), "x.csv")},
                         content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 200 and len(response.json["predictions"]) == 2
    bad = b"size,site,weight\n1.5,north,10\nlarge,south,11\n"
    response = rest.post(f"/models/{mixed.model_id}/predict/csv", data={"file": (io.BytesIO(bad), "x.csv")},
                         content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 400
    assert response.json["message"] == "feature 'size' must be numeric: line 3 of the CSV has 'large'"


# --- the property ----------------------------------------------------------------------------------------

LETTERS = st.text(alphabet=string.ascii_letters + " _-", max_size=8)  # text that can never read as a number
ANY_VALUE = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    LETTERS,
    st.text(max_size=8),
    st.sampled_from(["1", "2.5", "1e3", "nan", "inf", "-0", " 3 ", *SITES, *COLOURS]),
    st.lists(st.integers(min_value=0, max_value=9), max_size=2),
    st.dictionaries(st.sampled_from("ab"), st.integers(min_value=0, max_value=9), max_size=1),
)


def plainly_wrong(model: Model, record: dict) -> str | None:
    """What a 400 must name when the record is plainly wrong (None when it may be fine): the missing or
    unknown features first, as the core checks them first, else "feature '" (some feature by name)."""
    if set(record) != set(model.features):
        return "missing" if set(model.features) - set(record) else "unknown"
    for name, value in record.items():
        wrong_kind = (
            isinstance(value, (list, dict))
            or (value is None and not model.imputes)
            or (name in model.text and isinstance(value, (int, float)))  # bools too
            or (name in model.numeric and isinstance(value, str) and not any(ch.isdigit() for ch in value))
        )
        if wrong_kind:
            return "feature '"
    return None


def plainly_right(model: Model, record: dict) -> bool:
    """Every feature present with a value of its kind: a finite number, or text."""
    if set(record) != set(model.features):
        return False
    return all(
        isinstance(value, str) if name in model.text
        else isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        for name, value in record.items()
    )  # fmt: skip


@st.composite
def cases(draw):
    """A model, and a record for it: one value per feature (sometimes a feature dropped or one added)."""
    model = draw(st.sampled_from(MODELS))
    record = {name: draw(ANY_VALUE) for name in model.features}
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        record.pop(draw(st.sampled_from(model.features)))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        record["colour" if "colour" not in model.features else "shape"] = draw(ANY_VALUE)
    return model, record


MODELS: list[Model] = []  # filled by the test below from the module fixture (strategies are built at import)


def csv_cell(value) -> str:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def as_csv(record: dict) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(record.keys() or ["nothing"])
    writer.writerow([csv_cell(v) for v in record.values()] or [""])
    return out.getvalue().encode()


def rest_answers(rest, model: Model, record: dict) -> list[tuple[str, int, str]]:
    path = f"/models/{model.model_id}/predict"
    answers = []
    response = rest.post(path, json={"records": [record]})
    answers.append(("REST records", response.status_code, (response.json or {}).get("message", "")))
    row = [record.get(name) for name in model.features]
    response = rest.post(path, json={"X": [row]})
    answers.append(("REST X", response.status_code, (response.json or {}).get("message", "")))
    response = rest.post(f"{path}/csv", data={"file": (io.BytesIO(as_csv(record)), "rows.csv")},
                         content_type="multipart/form-data")  # fmt: skip
    answers.append(("REST CSV", response.status_code, (response.json or {}).get("message", "")))
    return answers


def number(value) -> float:
    """What a double field can carry of a value (gRPC rows and packed values are numbers only)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def grpc_answers(stub, model: Model, record: dict) -> list[tuple[str, grpc.StatusCode]]:
    answers = []
    row = [number(record.get(name)) for name in model.features]
    calls = [
        ("gRPC records", app_pb2.PredictRequest(model_id=model.model_id, records=[struct(record)])),
        ("gRPC X", app_pb2.PredictRequest(model_id=model.model_id, X=[app_pb2.FeatureArray(values=row)])),
        ("gRPC packed", app_pb2.PredictRequest(model_id=model.model_id, values=row, n_features=len(row))),
    ]
    for name, message in calls:
        try:
            stub.Predict(message, timeout=30)
            answers.append((name, grpc.StatusCode.OK))
        except grpc.RpcError as exc:
            answers.append((name, exc.code()))  # pylint: disable=no-member  # a grpc.Call at run time
    return answers


def test_wrong_types_never_become_a_server_error(models, rest, stub):
    MODELS[:] = models

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cases())
    def property_holds(case):
        model, record = case
        culprit = plainly_wrong(model, record)
        for path, status, message in rest_answers(rest, model, record):
            assert status < 500, (path, record, message)
            if culprit is not None and path == "REST records":
                assert status == 400 and culprit in message, (path, record, message)
                assert culprit != "feature '" or any(f"'{name}'" in message for name in model.features)
            if plainly_right(model, record) and path != "REST CSV":  # in a CSV, "" and "NA" are gaps
                assert status == 200, (path, record, message)
        for path, code in grpc_answers(stub, model, record):
            assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (path, record)
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (path, record, code)

    property_holds()  # pylint: disable=no-value-for-parameter
