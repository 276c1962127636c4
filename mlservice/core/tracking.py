"""MLflow tracking for a training: the run (params, metrics, dataset lineage) and the version's tags.

The run is what the MLflow UI shows of a training; the registry version's tags are what the service
itself reads back (``mlservice.core.records``), so listing models needs no run look-ups.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlservice.core.catalogue import jsonable
from mlservice.core.datasets import lineage
from mlservice.core.registry import MANAGED_TAG, PROMOTED_TAG, TAG_PREFIX, json_tag
from mlservice.identity.principal import Principal


@dataclass
class TrainedModel:  # pylint: disable=too-many-instance-attributes  # what one training produced
    """A fitted model with what the registry records about it."""

    model_id: str
    model_type: str
    estimator: Any
    X: Any
    feature_names: list[str]
    categorical: list[str]
    params: dict[str, Any]  # every effective hyperparameter (logged as run params)
    requested_params: dict[str, Any]  # the ones the user set (shown, and reused by retrains)
    scores: dict[str, float]
    evaluation: str
    classes: list | None
    impute: bool
    dataset: dict[str, Any] | None  # the dataset record plus "target" and "frame", when trained on one
    feature_schema: list[dict[str, Any]] | None = None  # FeatureSchema.describe(): kinds, categories, medians
    confusion: dict[str, Any] | None = None  # classifiers: on the evaluation rows
    promote: bool = True  # false: registered as the challenger, never made current by a retrain


def owner_tags(owner: Principal | None) -> dict[str, str]:
    """Who made it: the principal id (what permissions name) and the login shown."""
    return {TAG_PREFIX + "owner": owner.id if owner else "", TAG_PREFIX + "owner_name": owner.login if owner else ""}


def version_tags(trained: TrainedModel, owner: Principal | None, trained_at: str) -> dict[str, str]:
    """The tags of the new registry version: what the service shows and what a retrain reuses."""
    tags = {
        MANAGED_TAG: "true",
        TAG_PREFIX + "params": json_tag(trained.requested_params) or "{}",
        TAG_PREFIX + "metrics": json.dumps(trained.scores),
        TAG_PREFIX + "evaluation": trained.evaluation,
        TAG_PREFIX + "trained_at": trained_at,
        **owner_tags(owner),
        TAG_PREFIX + "n_features": str(trained.X.shape[1]),
        TAG_PREFIX + "n_rows": str(trained.X.shape[0]),
    }
    for key, value in (
        ("feature_names", trained.feature_names),
        ("classes", trained.classes),
        ("confusion_matrix", trained.confusion),
    ):
        encoded = json_tag(value) if value is not None else None
        if encoded:
            tags[TAG_PREFIX + key] = encoded
    if not trained.promote:
        tags[PROMOTED_TAG] = "false"
    schema = schema_tag(trained.feature_schema)
    if schema:
        tags[TAG_PREFIX + "feature_schema"] = schema
    dataset = trained.dataset
    if dataset is not None:
        tags.update(
            {
                TAG_PREFIX + "dataset": dataset["name"],
                TAG_PREFIX + "dataset_version": dataset["version"],
                TAG_PREFIX + "target": dataset["target"],
                TAG_PREFIX + "features": json_tag(trained.feature_names) or "null",
                TAG_PREFIX + "impute": str(trained.impute).lower(),
            }
        )
    return tags


def schema_tag(schema: list[dict[str, Any]] | None, max_categories: int = 50) -> str | None:
    """The feature schema as a tag: whole when it fits MLflow's limit, else with each feature's known
    categories cut to ``max_categories`` (``categories_truncated``), else without categories."""
    if not schema:
        return None
    text = json_tag(schema)
    if text is None:
        cut = [
            {**f, "categories": f["categories"][:max_categories], "categories_truncated": True}
            if len(f.get("categories") or []) > max_categories
            else f
            for f in schema
        ]
        text = json_tag(cut) or json_tag([{k: v for k, v in f.items() if k != "categories"} for f in schema])
    return text


def log_run(client: MlflowClient, experiment_id: str, trained: TrainedModel, trained_at: str):
    """Create the training's run with its params, metrics and dataset; returns the run (still open)."""
    run = client.create_run(
        experiment_id,
        run_name=f"{trained.model_id}-{trained_at}",
        tags={TAG_PREFIX + "model_id": trained.model_id, TAG_PREFIX + "model_type": trained.model_type},
    )
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in trained.scores.items()],
        params=[Param(k, str(jsonable(v))[:6000]) for k, v in trained.params.items()],
        tags=[RunTag(TAG_PREFIX + "evaluation", trained.evaluation)],
    )
    if trained.dataset is not None:
        client.log_inputs(run.info.run_id, datasets=[dataset_input(trained.dataset)])
    return run


def dataset_input(dataset: dict[str, Any]) -> DatasetInput:
    """The run's dataset lineage: name, digest = the md5, source = where DVC keeps the bytes, target."""
    described = lineage(dataset)
    frame: pd.DataFrame = dataset["frame"]
    pandas_dataset = from_pandas(
        frame, source=described["source"], targets=dataset["target"], name=described["name"], digest=described["digest"]
    )
    # the conversion mlflow.log_input itself uses; MlflowClient.log_inputs takes the entity
    entity = pandas_dataset._to_mlflow_entity()  # pylint: disable=protected-access
    tags = [InputTag("mlflow.data.context", "training"), InputTag(TAG_PREFIX + "target", dataset["target"])]
    return DatasetInput(entity, tags=tags)
