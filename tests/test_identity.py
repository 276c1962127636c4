"""Identity and permissions as units: principals by id, the permission decision, token namespaces, and who
an unauthenticated gRPC call is (or is not) on each kind of bind. The full matrix against real
servers is tests/test_permissions.py."""

from __future__ import annotations

from concurrent import futures
from datetime import timedelta

import grpc
import pytest

import app_pb2
import app_pb2_grpc
from mlservice.errors import InvalidInput, ModelNotFound, PermissionDenied
from mlservice.grpc.servicer import MLServiceServicer
from mlservice.identity.authenticator import Authenticator
from mlservice.identity.grpc_adapter import IdentityInterceptor, anonymous_principal, is_loopback
from mlservice.identity.permissions import AccessPolicy, Permission
from mlservice.identity.principal import Principal, check_principal
from mlservice.identity.tokens import TokenStore
from mlservice.settings import Settings
from tests.conftest import free_port
from tests.test_parity import RecordingCore

OCTOCAT = Principal.github(583231, "octocat", "The Octocat")


def test_github_users_are_keyed_by_their_numeric_id_not_their_login():
    renamed = Principal.github(583231, "octo-renamed")
    squatter = Principal.github(99, "octocat")  # someone who took the old login after a rename
    policy = AccessPolicy()
    assert policy.level(renamed, OCTOCAT.id, None) == Permission.MANAGE  # still the owner
    assert policy.level(squatter, OCTOCAT.id, None) == Permission.READ  # just anyone
    assert OCTOCAT.id == "github:583231" and squatter.id == "github:99"


def test_service_tokens_and_github_logins_do_not_share_a_namespace(tmp_path):
    store = TokenStore(f"sqlite:///{tmp_path / 'tokens.db'}")
    github_dashboard = Principal.github(4242, "dashboard")
    service_dashboard = Principal.service("dashboard")
    mine, _ = store.create(service_dashboard, "deploy", timedelta(days=30))
    assert store.list(github_dashboard) == []  # GitHub user "dashboard" sees none of the service's tokens
    assert not store.revoke(github_dashboard, mine["id"])  # nor may revoke them
    assert [t["id"] for t in store.list(service_dashboard)] == [mine["id"]]


@pytest.mark.parametrize(
    ("default", "grant", "caller", "expected"),
    [
        (Permission.READ, None, "github:2", Permission.READ),
        (Permission.NO_PERMISSIONS, None, "github:2", Permission.NO_PERMISSIONS),
        (Permission.NO_PERMISSIONS, Permission.EDIT, "github:2", Permission.EDIT),
        (Permission.READ, Permission.NO_PERMISSIONS, "github:2", Permission.NO_PERMISSIONS),  # a grant lowers too
        (Permission.NO_PERMISSIONS, None, "github:1", Permission.MANAGE),  # the owner
        (Permission.NO_PERMISSIONS, Permission.READ, "service:root", Permission.MANAGE),  # an admin
    ],
)
def test_the_permission_decision(default, grant, caller, expected):
    policy = AccessPolicy(default, frozenset({"service:root"}))
    assert policy.level(Principal.from_id(caller), "github:1", grant) == expected


def test_refusals_hide_what_the_caller_may_not_read_and_explain_the_rest():
    policy = AccessPolicy(Permission.NO_PERMISSIONS)
    bob = Principal.service("bob")
    with pytest.raises(ModelNotFound):
        policy.require(bob, Permission.READ, owner="service:alice", hidden=ModelNotFound("x"), action="read it")
    with pytest.raises(PermissionDenied, match="needs EDIT.*has READ"):
        policy.require(bob, Permission.EDIT, owner="service:alice", grant=Permission.READ,
                       hidden=ModelNotFound("x"), action="retrain model 'm'")  # fmt: skip


@pytest.mark.parametrize("text", ["octocat", "github:abc", "service:", "service:a b", "github:1:2", ""])
def test_grants_name_principals_by_id(text):
    with pytest.raises(InvalidInput, match="not a principal"):
        check_principal(text)
    assert Permission.parse("edit") == Permission.EDIT
    with pytest.raises(InvalidInput, match="permission must be one of"):
        Permission.parse("OWNER")


@pytest.mark.parametrize(
    ("host", "github", "allow", "expected"),
    [
        ("127.0.0.1", False, False, "local"),  # the embedded default: the reference client works unchanged
        ("::1", False, False, "local"),
        ("0.0.0.0", False, False, None),  # a container: credentials or nothing
        ("10.1.2.3", False, False, None),
        ("127.0.0.1", True, False, None),  # GitHub configured: not the embedded default
        ("0.0.0.0", False, True, "anonymous"),  # the operator's explicit choice
    ],
)
def test_who_an_unauthenticated_grpc_call_is(host, github, allow, expected):
    settings = Settings(host=host, grpc_allow_anonymous=allow, github_client_id="x" if github else None,
                        github_client_secret="y" if github else None)  # fmt: skip
    principal = anonymous_principal(settings)
    assert (principal.id if principal else None) == expected
    assert is_loopback("localhost") and not is_loopback("")


@pytest.fixture
def grpc_on(tmp_path):
    """An in-process gRPC server bound to 127.0.0.1 whose identity rules are those of another bind."""
    servers = []

    def start(settings: Settings):
        core = RecordingCore()
        authenticator = Authenticator(settings, TokenStore(f"sqlite:///{tmp_path / 'db.sqlite'}"))
        server = grpc.server(futures.ThreadPoolExecutor(4), interceptors=[IdentityInterceptor(authenticator, settings)])
        app_pb2_grpc.add_MLServiceServicer_to_server(MLServiceServicer(core), server)
        port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
        server.start()
        servers.append(server)
        return core, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


def test_a_grpc_server_on_a_published_bind_refuses_anonymous_calls(grpc_on):
    token = "a-service-token-long-enough-0123456789"
    core, target = grpc_on(Settings(host="0.0.0.0", api_tokens=f"ops={token}", github_client_id="x",
                                    github_client_secret="y"))  # fmt: skip
    with grpc.insecure_channel(target) as channel:
        stub = app_pb2_grpc.MLServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListModels(app_pb2.Empty(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert core.calls == []  # the core never saw it
        stub.ListModels(app_pb2.Empty(), metadata=[("authorization", f"Bearer {token}")], timeout=10)
    assert core.calls == [("list_models", Principal.service("ops"))]


def test_anonymous_grpc_calls_act_as_anonymous_only_when_allowed_on_purpose(grpc_on):
    core, target = grpc_on(Settings(host="0.0.0.0", grpc_allow_anonymous=True))
    with grpc.insecure_channel(target) as channel:
        app_pb2_grpc.MLServiceStub(channel).ListModels(app_pb2.Empty(), timeout=10)
    assert core.calls == [("list_models", Principal.anonymous())]
