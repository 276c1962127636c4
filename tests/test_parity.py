"""REST and gRPC are two doors to one core: the same logical request reaches the core as the same call.

Both front ends run here against one recording stand-in for the core facade (models.ModelService):
the REST app in Flask's test client, the gRPC server in this process on a free port. Each logical
request below is sent once through each; the calls the core received must be identical (method,
request objects, caller), and when the core refuses, both must answer with the error kind its table
names. A front end that drops, renames or re-validates a field fails here. No process is started.
"""

from __future__ import annotations

import contextlib

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

import app_pb2
import app_pb2_grpc
from mlservice import errors
from mlservice.core.inputs import RETRAIN, PredictRequest, TrainingRequest
from mlservice.grpc.server import build_server
from mlservice.grpc.status import status_code_for
from mlservice.identity.principal import Principal
from mlservice.rest.app import create_app
from mlservice.rest.errors import http_status_for
from mlservice.settings import Settings
from models import Dispatched
from tests.conftest import free_port

TOKEN = "parity-static-service-token-0123456789"
CALLER = Principal.service("parity")
RESULT = {"model_id": "m1", "version": 2, "model_type": "knn", "task": "classification",
          "metrics": {"accuracy": 0.5}, "evaluation": "holdout", "n_train": 4, "n_eval": 2, "params": {},
          "timings": {"total_seconds": 0.1}}  # fmt: skip
JOB = {"id": "j1", "kind": "train", "status": "queued", "phase": "queued", "progress": 0.0, "owner": "parity",
       "model_id": None, "version": None, "result": None, "error": None, "created_at": "2026-01-01T00:00:00+00:00",
       "started_at": None, "finished_at": None, "run_seconds": None, "cancel_requested": False}  # fmt: skip
VERSION = {"version": 2, "params": {"k": 1}, "metrics": {"accuracy": 0.5}, "evaluation": "holdout", "trained_at": "t",
           "owner": "parity", "n_features": 2, "n_rows": 6, "feature_names": ["a", "b"], "classes": [0, 1],
           "run_id": "r1", "dataset": None}  # fmt: skip
MODEL = {"id": "m1", "model_type": "knn", "task": "classification", "created_at": "t", "owner": "parity", "version": 2,
         "params": {}, "metrics": {"accuracy": 0.5}, "evaluation": "holdout", "updated_at": "t",
         "feature_names": ["a", "b"], "n_features": 2, "classes": [0, 1], "run_id": "r1"}  # fmt: skip
DATASET = {"name": "d", "version": "0" * 32, "md5": "0" * 32, "size": 10, "rows": 2, "columns": [], "owner": "parity",
           "created_at": "t", "uri": "s3://dvc/x", "source": "upload", "created": True}  # fmt: skip


GRANT = {"model_id": "m1", "principal": "github:7", "permission": "EDIT", "granted_by": "service:parity",
         "granted_at": "t"}  # fmt: skip


