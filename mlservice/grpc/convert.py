"""Conversions between ``app.proto`` messages and the core's requests and records.

The servicer passes what a message carries to the core as it came (both X and records, a dataset
and inline rows, an empty version), so the core refuses what is wrong in the same words as for
REST. Numbers the reference contract sends as float also go out as doubles (``*_values`` fields).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

import app_pb2
from mlservice.core.inputs import RETRAIN, TRAIN, PredictRequest, TrainingRequest
from mlservice.errors import InvalidInput


def rows(feature_arrays) -> list[list[float]] | None:
    """Repeated FeatureArray as rows of numbers (the double ``values`` when a row sets them); None when empty."""
    if not feature_arrays:
        return None
    return [list(row.values) if row.values else list(row.features) for row in feature_arrays]


def packed_rows(values, n_features: int) -> np.ndarray:
    """A packed (row-major) value array as a matrix, straight into NumPy without per-row objects."""
    if n_features <= 0 or len(values) % n_features:
        raise InvalidInput(f"values holds {len(values)} numbers, not a whole number of rows of n_features={n_features}")
    return np.asarray(values, dtype=np.float64).reshape(-1, n_features)


def targets(request) -> list | None:
    """The request's targets: string labels, float values or the reference int labels; None when none."""
    for field in (request.y_labels, request.y_values, request.y):
        if field:
            return list(field)
    return None


def training_request(request, kind: str = TRAIN, run_async: bool = False) -> TrainingRequest:
    """A Train/Retrain message as the core's request, empty fields as absent."""
    optional = {name: getattr(request, name) for name in ("test_size", "random_state") if request.HasField(name)}
    if kind == RETRAIN:
        optional["promote"] = not request.keep_current
    return TrainingRequest(
        kind=kind,
        model_type=(request.model_type or None) if kind == TRAIN else None,
        model_id=request.model_id or None,
        params=dict(request.params) or None,
        X=rows(request.X),
        y=targets(request),
        feature_names=list(request.feature_names) or None,
        dataset=request.dataset or None,
        target=request.target or None,
        features=list(request.features) or None,
        impute=request.impute,
        run_async=run_async,
        **optional,
    )


def retrain_request(request, run_async: bool = False) -> TrainingRequest:
    """A RetrainRequest as the core's request."""
    return training_request(request, RETRAIN, run_async)


