"""End-to-end check of a running gRPC server, step by step, as a user would run it.

HealthCheck -> GetModelClasses -> TrainModel -> ListModels -> GetModel -> Predict -> GetMetrics ->
RetrainModel (a new version appears in MLflow) -> DeleteModel. Prints each step and exits non-zero on
the first failure.

    python grpc_client_test.py --host 127.0.0.1 --port 50051 [--token T]
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from sklearn.datasets import load_iris

import app_pb2
import app_pb2_grpc


class StepFailed(Exception):
    """A step did not give what it should."""


def check(condition: bool, message: str) -> None:
    """Fail the current step with message unless condition holds."""
    if not condition:
        raise StepFailed(message)


def run(stub: app_pb2_grpc.MLServiceStub, metadata: list[tuple[str, str]]) -> None:  # pylint: disable=too-many-locals
    """The whole cycle; raises on the first failing step."""
    X, y = load_iris(return_X_y=True)
    rows = [app_pb2.FeatureArray(features=row) for row in X.tolist()]

    def call(rpc: str, request):
        return getattr(stub, rpc)(request, metadata=metadata, timeout=120)

    health = call("HealthCheck", app_pb2.HealthRequest())
    print(f"1. HealthCheck: status={health.status} mlflow={health.mlflow}")
    check(health.status == "ok", "service is not healthy")

    classes = call("GetModelClasses", app_pb2.Empty()).model_classes
    print(f"2. GetModelClasses: {', '.join(sorted(classes))}")
    check("random_forest" in classes and "logistic_regression" in classes, "reference model classes missing")

    trained = call(
        "TrainModel",
        app_pb2.TrainRequest(
            model_type="random_forest", params={"n_estimators": "20", "max_depth": "5"}, X=rows, y=y.tolist()
        ),
    )
    model_id = trained.model_id
    print(f"3. TrainModel: id={model_id} version={trained.version} accuracy={trained.metrics['accuracy']:.3f}")
    check(trained.version == 1 and trained.metrics["accuracy"] > 0.8, "training result is wrong")
    try:
        listed = [m.id for m in call("ListModels", app_pb2.Empty()).models]
        print(f"4. ListModels: {len(listed)} model(s)")
        check(model_id in listed, "trained model not listed")

        record = call("GetModel", app_pb2.ModelId(model_id=model_id))
        print(f"5. GetModel: type={record.model_type} params={dict(record.params)} created={record.created_at}")
        check(record.model_type == "random_forest" and record.params["n_estimators"] == "20", "wrong model record")

        predicted = call("Predict", app_pb2.PredictRequest(model_id=model_id, X=rows[:5]))
        print(f"6. Predict: {list(predicted.predictions)} (version {predicted.version})")
        check(list(predicted.predictions) == y[:5].tolist(), "predictions differ from the labels")

        metrics = call("GetMetrics", app_pb2.ModelId(model_id=model_id)).metrics
        print(f"7. GetMetrics: {dict(metrics)}")
        check("f1" in metrics, "metrics missing")

        retrained = call("RetrainModel", app_pb2.RetrainRequest(model_id=model_id, X=rows, y=y.tolist()))
        versions = [v.version for v in call("GetModel", app_pb2.ModelId(model_id=model_id)).versions]
        print(f"8. RetrainModel: version={retrained.version}; versions in MLflow: {versions}")
        check(retrained.version == 2 and versions == [2, 1], "retraining did not create version 2")
    finally:
        deleted = call("DeleteModel", app_pb2.ModelId(model_id=model_id))
        print(f"9. DeleteModel: success={deleted.success}")
    check(deleted.success, "delete failed")


def main() -> int:
    """Parse arguments, run the cycle, report."""
    parser = argparse.ArgumentParser(description="End-to-end check of the mlservice gRPC API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--token", default=os.environ.get("GRPC_AUTH_TOKEN"), help="bearer token, if required")
    args = parser.parse_args()
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []
    with grpc.insecure_channel(f"{args.host}:{args.port}") as channel:
        try:
            run(app_pb2_grpc.MLServiceStub(channel), metadata)
        except grpc.RpcError as exc:
            print(f"FAILED: {exc.code().name}: {exc.details()}", file=sys.stderr)  # pylint: disable=no-member
            return 1
        except StepFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    print("OK: all gRPC steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
