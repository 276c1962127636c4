"""gRPC front end (port 50051): a thin adapter from ``app.proto`` to the ``ModelService`` core.

Each RPC converts the request, calls the core and converts the result; core exceptions become gRPC
status codes in one place (``STATUS_CODES`` + ``translate_errors``). The standard health service and
server reflection are registered (``grpcurl`` works), and SIGTERM stops the server gracefully.

Run: ``python grpc_server.py [--host H] [--port P]`` (defaults from the environment, see settings.py).
"""

from __future__ import annotations

import argparse
import functools
import hmac
import json
import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import app_pb2
import app_pb2_grpc
from mlservice.errors import (
    Cancelled,
    Conflict,
    InUse,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TrainingLimitExceeded,
    Unavailable,
)
from mlservice.jobs.runner import JobRunner
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

SERVICE_NAME = app_pb2.DESCRIPTOR.services_by_name["MLService"].full_name

# Most specific first: PayloadTooLarge is an InvalidInput, InUse a Conflict.
STATUS_CODES: list[tuple[type[ServiceError], grpc.StatusCode]] = [
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InUse, grpc.StatusCode.FAILED_PRECONDITION),
    (Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (TrainingLimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def stop_when_abandoned(context: grpc.ServicerContext) -> Callable[[str, float], None]:
    """A training progress callback that stops the training (and kills its fit) once the client has
    gone: its deadline passed, it cancelled, or it disconnected. Nothing is registered then."""

    def progress(_phase: str, _fraction: float) -> None:
        if not context.is_active():
            raise Cancelled("the client is gone (deadline passed or cancelled); training stopped")

    return progress


def status_code_for(error: ServiceError) -> grpc.StatusCode:
    """The gRPC status code of a core exception."""
    for error_type, code in STATUS_CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def translate_errors(method: Callable) -> Callable:
    """Turn core exceptions into gRPC statuses; anything unexpected into INTERNAL without details."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServiceError as exc:
            context.abort(status_code_for(exc), exc.message)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("Unexpected error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "Internal server error; the details are in the server log")
        return None  # unreachable: abort raises

    return wrapper


# --- protobuf <-> core conversions ---------------------------------------------------------------


def rows(feature_arrays) -> list[list[float]]:
    """Repeated FeatureArray as rows of numbers."""
    return [list(row.features) for row in feature_arrays]


def packed_rows(values, n_features: int) -> np.ndarray:
    """A packed (row-major) value array as a matrix, straight into NumPy without per-row objects."""
    if n_features <= 0 or len(values) % n_features:
        raise InvalidInput(f"values holds {len(values)} numbers, not a whole number of rows of n_features={n_features}")
    return np.asarray(values, dtype=np.float64).reshape(-1, n_features)


def targets(request) -> list:
    """The request's targets: string labels, float values or the reference int labels."""
    if request.y_labels:
        return list(request.y_labels)
    if request.y_values:
        return list(request.y_values)
    return list(request.y)


def training_options(request) -> dict[str, Any]:
    """The training data and options set on a Train/Retrain request (inline X/y or a dataset)."""
    options: dict[str, Any] = {"params": dict(request.params)}
    if request.dataset:
        options.update(dataset=request.dataset, features=list(request.features) or None, impute=request.impute)
        if request.target:
            options["target"] = request.target
        if request.X or targets(request):
            options.update(X=rows(request.X), y=targets(request))  # the core refuses both at once
    else:
        options.update(X=rows(request.X), y=targets(request), feature_names=list(request.feature_names) or None)
    if request.HasField("test_size"):
        options["test_size"] = request.test_size
    if request.HasField("random_state"):
        options["random_state"] = request.random_state
    return options


def dataset_info(record: dict[str, Any]) -> app_pb2.DatasetInfo:
    """A dataset version record as the proto's DatasetInfo."""
    preview = []
    for row in record.get("preview", []):
        struct = struct_pb2.Struct()
        struct.update(row)
        preview.append(struct)
    return app_pb2.DatasetInfo(
        name=record.get("name", ""),
        version=record.get("version") or record.get("md5", ""),
        md5=record.get("md5", ""),
        size=int(record.get("size") or 0),
        rows=int(record.get("rows") or 0),
        columns=[app_pb2.DatasetColumn(name=c["name"], dtype=c["dtype"]) for c in record.get("columns", [])],
        created_at=record.get("created_at") or "",
        owner=record.get("owner") or "",
        uri=record.get("uri") or "",
        source=record.get("source") or "upload",
        created=bool(record.get("created", False)),
        preview=preview,
    )


def param_text(value: Any) -> str:
    """A hyperparameter value as the text gRPC carries (strings bare, the rest JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def _bound(value: Any) -> str:
    return "" if value is None else str(value)


def _range(entry: dict[str, Any]) -> app_pb2.NumericRange:
    return app_pb2.NumericRange(
        type=entry["type"], min=_bound(entry["min"]), max=_bound(entry["max"]), closed=entry["closed"]
    )


def model_class_info(info: dict[str, Any]) -> app_pb2.ModelClassInfo:
    """A catalogue entry as the proto's ModelClassInfo."""
    schema = [
        app_pb2.Hyperparameter(
            name=hp["name"],
            types=hp["types"],
            default_json=json.dumps(hp["default"]),
            choices=[str(choice) for choice in hp.get("choices", [])],
            ranges=[_range(entry) for entry in hp.get("ranges", [])],
        )
        for hp in info["hyperparameters"]
    ]
    return app_pb2.ModelClassInfo(
        class_name=info["class_name"],
        hyperparameters=[hp["name"] for hp in info["hyperparameters"]],
        description=info["description"],
        task=info["task"],
        schema=schema,
    )


def model_response(record: dict[str, Any]) -> app_pb2.ModelResponse:
    """A model record (list/get) as the proto's ModelResponse."""
    versions = [
        app_pb2.ModelVersion(
            version=v["version"],
            params={k: param_text(p) for k, p in v["params"].items()},
            metrics=v["metrics"],
            evaluation=v["evaluation"],
            trained_at=v["trained_at"],
            owner=v["owner"],
            run_id=v["run_id"] or "",
            dataset=(v.get("dataset") or {}).get("name", ""),
            dataset_version=(v.get("dataset") or {}).get("version", ""),
            target=(v.get("dataset") or {}).get("target", ""),
        )
        for v in record.get("versions", [])
    ]
    return app_pb2.ModelResponse(
        id=record["id"],
        model_type=record["model_type"],
        params={k: param_text(p) for k, p in record["params"].items()},
        created_at=record["created_at"],
        metrics=record["metrics"],
        version=record["version"],
        task=record["task"],
        owner=record["owner"],
        feature_names=record["feature_names"] or [],
        classes=[str(c) for c in record["classes"] or []],
        n_features=record["n_features"],
        versions=versions,
    )


def predict_response(result: dict[str, Any], packed: bool = False) -> app_pb2.PredictResponse:
    """A raw prediction result (NumPy arrays): numeric predictions as numbers, labels as text when the
    classes are not numbers, probabilities as rows or, for packed requests, one flat array."""
    predictions = np.asarray(result["predictions"])
    numeric = predictions.dtype.kind in "iuf"
    response = app_pb2.PredictResponse(
        predictions=predictions.astype(np.float64).tolist() if numeric else [],
        labels=[] if numeric else [str(p) for p in predictions.tolist()],
        classes=[str(c) for c in result.get("classes") or []],
        version=result["version"],
    )
    probabilities = result.get("probabilities")
    if probabilities is not None:
        if packed:
            response.flat_probabilities.extend(probabilities.ravel().tolist())
            response.n_classes = probabilities.shape[1]
        else:
            response.probabilities.extend(app_pb2.ProbabilityRow(values=row) for row in probabilities.tolist())
    return response


# --- malformed requests ----------------------------------------------------------------------------


class _Malformed:
    """Stands in for a request whose bytes are not a valid message (e.g. non-UTF-8 in a string)."""

    def __init__(self, error: Exception):
        self.error = error


class MalformedRequestInterceptor(grpc.ServerInterceptor):
    """Answers INVALID_ARGUMENT for undecodable request bytes, where grpcio would answer INTERNAL."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        deserialize, behaviour = handler.request_deserializer, handler.unary_unary or handler.unary_stream

        def tolerant(data: bytes):
            try:
                return deserialize(data)
            except DecodeError as exc:
                return _Malformed(exc)

        def guarded(request, context):
            if isinstance(request, _Malformed):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "The request is not a valid message (string fields must be UTF-8; types must match app.proto)",
                )
            return behaviour(request, context)

        make = (
            grpc.unary_stream_rpc_method_handler if handler.response_streaming else grpc.unary_unary_rpc_method_handler
        )
        return make(guarded, request_deserializer=tolerant, response_serializer=handler.response_serializer)


# --- authentication --------------------------------------------------------------------------------


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Requires ``authorization: Bearer <GRPC_AUTH_TOKEN>`` on every call but the health service."""

    OPEN_PREFIX = "/grpc.health.v1.Health/"

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(self.OPEN_PREFIX):
            return continuation(handler_call_details)
        supplied = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(supplied).encode(), self._expected):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        return None if handler is None else _unauthenticated(handler)


def _unauthenticated(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as handler that answers UNAUTHENTICATED."""

    def deny(_request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid 'authorization: Bearer <token>' metadata")

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    return kinds[(handler.request_streaming, handler.response_streaming)](
        deny,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


# --- the servicer ----------------------------------------------------------------------------------


def job_message(job: dict[str, Any]) -> app_pb2.Job:
    """A training job as the proto's Job."""
    result = job.get("result") or {}
    return app_pb2.Job(
        id=job["id"],
        kind=job["kind"],
        status=job["status"],
        phase=job["phase"],
        progress=job["progress"],
        model_id=job.get("model_id") or "",
        version=job.get("version") or 0,
        error=job.get("error") or "",
        created_at=job.get("created_at") or "",
        started_at=job.get("started_at") or "",
        finished_at=job.get("finished_at") or "",
        metrics=result.get("metrics", {}),
        timings=result.get("timings", {}),
        cancel_requested=job["cancel_requested"],
    )


class MLServiceServicer(app_pb2_grpc.MLServiceServicer):
    """Implements ``mlservice.MLService`` over the shared core."""

    def __init__(self, service, runner):
        self.service = service
        self.runner = runner

    @translate_errors
    def HealthCheck(self, request, context):
        state = self.service.health()
        return app_pb2.HealthResponse(status=state["status"], mlflow=state["mlflow"])

    @translate_errors
    def GetModelClasses(self, request, context):
        return app_pb2.ModelClassesResponse(
            model_classes={info["key"]: model_class_info(info) for info in self.service.model_classes()}
        )

    @translate_errors
    def ListModels(self, request, context):
        return app_pb2.ListModelsResponse(models=[model_response(r) for r in self.service.list_models()])

    @translate_errors
    def TrainModel(self, request, context):
        result = self.service.train_model(
            request.model_type,
            model_id=request.model_id or None,
            progress=stop_when_abandoned(context),
            **training_options(request),
        )
        return app_pb2.TrainResponse(
            model_id=result["model_id"],
            metrics=result["metrics"],
            version=result["version"],
            evaluation=result["evaluation"],
            task=result["task"],
            timings=result["timings"],
        )

    @translate_errors
    def GetModel(self, request, context):
        return model_response(self.service.get_model(request.model_id))

    @translate_errors
    def DeleteModel(self, request, context):
        self.service.delete_model(request.model_id)
        return app_pb2.DeleteResponse(success=True)

    @translate_errors
    def Predict(self, request, context):
        records = [json_format.MessageToDict(record) for record in request.records] or None
        packed = bool(request.values)
        if packed:
            X = packed_rows(request.values, request.n_features)
        else:
            X = None if records else rows(request.X)
        result = self.service.predict(request.model_id, X=X, records=records, version=request.version or None, raw=True)
        return predict_response(result, packed=packed)

    @translate_errors
    def RetrainModel(self, request, context):
        result = self.service.retrain_model(
            request.model_id, progress=stop_when_abandoned(context), **training_options(request)
        )
        return app_pb2.RetrainResponse(
            metrics=result["metrics"],
            model_id=result["model_id"],
            version=result["version"],
            evaluation=result["evaluation"],
        )

    @translate_errors
    def GetMetrics(self, request, context):
        result = self.service.get_metrics(request.model_id, request.version or None)
        return app_pb2.MetricsResponse(
            metrics=result["metrics"], version=result["version"], evaluation=result["evaluation"]
        )

    @translate_errors
    def SubmitTrainJob(self, request, context):
        body = {"model_type": request.model_type, "model_id": request.model_id or None, **training_options(request)}
        return job_message(self.runner.submit("train", body))

    @translate_errors
    def SubmitRetrainJob(self, request, context):
        return job_message(self.runner.submit("retrain", training_options(request), model_id=request.model_id))

    @translate_errors
    def GetJob(self, request, context):
        return job_message(self.runner.get(request.job_id))

    @translate_errors
    def CancelJob(self, request, context):
        return job_message(self.runner.cancel(request.job_id))

    @translate_errors
    def UploadDataset(self, request, context):
        return dataset_info(self.service.upload_dataset(request.name, request.content))

    @translate_errors
    def ListDatasets(self, request, context):
        infos = []
        for dataset in self.service.list_datasets():
            if dataset["source"] == "dvc":
                infos.append(dataset_info({**dataset, "version": dataset["md5"]}))
            else:
                infos.extend(dataset_info({**v, "source": "upload"}) for v in dataset["versions"])
        return app_pb2.ListDatasetsResponse(datasets=infos)

    @translate_errors
    def GetDataset(self, request, context):
        return dataset_info(self.service.get_dataset(request.name, request.version or None))

    @translate_errors
    def DeleteDataset(self, request, context):
        if not request.version:
            raise InvalidInput("version is required to delete a dataset version")
        self.service.delete_dataset(request.name, request.version)
        return app_pb2.DeleteResponse(success=True)


def build_server(settings: Settings, service, runner: JobRunner | None = None) -> tuple[grpc.Server, int]:
    """A gRPC server with the MLService, health and reflection services, bound but not started."""
    if runner is None:
        runner = JobRunner.from_settings(service, settings).start()
    interceptors: list[grpc.ServerInterceptor] = [MalformedRequestInterceptor()]
    if settings.grpc_auth_token:
        interceptors.insert(0, BearerTokenInterceptor(settings.grpc_auth_token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_grpc_message_bytes),
            ("grpc.max_send_message_length", settings.max_grpc_message_bytes),
        ],
    )
    app_pb2_grpc.add_MLServiceServicer_to_server(MLServiceServicer(service, runner), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    if port == 0:
        raise RuntimeError(f"could not bind gRPC to {settings.host}:{settings.grpc_port}")
    return server, port


def serve(settings: Settings) -> None:
    """Run the gRPC server until SIGTERM/SIGINT, then stop gracefully."""
    from models import ModelService  # pylint: disable=import-outside-toplevel  # heavy: MLflow, sklearn

    server, port = build_server(settings, ModelService(settings))
    stopped = threading.Event()

    def stop(signum, _frame):
        logger.info("Signal %s: stopping gRPC server (grace 10 s)", signum)
        server.stop(grace=10).wait()
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    logger.info("gRPC server listening on %s:%s", settings.host, port)
    stopped.wait()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="interface to bind (default: MLSERVICE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: MLSERVICE_GRPC_PORT or 50051)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in (("host", args.host), ("grpc_port", args.port)) if v is not None}
    serve(Settings(**overrides))


if __name__ == "__main__":
    main()