def struct_values(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as Python values, numbers as floats, NaN and infinities included (``json_format`` refuses
    them, as JSON cannot carry them: the core says what is wrong with such a value instead)."""
    return {key: _value(value) for key, value in struct.fields.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_values(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None if kind in (None, "null_value") else getattr(value, kind)


def predict_request(request) -> PredictRequest:
    """A PredictRequest message as the core's: rows (or packed values) and records passed on as sent."""
    records = [struct_values(record) for record in request.records] or None
    X = packed_rows(request.values, request.n_features) if request.values else rows(request.X)
    return PredictRequest(
        request.model_id, X=X, records=records, version=request.version or None, alias=request.alias or None
    )


def confusion_matrix(confusion: dict[str, Any] | None) -> app_pb2.ConfusionMatrix | None:
    """A confusion matrix record as the proto's (counts row-major); None when there is none."""
    if not confusion:
        return None
    return app_pb2.ConfusionMatrix(
        labels=[str(label) for label in confusion["labels"]],
        counts=[count for row in confusion["matrix"] for count in row],
        n_rows=confusion.get("n_rows", 0),
    )


def training_fields(result: dict[str, Any]) -> dict[str, Any]:
    """What TrainResponse and RetrainResponse share beyond the reference: metrics, confusion matrix, aliases."""
    return {
        **metrics_fields(result["metrics"]),
        "confusion_matrix": confusion_matrix(result.get("confusion_matrix")),
        "aliases": result.get("aliases", []),
    }


def feature_infos(schema: list[dict[str, Any]] | None) -> list[app_pb2.FeatureInfo]:
    """A version's feature schema as the proto's FeatureInfo list."""
    return [
        app_pb2.FeatureInfo(
            name=f["name"],
            kind=f["kind"],
            categories=[str(c) for c in f.get("categories") or []],
            median=f.get("median"),
            nullable=bool(f.get("nullable")),
            categories_truncated=bool(f.get("categories_truncated")),
        )
        for f in schema or []
    ]


def alias_response(moved: dict[str, Any]) -> app_pb2.AliasResponse:
    """The core's answer to a set_alias as the proto's AliasResponse."""
    return app_pb2.AliasResponse(
        model_id=moved["model_id"],
        alias=moved["alias"],
        version=moved["version"],
        previous_version=moved["previous_version"] or 0,
        created=moved["created"],
    )


def metrics_fields(metrics: dict[str, float]) -> dict[str, Any]:
    """Metrics for both the reference's float map and the full-precision double map."""
    return {"metrics": metrics, "metric_values": metrics}


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
        used_by=record.get("used_by") or [],
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
            description=hp.get("description", ""),
            deprecated=hp.get("deprecated", ""),
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


def model_version(v: dict[str, Any]) -> app_pb2.ModelVersion:
    """A version record as the proto's ModelVersion."""
    return app_pb2.ModelVersion(
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
        aliases=v.get("aliases", []),
        feature_schema=feature_infos(v.get("feature_schema")),
        confusion_matrix=confusion_matrix(v.get("confusion_matrix")),
    )


def alias_event(event: dict[str, Any]) -> app_pb2.AliasEvent:
    """One entry of the aliases' audit trail as the proto's AliasEvent."""
    return app_pb2.AliasEvent(
        at=event.get("at", ""),
        alias=event.get("alias", ""),
        version=event.get("version") or 0,
        previous_version=event.get("previous_version") or 0,
        by=event.get("by", ""),
        by_name=event.get("by_name", ""),
        reason=event.get("reason", ""),
    )


def model_response(record: dict[str, Any]) -> app_pb2.ModelResponse:
    """A model record (list/get) as the proto's ModelResponse."""
    return app_pb2.ModelResponse(
        id=record["id"],
        model_type=record["model_type"],
        params={k: param_text(p) for k, p in record["params"].items()},
        created_at=record["created_at"],
        **metrics_fields(record["metrics"]),
        version=record["version"],
        task=record["task"],
        owner=record["owner"],
        feature_names=record["feature_names"] or [],
        classes=[str(c) for c in record["classes"] or []],
        n_features=record["n_features"],
        versions=[model_version(v) for v in record.get("versions", [])],
        aliases=record.get("aliases", {}),
        alias_log=[alias_event(e) for e in record.get("alias_log", [])],
        feature_schema=feature_infos(record.get("feature_schema")),
    )


def predict_response(result: dict[str, Any], packed: bool = False) -> app_pb2.PredictResponse:
    """A raw prediction result (NumPy arrays): numeric predictions as numbers, labels as text when the
    classes are not numbers, probabilities as rows or, for packed requests, one flat array."""
    predictions = np.asarray(result["predictions"])
    numeric = predictions.dtype.kind in "iuf"
    values = predictions.astype(np.float64).tolist() if numeric else []
    response = app_pb2.PredictResponse(
        predictions=values,
        prediction_values=values,
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


def model_permission(record: dict[str, Any]) -> app_pb2.ModelPermission:
    """A grant (or a principal's effective permission) as the proto's ModelPermission."""
    return app_pb2.ModelPermission(
        model_id=record["model_id"],
        principal=record["principal"],
        permission=record["permission"],
        granted=bool(record.get("granted", True)),
        granted_by=record.get("granted_by") or "",
        granted_at=record.get("granted_at") or "",
    )


def model_permissions(record: dict[str, Any]) -> app_pb2.ModelPermissions:
    """A model's owner, default permission and grants as the proto's ModelPermissions."""
    return app_pb2.ModelPermissions(
        model_id=record["model_id"],
        owner=record["owner"],
        default_permission=record["default"],
        grants=[model_permission(grant) for grant in record["grants"]],
    )
