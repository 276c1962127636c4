"""Model artifacts: saving a fitted model in MLflow's sklearn format (skops), uploading, loading, deleting.

Models are saved with skops, never pickle, and loaded with the service's own list of trusted types,
not the list a stored model claims: the service loads only what it could itself have saved.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import sklearn
import skops
import skops.io
from mlflow.models import Model as MlflowModel
from mlflow.models import infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from mlservice.core.catalogue import CLASSIFICATION, REGRESSION, jsonable
from mlservice.core.model_cache import LoadedModel
from mlservice.core.preprocessing import schema_of
from mlservice.core.registry import registry_errors
from mlservice.errors import ServiceError

logger = logging.getLogger(__name__)

MODEL_ARTIFACT_PATH = "model"

# Types beyond numpy/sklearn basics that skops must be told to trust for the catalogue. The service
# loads with this list (not with whatever a stored model claims), so it loads only what it could
# itself have saved. ``tests/test_models.py`` trains every class to keep the list complete.
SKOPS_TRUSTED_TYPES = sorted(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "numpy.dtype",  # column dtypes inside the one-hot encoder of tabular pipelines
    }
    | {
        f"sklearn.metrics._dist_metrics.{name}"
        for name in dir(__import__("sklearn.metrics._dist_metrics", fromlist=["_"]))
        if name.endswith("Distance64")
    }
)


def save_model(estimator: Any, X: Any, feature_names: list[str], local_path: str) -> int:
    """Save a fitted model as an MLflow sklearn model (skops, signature, explicit requirements).

    Returns:
        The size in bytes of the saved files (the model cache's estimate of its memory).
    """
    head = X[:5]
    sample = head if isinstance(head, pd.DataFrame) else pd.DataFrame(head, columns=feature_names)
    mlflow.sklearn.save_model(
        estimator,
        local_path,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        signature=infer_signature(sample, estimator.predict(head)),
        input_example=sample.head(2),
        # explicit: inferring them costs seconds per model
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"skops=={skops.__version__}",
            f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}",
        ],
    )
    return sum(entry.stat().st_size for entry in os.scandir(local_path) if entry.is_file())


def upload_model(artifact_uri: str, local_path: str, tracking_uri: str, pool: Executor) -> None:
    """Upload the saved model's files in parallel (MLflow's own log_artifacts sends them one by one)."""
    repository = get_artifact_repository(f"{artifact_uri}/{MODEL_ARTIFACT_PATH}", tracking_uri=tracking_uri)
    uploads = []
    for folder, _, names in os.walk(local_path):
        relative = os.path.relpath(folder, local_path)
        for name in names:
            path = os.path.join(folder, name)
            uploads.append(pool.submit(repository.log_artifact, path, None if relative == "." else relative))
    for upload in uploads:
        upload.result()


def load_model(client: MlflowClient, model_id: str, model_version, record: dict[str, Any]) -> LoadedModel:
    """Download one version's artifact and deserialize it with the service's own skops allow-list.

    Args:
        record: the version's record (``records.version_record``), for feature names and classes.
    """
    with registry_errors(f"load model {model_id} version {model_version.version}"):
        with tempfile.TemporaryDirectory(prefix="mlservice-load-") as scratch:
            # through our own client: MLflow's models:/ resolution would use global state
            local = client.download_artifacts(model_version.run_id, MODEL_ARTIFACT_PATH, scratch)
            flavor = MlflowModel.load(os.path.join(local, "MLmodel")).flavors["sklearn"]
            if flavor.get("serialization_format") != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
                raise ServiceError(f"Model '{model_id}' was not saved by this service (not skops)")
            serialized = os.path.join(local, flavor["pickled_model"])
            size_bytes = os.path.getsize(serialized)
            estimator = skops.io.load(serialized, trusted=SKOPS_TRUSTED_TYPES)
    logger.info("Loaded model %s version %s into the cache", model_id, model_version.version)
    names = getattr(estimator, "feature_names_in_", None)
    return loaded_model(
        estimator,
        str(model_version.version),
        [str(n) for n in names] if names is not None else record["feature_names"],
        record["classes"],
        size_bytes,
    )


def loaded_model(
    estimator: Any, version: str, feature_names: list[str] | None, classes: list | None, size_bytes: int
) -> LoadedModel:
    """What the cache keeps of a fitted model: the estimator and what predict checks input against."""
    task = CLASSIFICATION if hasattr(estimator, "classes_") else REGRESSION
    if task == CLASSIFICATION:
        classes = [jsonable(c) for c in estimator.classes_]
    return LoadedModel(
        estimator,
        version,
        task,
        int(estimator.n_features_in_),
        classes if task == CLASSIFICATION else None,
        feature_names,
        schema_of(estimator, feature_names),
        size_bytes,
    )


def discard_run(client: MlflowClient, run_id: str, tracking_uri: str) -> None:
    """Delete a run and its artifacts (best effort: failures are logged, never raised)."""
    attempts: list[tuple[str, Callable[[], Any]]] = [
        ("artifacts of run", lambda: _delete_artifacts(client, run_id, tracking_uri)),
        ("run", lambda: client.delete_run(run_id)),
    ]
    for what, attempt in attempts:
        try:
            attempt()
        except Exception:  # pylint: disable=broad-exception-caught
            logger.warning("Could not delete %s %s", what, run_id, exc_info=True)


def _delete_artifacts(client: MlflowClient, run_id: str, tracking_uri: str) -> None:
    run = client.get_run(run_id)
    get_artifact_repository(run.info.artifact_uri, tracking_uri=tracking_uri).delete_artifacts()
