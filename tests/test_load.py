"""A short run of the load test (make load runs a longer one): concurrent clients over REST and gRPC,
then every expectation checked against both protocols and the artifact bucket."""

import pytest

from mlservice.devstack.loadmix import Target, cleanup, run_load, verify
from tests.conftest import ARTIFACT_BUCKET, AUTH_HEADERS

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_short_mixed_load_loses_nothing(rest_server, grpc_server_process, s3_client):
    # one caller over both protocols (the REST token as gRPC metadata): each may retrain and delete what
    # the other trained, as the owner
    target = Target(
        rest_server.url, grpc_server_process.url, AUTH_HEADERS, (("authorization", AUTH_HEADERS["Authorization"]),)
    )
    ledger = run_load(target, duration=12, clients=4, seed=7)
    try:
        assert not ledger.errors, ledger.errors[:5]
        assert ledger.counts, "no operation finished"  # correctness only: how many is the benchmark's business
        problems = verify(ledger, target, s3_client, ARTIFACT_BUCKET)  # both protocols agree with the ledger
        assert not problems, problems
    finally:
        cleanup(ledger, target)