class RecordingCore:
    """Stands in for models.ModelService: records every call, answers with canned records or raises."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.fail_with: errors.ServiceError | None = None

    def _record(self, name: str, *args):
        self.calls.append((name, *args))
        if self.fail_with is not None:
            raise self.fail_with

    def train(self, request, caller=None, progress=None):  # pylint: disable=unused-argument
        self._record("train", request, caller)
        return Dispatched(job=JOB) if request.run_async else Dispatched(result=RESULT)

    def predict(self, request, caller=None):
        self._record("predict", request, caller)
        return {"model_id": request.model_id, "version": 2, "predictions": np.array([1, 0]), "classes": [0, 1],
                "probabilities": np.array([[0.25, 0.75], [0.5, 0.5]])}  # fmt: skip

    def list_models(self, caller=None):
        self._record("list_models", caller)
        return [MODEL]

    def get_model(self, model_id, caller=None):
        self._record("get_model", model_id, caller)
        return {**MODEL, "versions": [VERSION]}

    def delete_model(self, model_id, caller=None):
        self._record("delete_model", model_id, caller)

    def set_alias(self, model_id, alias, version, caller=None):
        self._record("set_alias", model_id, alias, version, caller)
        return {"model_id": model_id, "alias": alias, "version": version, "previous_version": None, "created": True}

    def delete_alias(self, model_id, alias, caller=None):
        self._record("delete_alias", model_id, alias, caller)

    def get_metrics(self, model_id, version=None, caller=None):
        self._record("get_metrics", model_id, version, caller)
        return {"model_id": model_id, "version": 2, "metrics": {"accuracy": 0.5}, "evaluation": "holdout"}

    def get_job(self, job_id, caller=None):
        self._record("get_job", job_id, caller)
        return JOB

    def cancel_job(self, job_id, caller=None):
        self._record("cancel_job", job_id, caller)
        return JOB

    def upload_dataset(self, name, data, caller=None):
        self._record("upload_dataset", name, data, caller)
        return DATASET

    def get_dataset(self, name, version=None, caller=None):
        self._record("get_dataset", name, version, caller)
        return {**DATASET, "preview": []}

    def delete_dataset(self, name, version, caller=None):
        self._record("delete_dataset", name, version, caller)

    def list_permissions(self, model_id, caller=None):
        self._record("list_permissions", model_id, caller)
        return {"model_id": model_id, "owner": "service:parity", "default": "READ", "grants": [GRANT]}

    def get_permission(self, model_id, principal, caller=None):
        self._record("get_permission", model_id, principal, caller)
        return {**GRANT, "granted": True}

    def set_permission(self, model_id, principal, permission, caller=None):
        self._record("set_permission", model_id, principal, permission, caller)
        return GRANT

    def delete_permission(self, model_id, principal, caller=None):
        self._record("delete_permission", model_id, principal, caller)


@contextlib.contextmanager
def doors_in_front_of(core, state):
    """The REST test client (with the parity token) and a gRPC channel to a real server, both in front of core."""
    settings = Settings(
        api_tokens=f"parity={TOKEN}", secret_key="parity-secret-key-of-at-least-32-characters",
        database_url=f"sqlite:///{state / 'db.sqlite'}",
        state_dir=state, grpc_port=free_port(), github_client_id="", github_client_secret="",
    )  # fmt: skip
    rest = create_app(settings, service=core).test_client()
    rest.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    server, port = build_server(settings, core)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield rest, channel
    finally:
        channel.close()
        server.stop(grace=None)


@pytest.fixture(scope="module")
def doors(tmp_path_factory):
    """The REST test client and a gRPC stub, both in front of one RecordingCore."""
    core = RecordingCore()
    with doors_in_front_of(core, tmp_path_factory.mktemp("parity")) as (rest, channel):
        yield core, rest, app_pb2_grpc.MLServiceStub(channel)


def grpc_call(stub, rpc: str, message):
    return getattr(stub, rpc)(message, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10)


def rows(values):
    return [app_pb2.FeatureArray(values=row) for row in values]


def struct(record):
    message = struct_pb2.Struct()
    message.update(record)
    return message


X, Y = [[5.1, 3.5], [4.9, 3.0], [6.7, 3.1]], [0, 0, 1]
# (name, REST (method, path, json or multipart), gRPC (rpc, message), the core call expected)
REQUESTS = [
    (
        "train inline with every option",
        ("post", "/models/train", {"model_type": "knn", "model_id": "m1", "params": {"n_neighbors": "2"}, "X": X,
                                   "y": Y, "feature_names": ["a", "b"], "test_size": 0.25, "random_state": 7}),
        ("TrainModel", app_pb2.TrainRequest(model_type="knn", model_id="m1", params={"n_neighbors": "2"}, X=rows(X),
                                            y=Y, feature_names=["a", "b"], test_size=0.25, random_state=7)),
        ("train", TrainingRequest(model_type="knn", model_id="m1", params={"n_neighbors": "2"}, X=X, y=Y,
                                  feature_names=["a", "b"], test_size=0.25, random_state=7), CALLER),
    ),
    (
        "train with string labels",
        ("post", "/models/train", {"model_type": "svc", "X": X, "y": ["a", "a", "b"]}),
        ("TrainModel", app_pb2.TrainRequest(model_type="svc", X=rows(X), y_labels=["a", "a", "b"])),
        ("train", TrainingRequest(model_type="svc", X=X, y=["a", "a", "b"]), CALLER),
    ),
    (
        "train on a dataset",
        ("post", "/models/train", {"model_type": "ridge", "dataset": "d@abc123", "target": "t", "features": ["a"],
                                   "impute": True}),
        ("TrainModel", app_pb2.TrainRequest(model_type="ridge", dataset="d@abc123", target="t", features=["a"],
                                            impute=True)),
        ("train", TrainingRequest(model_type="ridge", dataset="d@abc123", target="t", features=["a"], impute=True),
         CALLER),
    ),
    (
        "a dataset and inline rows at once reach the core, which refuses them",
        ("post", "/models/train", {"model_type": "ridge", "dataset": "d", "target": "t", "X": X, "y": [1, 2, 3]}),
        ("TrainModel", app_pb2.TrainRequest(model_type="ridge", dataset="d", target="t", X=rows(X),
                                            y_values=[1, 2, 3])),
        ("train", TrainingRequest(model_type="ridge", dataset="d", target="t", X=X, y=[1, 2, 3]), CALLER),
    ),
    (
        "train as a job",
        ("post", "/models/train", {"model_type": "knn", "X": X, "y": Y, "async": True}),
        ("SubmitTrainJob", app_pb2.TrainRequest(model_type="knn", X=rows(X), y=Y)),
        ("train", TrainingRequest(model_type="knn", X=X, y=Y, run_async=True), CALLER),
    ),
    (
        "retrain with overrides",
        ("post", "/models/m1/retrain", {"X": X, "y": Y, "params": {"n_neighbors": "1"}}),
        ("RetrainModel", app_pb2.RetrainRequest(model_id="m1", X=rows(X), y=Y, params={"n_neighbors": "1"})),
        ("train", TrainingRequest(kind=RETRAIN, model_id="m1", X=X, y=Y, params={"n_neighbors": "1"}), CALLER),
    ),
    (
        "retrain as a job",
        ("post", "/models/m1/retrain", {"dataset": "d", "async": True}),
        ("SubmitRetrainJob", app_pb2.RetrainRequest(model_id="m1", dataset="d")),
        ("train", TrainingRequest(kind=RETRAIN, model_id="m1", dataset="d", run_async=True), CALLER),
    ),
    (
        "predict rows of a given version",
        ("post", "/models/m1/predict", {"X": X, "version": 1}),
        ("Predict", app_pb2.PredictRequest(model_id="m1", X=rows(X), version=1)),
        ("predict", PredictRequest("m1", X=X, version=1), CALLER),
    ),
    (
        "predict with the version an alias points at",
        ("post", "/models/m1/predict", {"X": X, "alias": "challenger"}),
        ("Predict", app_pb2.PredictRequest(model_id="m1", X=rows(X), alias="challenger")),
        ("predict", PredictRequest("m1", X=X, alias="challenger"), CALLER),
    ),
    (
        "a version and an alias at once reach the core, which refuses them",
        ("post", "/models/m1/predict", {"X": X, "version": 1, "alias": "challenger"}),
        ("Predict", app_pb2.PredictRequest(model_id="m1", X=rows(X), version=1, alias="challenger")),
        ("predict", PredictRequest("m1", X=X, version=1, alias="challenger"), CALLER),
    ),
    (
        "retrain as a challenger, leaving current where it is",
        ("post", "/models/m1/retrain", {"X": X, "y": Y, "promote": False}),
        ("RetrainModel", app_pb2.RetrainRequest(model_id="m1", X=rows(X), y=Y, keep_current=True)),
        ("train", TrainingRequest(kind=RETRAIN, model_id="m1", X=X, y=Y, promote=False), CALLER),
    ),
    (
        "set an alias (promote, roll back)",
        ("put", "/models/m1/aliases/current", {"version": 2}),
        ("SetAlias", app_pb2.SetAliasRequest(model_id="m1", alias="current", version=2)),
        ("set_alias", "m1", "current", 2, CALLER),
    ),
    (
        "delete an alias",
        ("delete", "/models/m1/aliases/challenger", None),
        ("DeleteAlias", app_pb2.AliasRef(model_id="m1", alias="challenger")),
        ("delete_alias", "m1", "challenger", CALLER),
    ),
    (
        "predict named records",
        ("post", "/models/m1/predict", {"records": [{"a": 1.5, "site": "north"}]}),
        ("Predict", app_pb2.PredictRequest(model_id="m1", records=[struct({"a": 1.5, "site": "north"})])),
        ("predict", PredictRequest("m1", records=[{"a": 1.5, "site": "north"}]), CALLER),
    ),
    (
        "rows and records at once reach the core, which refuses them",
        ("post", "/models/m1/predict", {"X": X, "records": [{"a": 1.5}]}),
        ("Predict", app_pb2.PredictRequest(model_id="m1", X=rows(X), records=[struct({"a": 1.5})])),
        ("predict", PredictRequest("m1", X=X, records=[{"a": 1.5}]), CALLER),
    ),
    ("list models", ("get", "/models", None), ("ListModels", app_pb2.Empty()), ("list_models", CALLER)),
    ("get a model", ("get", "/models/m1", None), ("GetModel", app_pb2.ModelId(model_id="m1")),
     ("get_model", "m1", CALLER)),
    ("delete a model", ("delete", "/models/m1", None), ("DeleteModel", app_pb2.ModelId(model_id="m1")),
     ("delete_model", "m1", CALLER)),
    ("metrics of the current version", ("get", "/metrics/m1", None), ("GetMetrics", app_pb2.ModelId(model_id="m1")),
     ("get_metrics", "m1", None, CALLER)),
    ("metrics of a version", ("get", "/metrics/m1?version=3", None),
     ("GetMetrics", app_pb2.ModelId(model_id="m1", version=3)), ("get_metrics", "m1", 3, CALLER)),
    ("a job", ("get", "/jobs/j1", None), ("GetJob", app_pb2.JobId(job_id="j1")), ("get_job", "j1", CALLER)),
    ("cancel a job", ("post", "/jobs/j1/cancel", None), ("CancelJob", app_pb2.JobId(job_id="j1")),
     ("cancel_job", "j1", CALLER)),
    ("upload a dataset", ("post", "/datasets", {"name": "d", "file": b"a,b\n1,2\n"}),
     ("UploadDataset", app_pb2.UploadDatasetRequest(name="d", content=b"a,b\n1,2\n")),
     ("upload_dataset", "d", b"a,b\n1,2\n", CALLER)),
    ("a dataset version", ("get", "/datasets/d/abc123", None),
     ("GetDataset", app_pb2.DatasetRef(name="d", version="abc123")), ("get_dataset", "d", "abc123", CALLER)),
    ("delete a dataset version", ("delete", "/datasets/d/abc123", None),
     ("DeleteDataset", app_pb2.DatasetRef(name="d", version="abc123")), ("delete_dataset", "d", "abc123", CALLER)),
    ("the grants on a model", ("get", "/models/m1/permissions", None),
     ("ListModelPermissions", app_pb2.ModelId(model_id="m1")), ("list_permissions", "m1", CALLER)),
    ("one principal's permission", ("get", "/models/m1/permissions/github:7", None),
     ("GetModelPermission", app_pb2.ModelPermission(model_id="m1", principal="github:7")),
     ("get_permission", "m1", "github:7", CALLER)),
    ("grant", ("put", "/models/m1/permissions/github:7", {"permission": "EDIT"}),
     ("SetModelPermission", app_pb2.ModelPermission(model_id="m1", principal="github:7", permission="EDIT")),
     ("set_permission", "m1", "github:7", "EDIT", CALLER)),
    ("remove a grant", ("delete", "/models/m1/permissions/github:7", None),
     ("DeleteModelPermission", app_pb2.ModelPermission(model_id="m1", principal="github:7")),
     ("delete_permission", "m1", "github:7", CALLER)),
]  # fmt: skip


def rest_call(client, method: str, path: str, body):
    if isinstance(body, dict) and any(isinstance(v, bytes) for v in body.values()):
        import io  # pylint: disable=import-outside-toplevel

        form = {k: (io.BytesIO(v), "data.csv") if isinstance(v, bytes) else v for k, v in body.items()}
        return getattr(client, method)(path, data=form, content_type="multipart/form-data")
    return getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)


@pytest.mark.parametrize(("rest", "rpc", "expected"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_both_front_ends_make_the_same_core_call(doors, rest, rpc, expected):
    core, client, stub = doors
    core.calls.clear()
    core.fail_with = None
    response = rest_call(client, *rest)
    assert response.status_code < 300, response.get_json()
    grpc_call(stub, *rpc)
    assert core.calls == [expected, expected]


# Every core exception, raised by the core while serving one request of each front end.
ERRORS = [cls for cls in errors.__dict__.values() if isinstance(cls, type) and issubclass(cls, errors.ServiceError)]


def leaf_errors() -> list[type[errors.ServiceError]]:
    """Every exception class the core can raise (the base class itself means 'unexpected')."""
    return sorted((cls for cls in ERRORS if cls is not errors.ServiceError), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("error_class", leaf_errors(), ids=lambda cls: cls.__name__)
def test_every_core_exception_has_a_mapping_at_both_boundaries(error_class):
    error = error_class("x")
    assert http_status_for(error) != 500, f"{error_class.__name__} has no HTTP status in rest.errors.HTTP_STATUS"
    assert status_code_for(error) != grpc.StatusCode.INTERNAL, f"{error_class.__name__} has no gRPC code"


def test_the_walk_finds_every_exception_the_core_defines():
    """The parametrization above is built from the errors module itself, so a new class cannot be missed."""
    names = {cls.__name__ for cls in leaf_errors()}
    assert {"InvalidInput", "ModelNotFound", "DatasetNotFound", "Conflict", "InUse", "Unavailable"} <= names


@pytest.mark.parametrize(
    "error_class", [c for c in leaf_errors() if c is not errors.Cancelled], ids=lambda c: c.__name__
)
def test_a_refusal_of_the_core_is_the_same_error_kind_on_both_doors(doors, error_class):
    core, client, stub = doors
    core.fail_with = error_class(f"refused: {error_class.__name__}")
    try:
        response = client.post("/models/m1/predict", json={"X": X})
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(stub, "Predict", app_pb2.PredictRequest(model_id="m1", X=rows(X)))
    finally:
        core.fail_with = None
    assert response.status_code == http_status_for(core_error := error_class("x"))
    assert response.get_json()["message"] == f"refused: {error_class.__name__}"
    assert failure.value.code() == status_code_for(core_error)
    assert failure.value.details() == f"refused: {error_class.__name__}"
