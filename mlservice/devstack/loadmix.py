"""A bounded, self-stopping mixed load: concurrent clients train, retrain, predict, list and delete over
REST and gRPC, then everything the clients believe is checked against both protocols and the
artifact bucket.

``make load`` runs it on a stack of its own (``bench/loadtest.py``); ``tests/test_load.py`` runs a
short version against the test session's processes. Traffic goes to 127.0.0.1 only; every loop
stops at its deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import requests
from sklearn.datasets import load_iris

import app_pb2
import app_pb2_grpc

OPERATIONS = {"train": 0.2, "retrain": 0.15, "predict": 0.35, "list": 0.2, "delete": 0.1}


@dataclass
class Ledger:  # pylint: disable=too-many-instance-attributes
    """What the clients believe, recorded as they go (thread-safe)."""

    live: dict[str, int] = field(default_factory=dict)  # model id -> number of versions
    run_ids: dict[str, set[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


@dataclass
class Target:
    """Where the service runs and how to authenticate."""

    rest_url: str
    grpc_target: str
    rest_headers: dict[str, str]
    grpc_metadata: tuple[tuple[str, str], ...] = ()
    # How long after a retrain another process may still serve the previous version (the registry
    # TTL x the stale factor; 0 = exact, as in the test suite).
    staleness_seconds: float = 0.0


class Client:  # pylint: disable=too-many-instance-attributes
    """One load client: owns the models it trains, so its expectations are exact."""

    def __init__(self, number: int, target: Target, ledger: Ledger, seed: int):
        self.number, self.target, self.ledger = number, target, ledger
        self.random = random.Random(seed + number)  # noqa: S311  # a reproducible workload, not a secret
        self.http = requests.Session()
        self.http.headers.update(target.rest_headers)
        self.channel = grpc.insecure_channel(target.grpc_target)
        self.stub = app_pb2_grpc.MLServiceStub(self.channel)
        self.mine: dict[str, int] = {}
        self.retrained_at: dict[str, float] = {}
        X, y = load_iris(return_X_y=True)
        self.X, self.y = X.tolist(), y.tolist()

    def sample(self) -> tuple[list, list]:
        rows = self.random.sample(range(len(self.y)), 60)
        return [self.X[i] for i in rows], [self.y[i] for i in rows]

    def run(self, deadline: float) -> None:
        names, weights = zip(*OPERATIONS.items(), strict=True)
        try:
            while time.monotonic() < deadline:
                operation = self.random.choices(names, weights)[0]
                protocol = self.random.choice(("rest", "grpc"))
                if operation != "train" and not self.mine:
                    operation = "train"
                try:
                    getattr(self, operation)(protocol)
                    with self.ledger.lock:
                        self.ledger.counts[f"{operation}/{protocol}"] += 1
                except (requests.RequestException, grpc.RpcError, AssertionError, KeyError) as exc:
                    self.ledger.error(f"client {self.number} {operation}/{protocol}: {type(exc).__name__}: {exc}")
        finally:
            self.channel.close()

    def _rows(self, X):
        return [app_pb2.FeatureArray(features=row) for row in X]

    def train(self, protocol: str) -> None:
        X, y = self.sample()
        if protocol == "rest":
            response = self.http.post(f"{self.target.rest_url}/models/train",
                                      json={"model_type": "decision_tree", "X": X, "y": y}, timeout=120)  # fmt: skip
            assert response.status_code == 201, response.text
            model_id, version = response.json()["model_id"], response.json()["version"]
        else:
            reply = self.stub.TrainModel(app_pb2.TrainRequest(model_type="knn", X=self._rows(X), y=y),
                                         metadata=self.target.grpc_metadata, timeout=120)  # fmt: skip
            model_id, version = reply.model_id, reply.version
        assert version == 1, f"new model {model_id} is version {version}"
        self.mine[model_id] = 1
        with self.ledger.lock:
            self.ledger.live[model_id] = 1

    def retrain(self, protocol: str) -> None:
        model_id = self.random.choice(sorted(self.mine))
        X, y = self.sample()
        if protocol == "rest":
            response = self.http.post(f"{self.target.rest_url}/models/{model_id}/retrain", json={"X": X, "y": y},
                                      timeout=120)  # fmt: skip
            assert response.status_code == 200, response.text
            version = response.json()["version"]
        else:
            version = self.stub.RetrainModel(app_pb2.RetrainRequest(model_id=model_id, X=self._rows(X), y=y),
                                             metadata=self.target.grpc_metadata, timeout=120).version  # fmt: skip
        assert version == self.mine[model_id] + 1, f"{model_id}: retrain gave version {version}"
        self.mine[model_id] = version
        self.retrained_at[model_id] = time.monotonic()
        with self.ledger.lock:
            self.ledger.live[model_id] = version

    def predict(self, protocol: str) -> None:
        model_id = self.random.choice(sorted(self.mine))
        X, _ = self.sample()
        if protocol == "rest":
            response = self.http.post(f"{self.target.rest_url}/models/{model_id}/predict", json={"X": X[:5]},
                                      timeout=60)  # fmt: skip
            assert response.status_code == 200, response.text
            version, predictions = response.json()["version"], response.json()["predictions"]
        else:
            reply = self.stub.Predict(app_pb2.PredictRequest(model_id=model_id, X=self._rows(X[:5])),
                                      metadata=self.target.grpc_metadata, timeout=60)  # fmt: skip
            version, predictions = reply.version, list(reply.predictions)
        expected = self.mine[model_id]
        if version != expected:
            since = time.monotonic() - self.retrained_at.get(model_id, float("-inf"))
            assert version < expected and since <= self.target.staleness_seconds, (
                f"{model_id}: predicted with version {version}, current is {expected} since {since:.1f} s"
            )
            with self.ledger.lock:
                self.ledger.counts["stale_within_bound"] += 1
        assert len(predictions) == 5

    def list(self, protocol: str) -> None:
        # only deletions finished before the listing was asked for must be missing from it; one that
        # finishes while the listing is in flight may or may not show (the end-of-run check is exact)
        with self.ledger.lock:
            deleted_before = set(self.ledger.deleted)
        if protocol == "rest":
            response = self.http.get(f"{self.target.rest_url}/models", timeout=60)
            assert response.status_code == 200, response.text
            listed = {m["id"]: m["version"] for m in response.json()}
        else:
            reply = self.stub.ListModels(app_pb2.Empty(), metadata=self.target.grpc_metadata, timeout=60)
            listed = {m.id: m.version for m in reply.models}
        for model_id, version in self.mine.items():
            assert listed.get(model_id) == version, f"{model_id} listed as {listed.get(model_id)}, expected {version}"
        gone = sorted(m for m in deleted_before if m in listed)
        assert not gone, f"deleted models listed again: {gone}"

    def delete(self, protocol: str) -> None:
        model_id = self.random.choice(sorted(self.mine))
        record = self.http.get(f"{self.target.rest_url}/models/{model_id}", timeout=60).json()
        runs = {v["run_id"] for v in record["versions"]}
        if protocol == "rest":
            assert self.http.delete(f"{self.target.rest_url}/models/{model_id}", timeout=60).status_code == 204
        else:
            assert self.stub.DeleteModel(app_pb2.ModelId(model_id=model_id), metadata=self.target.grpc_metadata,
                                         timeout=60).success  # fmt: skip
        del self.mine[model_id]
        with self.ledger.lock:
            del self.ledger.live[model_id]
            self.ledger.deleted.add(model_id)
            self.ledger.run_ids[model_id] = runs


def run_load(target: Target, *, duration: float, clients: int, seed: int = 0) -> Ledger:
    """Run the clients until the deadline; returns what they recorded."""
    ledger = Ledger()
    deadline = time.monotonic() + duration
    workers = [Client(n, target, ledger, seed) for n in range(clients)]
    threads = [threading.Thread(target=w.run, args=(deadline,), name=f"load-{w.number}") for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 300)
    return ledger


def verify(ledger: Ledger, target: Target, s3_client, bucket: str) -> list[str]:
    """Everything the clients believe, against both protocols and the bucket; returns the problems."""
    problems = []
    http = requests.Session()
    http.headers.update(target.rest_headers)
    rest = {m["id"]: m["version"] for m in http.get(f"{target.rest_url}/models", timeout=60).json()}
    with grpc.insecure_channel(target.grpc_target) as channel:
        stub = app_pb2_grpc.MLServiceStub(channel)
        over_grpc = {m.id: m.version for m in stub.ListModels(app_pb2.Empty(), metadata=target.grpc_metadata).models}
    for model_id, versions in ledger.live.items():
        if rest.get(model_id) != versions or over_grpc.get(model_id) != versions:
            problems.append(f"{model_id}: expected version {versions}, REST {rest.get(model_id)}, gRPC "
                            f"{over_grpc.get(model_id)}")  # fmt: skip
        count = len(http.get(f"{target.rest_url}/models/{model_id}", timeout=60).json()["versions"])
        if count != versions:
            problems.append(f"{model_id}: {count} versions in the registry, expected {versions}")
    for model_id in ledger.deleted:
        if model_id in rest or model_id in over_grpc:
            problems.append(f"{model_id}: deleted but listed")
    keys = [obj["Key"] for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])]  # fmt: skip
    for model_id, runs in ledger.run_ids.items():
        orphans = [key for key in keys if any(f"/{run}/" in key for run in runs)]
        if orphans:
            problems.append(f"{model_id}: {len(orphans)} artifact object(s) left after delete")
    return problems


def cleanup(ledger: Ledger, target: Target) -> None:
    """Delete the models the clients left alive."""
    http = requests.Session()
    http.headers.update(target.rest_headers)
    for model_id in list(ledger.live):
        http.delete(f"{target.rest_url}/models/{model_id}", timeout=60)
