"""Who may do what, over REST and gRPC alike: a permission matrix against real servers.

One table (principal x operation x object -> outcome, for both default permissions) generates a
test per protocol. The servers are real processes (the REST server, the gRPC server) sharing the
session's MLflow and PostgreSQL, with four service tokens: alice owns the objects, bob is anyone
else, carol has an EDIT grant and dave a READ grant on alice's model, root is an admin.
"""

from __future__ import annotations

import secrets
import uuid

import grpc
import pytest
import requests

import app_pb2
import app_pb2_grpc
from tests.conftest import FrontEnd, authenticated, free_port, service_env, wait_for

pytestmark = pytest.mark.integration

PRINCIPALS = ("alice", "bob", "carol", "dave", "root")
TOKENS = {name: f"{name}-{secrets.token_urlsafe(24)}" for name in PRINCIPALS}
X = [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4], [6.3, 2.5, 4.9, 1.5], [6.3, 3.3, 6.0, 2.5],
     [7.2, 3.0, 5.8, 1.6], [5.0, 3.4, 1.5, 0.2], [6.0, 2.9, 4.5, 1.5], [6.5, 3.0, 5.5, 1.8]]  # fmt: skip
Y = [0, 0, 1, 1, 2, 2, 0, 1, 2]
CSV = b"a,b\n1,2\n3,4\n"

OK, DENIED, HIDDEN = "ok", "403", "404"
# operation -> {default permission -> {principal -> outcome}}; alice (owner) and root (admin) may always
EVERYONE = {"alice": OK, "root": OK}
MATRIX = {
    "list": {"READ": {"bob": OK, "carol": OK, "dave": OK}, "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": OK}},
    "get": {"READ": {"bob": OK, "carol": OK, "dave": OK}, "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": OK}},
    "metrics": {"READ": {"bob": OK, "carol": OK, "dave": OK},
                "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": OK}},
    "predict": {"READ": {"bob": OK, "carol": OK, "dave": OK},
                "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": OK}},
    "retrain": {"READ": {"bob": DENIED, "carol": OK, "dave": DENIED},
                "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": DENIED}},
    "set_alias": {"READ": {"bob": DENIED, "carol": OK, "dave": DENIED},
                  "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": DENIED}},
    "delete_alias": {"READ": {"bob": DENIED, "carol": OK, "dave": DENIED},
                     "NO_PERMISSIONS": {"bob": HIDDEN, "carol": OK, "dave": DENIED}},
    "grant": {"READ": {"bob": DENIED, "carol": DENIED, "dave": DENIED},
              "NO_PERMISSIONS": {"bob": HIDDEN, "carol": DENIED, "dave": DENIED}},
    "delete": {"READ": {"bob": DENIED, "carol": DENIED, "dave": DENIED},
               "NO_PERMISSIONS": {"bob": HIDDEN, "carol": DENIED, "dave": DENIED}},
    "job": {"READ": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN},
            "NO_PERMISSIONS": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN}},
    "cancel_job": {"READ": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN},
                   "NO_PERMISSIONS": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN}},
    "dataset": {"READ": {"bob": OK, "carol": OK, "dave": OK},
                "NO_PERMISSIONS": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN}},
    "delete_dataset": {"READ": {"bob": DENIED, "carol": DENIED, "dave": DENIED},
                       "NO_PERMISSIONS": {"bob": HIDDEN, "carol": HIDDEN, "dave": HIDDEN}},
}  # fmt: skip
DESTRUCTIVE = {"delete", "delete_dataset"}  # when they are to succeed, on a fresh object


def cases():
    for operation in MATRIX:
        for principal in PRINCIPALS:
            for protocol in ("rest", "grpc"):
                yield pytest.param(operation, principal, protocol, id=f"{operation}-{principal}-{protocol}")


def expected_outcome(default: str, operation: str, principal: str) -> str:
    return EVERYONE.get(principal) or MATRIX[operation][default][principal]


