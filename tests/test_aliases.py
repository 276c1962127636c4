"""Aliases as the lifecycle of a model's versions: promote, roll back, challengers, the audit trail.

Units (no process): names, the request checks, the resolver's cache of alias lookups, that retrains
never make a challenger current. Integration: the whole lifecycle through the core, REST and gRPC on the
real MLflow server, and a move seen by another process within its registry TTL.
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import grpc
import pytest

import app_pb2
import app_pb2_grpc
from mlservice.core.aliases import AliasBook
from mlservice.core.inputs import PredictRequest, TrainingRequest, check_alias
from mlservice.core.registry import Registry
from mlservice.core.resolution import VersionResolver
from mlservice.errors import InUse, InvalidInput, ModelNotFound
from mlservice.grpc.server import build_server
from mlservice.identity.principal import Principal
from mlservice.rest.app import create_app
from tests.conftest import AUTH_HEADERS, free_port, predict, retrain, train, wait_for

# --- units -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["current", "challenger", "champion_2", "shadow-b", "A1", "x" * 63])
def test_alias_names_that_are_allowed(name):
    assert check_alias(name) == name


@pytest.mark.parametrize("name", ["", "latest", "Latest", "v3", "V12", "7", "a b", "a.b", "x" * 64, None, 3, "é"])
def test_alias_names_that_are_refused(name):
    with pytest.raises(InvalidInput, match="not allowed: use 1-63 letters"):
        check_alias(name)


def test_a_version_and_an_alias_at_once_are_refused():
    with pytest.raises(InvalidInput, match="send version or alias, not both"):
        PredictRequest("m", X=[[1.0]], version=2, alias="challenger").check()
    PredictRequest("m", X=[[1.0]], alias="challenger").check()


def test_promote_false_is_for_retrains():
    with pytest.raises(InvalidInput, match="promote: false is for retrains"):
        TrainingRequest(model_type="knn", X=[[1.0]], y=[0], promote=False).check()
    with pytest.raises(InvalidInput, match="promote must be true or false"):
        TrainingRequest(kind="retrain", model_id="m", X=[[1.0]], y=[0], promote="no").check()
    assert TrainingRequest.from_json({"promote": False, "X": [[1.0]], "y": [0]}, kind="retrain").promote is False


def test_alias_lookups_are_cached_like_current_and_forgotten_on_a_move():
    registry = mock.Mock()
    registry.version.side_effect = lambda model_id, version, alias=None: SimpleNamespace(
        version=version or {"current": "1", "challenger": "2"}[alias]
    )
    resolver = VersionResolver(registry, ttl_seconds=3600, background=mock.Mock(), on_gone=lambda _: None)
    assert resolver.resolve("m", None, alias="challenger").version == "2"
    assert resolver.resolve("m", None, alias="challenger").version == "2"
    assert resolver.resolve("m", None).version == "1"
    assert registry.version.call_count == 2  # one lookup per (model, alias), then the cache answers
    resolver.forget("m")  # what an alias move does in this process
    resolver.resolve("m", None, alias="challenger")
    assert registry.version.call_count == 3


def test_current_cannot_be_deleted_and_nothing_is_touched():
    registry = mock.Mock()
    with pytest.raises(InUse, match="alias 'current' cannot be deleted"):
        AliasBook(registry, mock.Mock()).delete("m", "current", None)
    registry.delete_alias.assert_not_called()


def test_the_audit_trail_keeps_the_newest_100_events():
    registry = mock.Mock()
    events = {f"mlservice.alias_event.{i:020d}-abcdef": "{}" for i in range(101)}
    registry.registered_model.return_value = SimpleNamespace(tags={"mlservice.managed": "true", **events})
    AliasBook(registry, mock.Mock()).record("m", "current", 2, 1, Principal.service("ci"), "set")
    key, value = registry.set_model_tag.call_args.args[1:]
    assert key.startswith("mlservice.alias_event.") and '"by": "service:ci"' in value
    registry.delete_model_tags.assert_called_once_with("m", [f"mlservice.alias_event.{0:020d}-abcdef"])


def test_a_retrain_never_makes_a_challenger_current():
    """v2 was registered with promote=false; a retrain that registered v1's successor must not pick v2
    as 'the newest' when it re-checks after writing."""
    versions = [
        SimpleNamespace(version="1", tags={}),
        SimpleNamespace(version="2", tags={"mlservice.promoted": "false"}),
    ]
    client = mock.MagicMock()
    client.search_model_versions.return_value = mock.Mock(__iter__=lambda _self: iter(versions), token=None)
    assert Registry(client, "tests").move_current_alias("m", "1") == 1
    client.set_registered_model_alias.assert_called_once_with("m", "current", "1")


# --- the lifecycle on the real stack ---------------------------------------------------------------------

OWNER = Principal.service("tests")


@pytest.fixture
def champion(service, iris):
    """A model with v1 current and v2 the challenger (a retrain with promote: false)."""
    X, y = iris
    model_id = train(service, "decision_tree", X, y, caller=OWNER)["model_id"]
    challenger = retrain(service, model_id, X, y, params={"max_depth": 2}, promote=False, caller=OWNER)
    assert challenger["version"] == 2 and challenger["aliases"] == ["challenger"]
    yield model_id
    service.delete_model(model_id)


@pytest.fixture
def rest(settings, service):
    client = create_app(settings, service=service).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH_HEADERS["Authorization"]
    return client


@pytest.mark.integration
def test_challenger_promote_roll_back_and_delete_over_rest(champion, rest, iris):
    X, _ = iris
    model = rest.get(f"/models/{champion}").json
    assert model["aliases"] == {"challenger": 2, "current": 1} and model["version"] == 1
    assert [(v["version"], v["aliases"]) for v in model["versions"]] == [(2, ["challenger"]), (1, ["current"])]
    served = rest.post(f"/models/{champion}/predict", json={"X": X[:1]}).json
    assert served["version"] == 1  # the challenger does not serve until promoted
    assert rest.post(f"/models/{champion}/predict", json={"X": X[:1], "alias": "challenger"}).json["version"] == 2
    both = rest.post(f"/models/{champion}/predict", json={"X": X[:1], "alias": "challenger", "version": 1})
    assert both.status_code == 400 and "not both" in both.json["message"]

    promoted = rest.put(f"/models/{champion}/aliases/current", json={"version": 2})
    assert promoted.status_code == 200 and promoted.json["previous_version"] == 1
    assert rest.post(f"/models/{champion}/predict", json={"X": X[:1]}).json["version"] == 2
    rolled_back = rest.put(f"/models/{champion}/aliases/current", json={"version": 1})
    assert rolled_back.status_code == 200 and rest.get(f"/models/{champion}").json["version"] == 1
    created = rest.put(f"/models/{champion}/aliases/shadow", json={"version": 2})
    assert created.status_code == 201 and created.json["created"] is True

    assert rest.delete(f"/models/{champion}/aliases/current").status_code == 409
    assert rest.put(f"/models/{champion}/aliases/latest", json={"version": 1}).status_code == 400
    assert rest.put(f"/models/{champion}/aliases/shadow", json={"version": 99}).status_code == 404
    assert rest.delete(f"/models/{champion}/aliases/challenger").status_code == 204
    gone = rest.post(f"/models/{champion}/predict", json={"X": X[:1], "alias": "challenger"})
    assert gone.status_code == 404 and "no alias 'challenger'" in gone.json["message"]
    assert rest.delete(f"/models/{champion}/aliases/challenger").status_code == 404

    log = rest.get(f"/models/{champion}").json["alias_log"]  # newest first: who moved what, when
    assert [(e["alias"], e["version"], e["previous_version"], e["reason"]) for e in log] == [
        ("challenger", None, 2, "delete"),
        ("shadow", 2, None, "set"),
        ("current", 1, 2, "set"),
        ("current", 2, 1, "set"),
        ("challenger", 2, None, "retrain with promote: false"),
        ("current", 1, None, "train"),
    ]
    assert {e["by"] for e in log} == {"service:tests"} and all(e["at"] for e in log)


@pytest.mark.integration
def test_the_same_over_grpc(settings, service, champion):
    server, port = build_server(settings.model_copy(update={"grpc_port": free_port()}), service)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = app_pb2_grpc.MLServiceStub(channel)
            moved = stub.SetAlias(app_pb2.SetAliasRequest(model_id=champion, alias="current", version=2))
            assert (moved.version, moved.previous_version, moved.created) == (2, 1, False)
            model = stub.GetModel(app_pb2.ModelId(model_id=champion))
            assert dict(model.aliases) == {"current": 2, "challenger": 2} and model.version == 2
            assert list(model.versions[0].aliases) == ["challenger", "current"]
            assert model.alias_log[0].reason == "set" and model.alias_log[0].by == "local"
            row = app_pb2.FeatureArray(values=[5.1, 3.5, 1.4, 0.2])
            assert stub.Predict(app_pb2.PredictRequest(model_id=champion, X=[row], alias="current")).version == 2
            with pytest.raises(grpc.RpcError) as refused:
                stub.DeleteAlias(app_pb2.AliasRef(model_id=champion, alias="current"))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert stub.DeleteAlias(app_pb2.AliasRef(model_id=champion, alias="challenger")).success
            kept = stub.RetrainModel(
                app_pb2.RetrainRequest(
                    model_id=champion,
                    X=[row] * 3 + [app_pb2.FeatureArray(values=[6.7, 3.0, 5.2, 2.3])] * 3,
                    y=[0, 0, 0, 2, 2, 2],
                    keep_current=True,
                )
            )
            assert (kept.version, list(kept.aliases)) == (3, ["challenger"])
            assert stub.GetModel(app_pb2.ModelId(model_id=champion)).version == 2  # current did not move
    finally:
        server.stop(grace=None)


@pytest.mark.integration
def test_another_process_sees_a_moved_alias_within_its_registry_ttl(settings, service, champion, iris):
    from models import ModelService  # pylint: disable=import-outside-toplevel

    X, _ = iris
    other = ModelService(settings.model_copy(update={"registry_ttl_seconds": 1}))  # a second front end
    assert predict(other, champion, X[:1])["version"] == 1
    assert predict(other, champion, X[:1], alias="challenger")["version"] == 2
    service.set_alias(champion, "current", 2, OWNER)
    service.set_alias(champion, "challenger", 1, OWNER)
    wait_for(lambda: predict(other, champion, X[:1])["version"] == 2, 60)  # the move, seen
    wait_for(lambda: predict(other, champion, X[:1], alias="challenger")["version"] == 1, 60)
    with pytest.raises(ModelNotFound):
        service.set_alias(champion, "current", 7, OWNER)
