"""``make load``: a bounded load test on a stack of its own (``mlservice.devstack.loadmix`` is the load).

``python -m bench.loadtest --duration 60 --clients 8`` starts the real stack, runs the mixed load,
checks everything the clients believe against both protocols and the artifact bucket, and reports,
with how far the Prometheus request counters of REST ``/metrics`` and the gRPC metrics port moved
(a counter that did not move is a problem).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import boto3
import requests
from prometheus_client.parser import text_string_to_metric_families

from mlservice.devstack.loadmix import Target, run_load, verify
from mlservice.devstack.processes import ARTIFACT_BUCKET, S3_KEY


def requests_by_protocol(url: str) -> dict[str, float]:
    """``mlservice_requests_total`` of one scrape, summed by protocol."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(requests.get(url, timeout=30).text):
        for sample in family.samples:
            if sample.name == "mlservice_requests_total":
                protocol = sample.labels["protocol"]
                totals[protocol] = totals.get(protocol, 0.0) + sample.value
    return totals


def main() -> int:
    """``make load``: start the stack, run the load, verify, report."""
    from bench.stack import running_stack  # pylint: disable=import-outside-toplevel
    from mlservice.core.resolution import STALE_FACTOR  # pylint: disable=import-outside-toplevel
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlservice-load-") as scratch, running_stack(Path(scratch)) as stack:
        staleness = Settings().registry_ttl_seconds * STALE_FACTOR
        target = Target(stack.rest_url, stack.grpc_target, stack.rest_headers, stack.grpc_metadata, staleness)
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=S3_KEY,
                          aws_secret_access_key=S3_KEY, region_name="us-east-1")  # fmt: skip
        print(f"load: {args.clients} clients for {args.duration:.0f} s against {stack.rest_url} / {stack.grpc_target}")
        scrapes = {"rest": f"{stack.rest_url}/metrics", "grpc": stack.grpc_metrics_url}
        before = {door: requests_by_protocol(url) for door, url in scrapes.items()}
        ledger = run_load(target, duration=args.duration, clients=args.clients)
        problems = verify(ledger, target, s3, ARTIFACT_BUCKET)
        for door, url in scrapes.items():
            after = requests_by_protocol(url)
            moved = {p: after[p] - before[door].get(p, 0.0) for p in sorted(after)}
            print(f"metrics {door} ({url}): mlservice_requests_total moved by {moved}")
            if not any(moved.values()):
                problems.append(f"the request counters of {url} did not move")
    print("operations:", dict(sorted(ledger.counts.items())), f"total {sum(ledger.counts.values())}")
    print(f"models alive {len(ledger.live)}, deleted {len(ledger.deleted)}")
    for line in ledger.errors + problems:
        print("PROBLEM:", line)
    print("load: OK" if not ledger.errors and not problems else "load: FAILED")
    return 0 if not ledger.errors and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