class Stack:
    """The two front ends of one default permission, and alice's objects in them."""

    def __init__(self, rest: FrontEnd, grpc_front: FrontEnd):
        self.rest, self.grpc = rest, grpc_front
        self.default = ""
        self.model_id = ""
        self.job_id = ""
        self.dataset = ""
        self.dataset_version = ""

    def http(self, principal: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKENS[principal]}"
        return session

    def train(self, principal: str = "alice") -> str:
        body = {"model_type": "knn", "X": X, "y": Y, "params": {"n_neighbors": 1}}
        response = self.http(principal).post(f"{self.rest.url}/models/train", json=body, timeout=120)
        assert response.status_code == 201, response.text
        return response.json()["model_id"]

    def upload(self, principal: str = "alice") -> tuple[str, str]:
        name = f"data-{uuid.uuid4().hex[:8]}"
        files = {"file": ("d.csv", CSV)}
        response = self.http(principal).post(f"{self.rest.url}/datasets", data={"name": name}, files=files, timeout=60)
        assert response.status_code == 201, response.text
        return name, response.json()["version"]


@pytest.fixture(scope="module", params=["READ", "NO_PERMISSIONS"])
def stack(request, settings, log_dir):
    """REST and gRPC processes with the four tokens and this default permission; alice's model, job, dataset."""
    tokens = ",".join(f"{name}={token}" for name, token in TOKENS.items())
    env = service_env(settings, MLSERVICE_API_TOKENS=tokens, MLSERVICE_ADMINS="service:root",
                      MLSERVICE_DEFAULT_PERMISSION=request.param)  # fmt: skip
    rest_port, grpc_port = free_port(), free_port()
    rest = FrontEnd("rest", rest_port, {**env, "MLSERVICE_REST_PORT": str(rest_port)}, log_dir).start_and_wait()
    grpc_front = FrontEnd("grpc", grpc_port, {**env, "MLSERVICE_GRPC_PORT": str(grpc_port)}, log_dir).start_and_wait()
    running = Stack(rest, grpc_front)
    running.default = request.param
    try:
        running.model_id = running.train()
        alice = running.http("alice")
        for grantee, permission in (("carol", "EDIT"), ("dave", "READ")):
            granted = alice.put(f"{rest.url}/models/{running.model_id}/permissions/service:{grantee}",
                                json={"permission": permission}, timeout=30)  # fmt: skip
            assert granted.status_code == 200, granted.text
        job = alice.post(f"{rest.url}/models/train", json={"model_type": "knn", "X": X, "y": Y, "async": True},
                         timeout=60).json()  # fmt: skip
        running.job_id = job["id"]
        wait_for(lambda: alice.get(f"{rest.url}/jobs/{job['id']}", timeout=10).json()["status"] != "queued")
        running.dataset, running.dataset_version = running.upload()
        yield running
    finally:
        rest.stop()
        grpc_front.stop()


def rest_outcome(response: requests.Response) -> str:
    if response.status_code < 300:
        return OK
    assert "message" in response.json(), response.text  # every refusal says why
    return {403: DENIED, 404: HIDDEN}.get(response.status_code, f"http {response.status_code}")


def grpc_outcome(call) -> str:
    try:
        call()
    except grpc.RpcError as error:
        code, details = error.code(), error.details()  # pylint: disable=no-member  # a grpc.Call at run time
        return {grpc.StatusCode.PERMISSION_DENIED: DENIED, grpc.StatusCode.NOT_FOUND: HIDDEN}.get(
            code, f"grpc {code.name}: {details}"
        )
    return OK


