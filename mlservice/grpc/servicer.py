"""``mlservice.MLService`` (app.proto) over the core facade: each RPC converts, calls the core, converts back.

The caller comes from the identity interceptor (``current_caller()``); errors are the core's
exceptions, mapped once (``mlservice.grpc.status``).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

import app_pb2
import app_pb2_grpc
from mlservice.errors import Cancelled
from mlservice.grpc import convert
from mlservice.grpc.status import translate_errors
from mlservice.identity.grpc_adapter import current_caller


def stop_when_abandoned(context: grpc.ServicerContext) -> Callable[[str, float], None]:
    """A training progress callback that stops the training (and kills its fit) once the client has
    gone: its deadline passed, it cancelled, or it disconnected. Nothing is registered then."""

    def progress(_phase: str, _fraction: float) -> None:
        if not context.is_active():
            raise Cancelled("the client is gone (deadline passed or cancelled); training stopped")

    return progress


class MLServiceServicer(app_pb2_grpc.MLServiceServicer):  # pylint: disable=too-many-public-methods  # one per RPC
    """Implements ``mlservice.MLService`` over the shared core."""

    def __init__(self, service):
        self.service = service

    @translate_errors
    def HealthCheck(self, request, context):
        state = self.service.health()
        return app_pb2.HealthResponse(status=state["status"], mlflow=state["mlflow"])

    @translate_errors
    def GetModelClasses(self, request, context):
        infos = self.service.model_classes()
        return app_pb2.ModelClassesResponse(model_classes={i["key"]: convert.model_class_info(i) for i in infos})

    @translate_errors
    def ListModels(self, request, context):
        records = self.service.list_models(current_caller())
        return app_pb2.ListModelsResponse(models=[convert.model_response(r) for r in records])

    @translate_errors
    def TrainModel(self, request, context):
        training = convert.training_request(request)
        result = self.service.train(training, current_caller(), stop_when_abandoned(context)).result
        return app_pb2.TrainResponse(
            model_id=result["model_id"],
            version=result["version"],
            evaluation=result["evaluation"],
            task=result["task"],
            timings=result["timings"],
            **convert.metrics_fields(result["metrics"]),
        )

    @translate_errors
    def GetModel(self, request, context):
        return convert.model_response(self.service.get_model(request.model_id, current_caller()))

    @translate_errors
    def DeleteModel(self, request, context):
        self.service.delete_model(request.model_id, current_caller())
        return app_pb2.DeleteResponse(success=True)

    @translate_errors
    def Predict(self, request, context):
        result = self.service.predict(convert.predict_request(request), current_caller())
        return convert.predict_response(result, packed=bool(request.values))

    @translate_errors
    def RetrainModel(self, request, context):
        training = convert.retrain_request(request)
        result = self.service.train(training, current_caller(), stop_when_abandoned(context)).result
        return app_pb2.RetrainResponse(
            model_id=result["model_id"],
            version=result["version"],
            evaluation=result["evaluation"],
            **convert.metrics_fields(result["metrics"]),
        )

    @translate_errors
    def GetMetrics(self, request, context):
        result = self.service.get_metrics(request.model_id, request.version or None, current_caller())
        return app_pb2.MetricsResponse(
            version=result["version"], evaluation=result["evaluation"], **convert.metrics_fields(result["metrics"])
        )

    @translate_errors
    def SubmitTrainJob(self, request, context):
        training = convert.training_request(request, run_async=True)
        return convert.job_message(self.service.train(training, current_caller()).job)

    @translate_errors
    def SubmitRetrainJob(self, request, context):
        training = convert.retrain_request(request, run_async=True)
        return convert.job_message(self.service.train(training, current_caller()).job)

    @translate_errors
    def GetJob(self, request, context):
        return convert.job_message(self.service.get_job(request.job_id, current_caller()))

    @translate_errors
    def CancelJob(self, request, context):
        return convert.job_message(self.service.cancel_job(request.job_id, current_caller()))

    @translate_errors
    def UploadDataset(self, request, context):
        return convert.dataset_info(self.service.upload_dataset(request.name, request.content, current_caller()))

    @translate_errors
    def ListDatasets(self, request, context):
        infos = []
        for dataset in self.service.list_datasets(current_caller()):
            if dataset["source"] == "dvc":
                infos.append(convert.dataset_info({**dataset, "version": dataset["md5"]}))
            else:
                infos.extend(convert.dataset_info({**v, "source": "upload"}) for v in dataset["versions"])
        return app_pb2.ListDatasetsResponse(datasets=infos)

    @translate_errors
    def GetDataset(self, request, context):
        record = self.service.get_dataset(request.name, request.version or None, current_caller())
        return convert.dataset_info(record)

    @translate_errors
    def DeleteDataset(self, request, context):
        self.service.delete_dataset(request.name, request.version, current_caller())
        return app_pb2.DeleteResponse(success=True)

    @translate_errors
    def ListModelPermissions(self, request, context):
        return convert.model_permissions(self.service.list_permissions(request.model_id, current_caller()))

    @translate_errors
    def GetModelPermission(self, request, context):
        found = self.service.get_permission(request.model_id, request.principal, current_caller())
        return convert.model_permission(found)

    @translate_errors
    def SetModelPermission(self, request, context):
        granted = self.service.set_permission(request.model_id, request.principal, request.permission, current_caller())
        return convert.model_permission(granted)

    @translate_errors
    def DeleteModelPermission(self, request, context):
        self.service.delete_permission(request.model_id, request.principal, current_caller())
        return app_pb2.DeleteResponse(success=True)