def rest_call(stack: Stack, operation: str, principal: str, target: dict) -> str:  # pylint: disable=too-many-return-statements
    http, api, model = stack.http(principal), stack.rest.url, target["model"]
    if operation == "list":
        return OK if model in {m["id"] for m in http.get(f"{api}/models", timeout=30).json()} else HIDDEN
    requests_by_operation = {
        "get": ("get", f"/models/{model}", None),
        "metrics": ("get", f"/metrics/{model}", None),
        "predict": ("post", f"/models/{model}/predict", {"X": X[:2]}),
        "retrain": ("post", f"/models/{model}/retrain", {"X": X, "y": Y}),
        "set_alias": ("put", f"/models/{model}/aliases/shadow", {"version": 1}),
        "delete_alias": ("delete", f"/models/{model}/aliases/shadow", None),
        "grant": ("put", f"/models/{model}/permissions/service:nobody", {"permission": "READ"}),
        "delete": ("delete", f"/models/{model}", None),
        "job": ("get", f"/jobs/{stack.job_id}", None),
        "cancel_job": ("post", f"/jobs/{stack.job_id}/cancel", None),
        "dataset": ("get", f"/datasets/{target['dataset']}/latest", None),
        "delete_dataset": ("delete", f"/datasets/{target['dataset']}/{target['version']}", None),
    }
    method, path, body = requests_by_operation[operation]
    return rest_outcome(http.request(method, api + path, json=body, timeout=120))


def grpc_call(stack: Stack, operation: str, principal: str, target: dict) -> str:
    with grpc.insecure_channel(stack.grpc.url) as channel:
        stub = app_pb2_grpc.MLServiceStub(authenticated(channel, TOKENS[principal]))
        model = target["model"]
        if operation == "list":
            return OK if model in {m.id for m in stub.ListModels(app_pb2.Empty(), timeout=60).models} else HIDDEN
        rows = [app_pb2.FeatureArray(values=row) for row in X]
        calls = {
            "get": lambda: stub.GetModel(app_pb2.ModelId(model_id=model), timeout=60),
            "metrics": lambda: stub.GetMetrics(app_pb2.ModelId(model_id=model), timeout=60),
            "predict": lambda: stub.Predict(app_pb2.PredictRequest(model_id=model, X=rows[:2]), timeout=60),
            "retrain": lambda: stub.RetrainModel(app_pb2.RetrainRequest(model_id=model, X=rows, y=Y), timeout=120),
            "set_alias": lambda: stub.SetAlias(
                app_pb2.SetAliasRequest(model_id=model, alias="shadow", version=1), timeout=60
            ),
            "delete_alias": lambda: stub.DeleteAlias(app_pb2.AliasRef(model_id=model, alias="shadow"), timeout=60),
            "grant": lambda: stub.SetModelPermission(
                app_pb2.ModelPermission(model_id=model, principal="service:nobody", permission="READ"), timeout=60
            ),
            "delete": lambda: stub.DeleteModel(app_pb2.ModelId(model_id=model), timeout=60),
            "job": lambda: stub.GetJob(app_pb2.JobId(job_id=stack.job_id), timeout=60),
            "cancel_job": lambda: stub.CancelJob(app_pb2.JobId(job_id=stack.job_id), timeout=60),
            "dataset": lambda: stub.GetDataset(app_pb2.DatasetRef(name=target["dataset"]), timeout=60),
            "delete_dataset": lambda: stub.DeleteDataset(
                app_pb2.DatasetRef(name=target["dataset"], version=target["version"]), timeout=60
            ),
        }
        return grpc_outcome(calls[operation])


@pytest.mark.parametrize(("operation", "principal", "protocol"), list(cases()))
def test_permission_matrix(stack, operation, principal, protocol):
    """Both servers are started once per default permission (the fixture's two params), not per case."""
    expected = expected_outcome(stack.default, operation, principal)
    target = {"model": stack.model_id, "dataset": stack.dataset, "version": stack.dataset_version}
    if operation in DESTRUCTIVE and expected == OK:  # the shared objects must outlive this test
        target["model"] = stack.train()
        target["dataset"], target["version"] = stack.upload()
    if operation == "delete_alias":  # the owner points it first, so that only the permission decides
        moved = stack.http("alice").put(f"{stack.rest.url}/models/{target['model']}/aliases/shadow",
                                        json={"version": 1}, timeout=60)  # fmt: skip
        assert moved.status_code in (200, 201), moved.text
    call = rest_call if protocol == "rest" else grpc_call
    assert call(stack, operation, principal, target) == expected
