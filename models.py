"""The ML core shared by every front end: training, versioning, serving and deleting models.

``ModelService`` is the one object that the REST API, the gRPC server and (through the REST API) the
dashboard use. It and its two helpers (``catalogue.py``: model classes and hyperparameters;
``training.py``: request data and evaluation) are the only code that touches scikit-learn and
MLflow. The MLflow Model Registry is the single source of truth: a model id is a registered model
name, each (re)training is an MLflow run plus a new registry version, and the alias ``current``
points at the version that serves predictions. Nothing about models is kept in process memory
except a bounded cache of loaded versions, so any number of REST and gRPC processes agree on which
models exist.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import requests
import sklearn
import skops
import skops.io
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model as MlflowModel
from mlflow.models import infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from mlservice.core.catalogue import CLASSIFICATION, MODEL_CLASSES, REGRESSION, ModelClass, coerce_params, jsonable
from mlservice.core.datasets import DatasetStore, lineage, parse_csv, repo_datasets
from mlservice.core.fitting import fit_in_child
from mlservice.core.fitting import warm_up as warm_up_fits
from mlservice.core.model_cache import LoadedModel, ModelCache
from mlservice.core.registry import json_tag, parse_json, registry_errors, utcnow
from mlservice.core.training import (
    TrainingData,
    as_feature_matrix,
    as_targets,
    categorical_columns,
    feature_names_for,
    frame_features,
    prediction_input,
    tabular_pipeline,
)
from mlservice.errors import Conflict, DatasetNotFound, InvalidInput, ModelNotFound, ServiceError, Unavailable
from mlservice.settings import Settings

__all__ = ["MODEL_CLASSES", "ModelService", "as_feature_matrix", "coerce_params"]

ProgressCallback = Callable[[str, float], None]


def _report(progress: ProgressCallback | None, phase: str, fraction: float) -> None:
    if progress is not None:
        progress(phase, fraction)


logger = logging.getLogger(__name__)

CURRENT_ALIAS = "current"  # "latest" is reserved by MLflow
TAG_PREFIX = "mlservice."
MANAGED_TAG = TAG_PREFIX + "managed"
MODEL_ARTIFACT_PATH = "model"
MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
STALE_FACTOR = 10  # past TTL x this, a resolution is refreshed on the request path, not in the background

# Types beyond numpy/sklearn basics that skops must be told to trust for the catalogue below. The
# service loads with this list (not with whatever a stored model claims), so it loads only what it
# could itself have saved. ``test_models.py`` trains every class to keep the list complete.
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

# --------------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------------


class ModelService:  # pylint: disable=too-many-public-methods
    """Train, version, serve and delete models; the one object every front end talks to."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None):
        self.settings = settings
        # MLflow reads its HTTP timeout and retry budget from the environment at call time; without
        # this a stopped tracking server makes every request retry for minutes.
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(math.ceil(settings.mlflow_timeout_seconds)))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.mlflow_max_retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", "32")  # request threads + the upload pool
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.client = client or MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
        self.cache = ModelCache(settings.model_cache_size, settings.model_cache_bytes)
        self._resolved: dict[tuple[str, str | None], tuple[float, Any]] = {}
        self._resolved_lock = threading.Lock()
        self._refreshing: set[tuple[str, str | None]] = set()
        self._experiment_id: str | None = None
        self._io_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mlflow-io")
        self.datasets = DatasetStore(
            settings.dataset_store_url or str((settings.state_dir / "datasets").resolve()),
            settings.dataset_storage_options or None,
            max_bytes=settings.max_body_bytes,
            max_rows=settings.max_rows,
            max_columns=settings.max_features + 1,
            repo_root=settings.repo_root,
        )
        warm_up_fits()

    # --- catalogue --------------------------------------------------------------------------

    @staticmethod
    def model_classes() -> list[dict[str, Any]]:
        """Every trainable class with its task, description and hyperparameter schema."""
        return [mc.info() for mc in MODEL_CLASSES.values()]

    @staticmethod
    def model_class(model_type: str) -> ModelClass:
        """The catalogue entry for a model type key.

        Raises:
            InvalidInput: unknown key, listing the known ones.
        """
        try:
            return MODEL_CLASSES[model_type]
        except (KeyError, TypeError):
            raise InvalidInput(
                f"Unknown model_type '{model_type}'; choose one of: {', '.join(MODEL_CLASSES)}"
            ) from None

    # --- health -----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``ok`` when the registry answers, ``degraded`` (with the reason) when it does not."""
        try:
            response = requests.get(
                self.settings.mlflow_tracking_uri.rstrip("/") + "/health",
                timeout=min(self.settings.mlflow_timeout_seconds, 3.0),
            )
            mlflow_state = "ok" if response.ok else f"unhealthy (HTTP {response.status_code})"
        except requests.RequestException:
            mlflow_state = "unreachable"
        return {
            "status": "ok" if mlflow_state == "ok" else "degraded",
            "mlflow": mlflow_state,
            "model_cache_entries": len(self.cache),
            "model_cache_bytes": self.cache.size_bytes,
        }

    # --- training ---------------------------------------------------------------------------

    def train_model(
        self,
        model_type: str,
        X: Any = None,
        y: Any = None,
        *,
        params: dict[str, Any] | None = None,
        model_id: str | None = None,
        owner: str | None = None,
        progress: ProgressCallback | None = None,
        **data_options: Any,
    ) -> dict[str, Any]:
        """Train a new model, log it to MLflow and register it as version 1.

        Args:
            model_type: a key of the catalogue. X, y: inline rows and targets, or instead
                ``dataset="name[@version]"`` and ``target="column"`` (see ``TrainingData``).
            params: hyperparameters (typed or strings). model_id: optional id to give the model.
            owner: who trains it (GitHub login or token name), recorded in MLflow.
            progress: called with (phase, fraction done) at each phase; may raise ``Cancelled``
                to stop before anything is registered (asynchronous jobs).

        Returns:
            The training result: model id, version, metrics, evaluation kind, timings.

        Raises:
            InvalidInput: bad class, hyperparameters or data. Conflict: the id is taken.
            Unavailable: MLflow or the artifact store cannot be reached (nothing is left behind).
        """
        model_class = self.model_class(model_type)
        if model_id is not None and not MODEL_ID_PATTERN.match(str(model_id)):
            raise InvalidInput(
                "model_id must be 1-63 characters: letters, digits, '_', '.', '-', starting with a letter or digit"
            )
        model_id = model_id or f"{model_class.key.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
        _report(progress, "preparing data", 0.05)
        prepared = self._prepare(model_class, params, TrainingData(X=X, y=y, **data_options))
        prepared["new_model"] = True
        prepared["progress"] = progress
        self._refuse_taken_id(model_id)  # before the expensive fit; the registry has the final word
        return self._fit_and_register(model_id, model_class, prepared, owner)

    def _refuse_taken_id(self, model_id: str) -> None:
        try:
            with registry_errors(f"check model id {model_id}"):
                self.client.get_registered_model(model_id)
        except ModelNotFound:
            return
        raise Conflict(f"Model id '{model_id}' is already taken; choose another or retrain it")

    def _register_new_model(self, model_id: str, model_class: ModelClass, owner: str | None) -> None:
        try:
            self._create_registered_model(model_id, model_class, owner)
        except Conflict:
            raise Conflict(f"Model id '{model_id}' is already taken; choose another or retrain it") from None

    def _create_registered_model(self, model_id: str, model_class: ModelClass, owner: str | None) -> None:
        with registry_errors("register the model"):
            self.client.create_registered_model(
                model_id,
                tags={
                    MANAGED_TAG: "true",
                    TAG_PREFIX + "model_type": model_class.key,
                    TAG_PREFIX + "task": model_class.task,
                    TAG_PREFIX + "created_at": utcnow(),
                    TAG_PREFIX + "owner": owner or "",
                },
                description=f"{model_class.class_name} trained by mlservice",
            )

    def retrain_model(
        self,
        model_id: str,
        X: Any = None,
        y: Any = None,
        *,
        params: dict[str, Any] | None = None,
        owner: str | None = None,
        progress: ProgressCallback | None = None,
        **data_options: Any,
    ) -> dict[str, Any]:
        """Train the model's class again on new data: a new registry version becomes ``current``.

        Hyperparameters default to the current version's; ``params`` overrides them one by one. When
        retraining from a dataset without naming ``target`` / ``features``, those of the current
        version are used.
        """
        record = self._registered_model(model_id)
        model_class = self.model_class(record.tags.get(TAG_PREFIX + "model_type"))
        current = self._resolve(model_id, None, fresh=True)
        merged = parse_json(current.tags.get(TAG_PREFIX + "params"), {})
        merged.update(params or {})
        if data_options.get("dataset"):
            data_options.setdefault("target", current.tags.get(TAG_PREFIX + "target"))
            if not data_options.get("features"):
                data_options["features"] = parse_json(current.tags.get(TAG_PREFIX + "features"), None)
        _report(progress, "preparing data", 0.05)
        prepared = self._prepare(model_class, merged, TrainingData(X=X, y=y, **data_options))
        prepared["progress"] = progress
        return self._fit_and_register(model_id, model_class, prepared, owner)

    def check_training_request(
        self,
        model_type: str | None = None,
        *,
        retrain_of: str | None = None,
        model_id: str | None = None,
        params: dict[str, Any] | None = None,
        **data_options: Any,
    ) -> None:
        """Refuse a (re)training request up front, as far as that is cheap: before queueing a job.

        Checks the class or the model to retrain, the hyperparameters, inline data, and that a named
        dataset exists (without loading it).
        """
        data = TrainingData(**data_options)
        data.check()
        if retrain_of is not None:
            model_class = self.model_class(self._registered_model(retrain_of).tags.get(TAG_PREFIX + "model_type"))
        else:
            model_class = self.model_class(model_type)
            if model_id is not None:
                if not MODEL_ID_PATTERN.match(str(model_id)):
                    raise InvalidInput("model_id must be 1-63 characters: letters, digits, '_', '.', '-'")
                try:
                    self._registered_model(model_id)
                except ModelNotFound:
                    pass
                else:
                    raise Conflict(f"Model id '{model_id}' is already taken; choose another or retrain it")
        coerce_params(model_class, params)
        if data.dataset is not None:
            if not isinstance(data.dataset, str) or not data.dataset:
                raise InvalidInput("dataset must be a dataset name, optionally with @version")
            if data.dataset not in {d["name"] for d in repo_datasets(self.settings.repo_root)}:
                self.datasets.resolve(data.dataset)
        elif data.X is not None or retrain_of is None or data.y is not None:
            matrix = as_feature_matrix(data.X, self.settings)
            as_targets(data.y, matrix.shape[0], model_class.task)

    def _prepare(self, model_class: ModelClass, params: dict | None, data: TrainingData) -> dict[str, Any]:
        data.check()
        test_size = data.test_size
        if not isinstance(test_size, (int, float)) or isinstance(test_size, bool) or not 0 <= test_size <= 0.5:
            raise InvalidInput("test_size must be a number from 0 (evaluate on the training data) to 0.5")
        effective = coerce_params(model_class, params)
        prepared: dict[str, Any] = {
            "params": effective,
            "requested_params": {k: v for k, v in effective.items() if params and k in params},
            "test_size": float(test_size),
            "random_state": data.random_state,
            "impute": bool(data.impute),
            "dataset": None,
            "categorical": [],
        }
        if data.dataset is not None:
            if data.X is not None or data.y is not None:
                raise InvalidInput("send either X and y, or dataset and target, not both")
            frame, record = self._load_dataset(data.dataset)
            X, y, categorical = frame_features(frame, data.target, data.features, model_class.task, data.impute)
            prepared.update(
                X=X,
                y=y,
                feature_names=list(X.columns),
                categorical=categorical,
                dataset={**record, "target": data.target, "frame": frame},
            )
            return prepared
        if data.X is None or data.y is None:
            raise InvalidInput("send X and y (inline data), or dataset and target (a stored dataset)")
        matrix = as_feature_matrix(data.X, self.settings)
        prepared.update(
            X=matrix,
            y=as_targets(data.y, matrix.shape[0], model_class.task),
            feature_names=feature_names_for(data.feature_names, matrix.shape[1]),
        )
        return prepared

    def _load_dataset(self, ref: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        """A stored dataset version (``name`` or ``name@version``), else a DVC-tracked repository dataset."""
        if not isinstance(ref, str) or not ref:
            raise InvalidInput("dataset must be a dataset name, optionally with @version")
        try:
            record = self.datasets.resolve(ref)
        except DatasetNotFound:
            if "@" not in ref and ref in {d["name"] for d in repo_datasets(self.settings.repo_root)}:
                frame, record = self.datasets.load_repo_dataset(self.settings.repo_root, ref)
                return frame, record
            raise
        return self.datasets.load_frame(record["name"], record["version"]), record

    def _fit_and_register(self, model_id, model_class, prepared, owner) -> dict[str, Any]:  # pylint: disable=too-many-locals
        timings: dict[str, float] = {}
        started = time.perf_counter()
        X, y, task = prepared["X"], prepared["y"], model_class.task
        estimator = model_class.estimator(**prepared["params"])
        if prepared["dataset"] is not None:
            estimator = tabular_pipeline(estimator, X, prepared["categorical"], prepared["impute"])
        _report(prepared.get("progress"), "fitting", 0.1)
        mark = time.perf_counter()
        outcome = fit_in_child(
            estimator,
            X,
            y,
            task,
            test_size=prepared["test_size"],
            random_state=prepared["random_state"],
            time_limit=self.settings.training_time_limit_seconds,
            checkpoint=lambda: _report(prepared.get("progress"), "fitting", 0.1),
        )
        estimator, scores, evaluation = outcome.estimator, outcome.scores, outcome.evaluation
        timings["fit_seconds"] = outcome.fit_seconds
        timings["evaluate_seconds"] = outcome.evaluate_seconds
        # handing the data to the fit process and the model back (fitting.py), beyond fit + evaluate
        timings["fit_process_seconds"] = time.perf_counter() - mark - outcome.fit_seconds - outcome.evaluate_seconds

        classes = [jsonable(c) for c in estimator.classes_] if task == CLASSIFICATION else None
        _report(prepared.get("progress"), "logging to MLflow", 0.7)  # the last point to cancel
        if prepared.get("new_model"):
            # registered only now: a process killed while fitting leaves nothing in the registry
            self._register_new_model(model_id, model_class, owner)
        try:
            version, size_bytes = self._log_and_register(
                model_id,
                model_class,
                estimator,
                prepared,
                scores=scores,
                evaluation=evaluation,
                classes=classes,
                owner=owner,
                timings=timings,
            )
        except BaseException:
            if prepared.get("new_model"):  # no half-made model: a registered name without a version
                try:
                    self.client.delete_registered_model(model_id)
                except Exception:  # pylint: disable=broad-exception-caught
                    logger.exception("Could not roll back registered model %s", model_id)
            raise
        loaded = LoadedModel(
            estimator,
            version,
            task,
            X.shape[1],
            classes,
            prepared["feature_names"],
            frozenset(prepared["categorical"]),
            size_bytes,
        )
        self.cache.put((model_id, version), loaded)
        self._forget_resolution(model_id)
        timings["total_seconds"] = time.perf_counter() - started
        return {
            "model_id": model_id,
            "version": int(version),
            "model_type": model_class.key,
            "task": task,
            "metrics": scores,
            "evaluation": evaluation,
            "n_train": outcome.n_train,
            "n_eval": outcome.n_eval,
            "params": {k: jsonable(v) for k, v in prepared["requested_params"].items()},
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }

    def _log_and_register(  # pylint: disable=too-many-arguments,too-many-locals
        self, model_id, model_class, estimator, prepared, *, scores, evaluation, classes, owner, timings
    ) -> tuple[str, int]:
        """One MLflow run (params, metrics, model artifact) and a new registry version made current.

        Returns:
            (the new version, the saved artifact's size in bytes).
        """
        trained_at = utcnow()
        version_tags = {
            MANAGED_TAG: "true",
            TAG_PREFIX + "params": json_tag(prepared["requested_params"]) or "{}",
            TAG_PREFIX + "metrics": json.dumps(scores),
            TAG_PREFIX + "evaluation": evaluation,
            TAG_PREFIX + "trained_at": trained_at,
            TAG_PREFIX + "owner": owner or "",
            TAG_PREFIX + "n_features": str(prepared["X"].shape[1]),
            TAG_PREFIX + "n_rows": str(prepared["X"].shape[0]),
        }
        for key, value in (("feature_names", prepared["feature_names"]), ("classes", classes)):
            encoded = json_tag(value) if value is not None else None
            if encoded:
                version_tags[TAG_PREFIX + key] = encoded
        dataset = prepared["dataset"]
        if dataset is not None:
            version_tags.update(
                {
                    TAG_PREFIX + "dataset": dataset["name"],
                    TAG_PREFIX + "dataset_version": dataset["version"],
                    TAG_PREFIX + "target": dataset["target"],
                    TAG_PREFIX + "features": json_tag(prepared["feature_names"]) or "null",
                    TAG_PREFIX + "impute": str(prepared["impute"]).lower(),
                }
            )
        run_id = None
        try:
            mark = time.perf_counter()
            with registry_errors("start the training run"):
                run = self.client.create_run(
                    self._experiment(),
                    run_name=f"{model_id}-{trained_at}",
                    tags={TAG_PREFIX + "model_id": model_id, TAG_PREFIX + "model_type": model_class.key},
                )
                run_id = run.info.run_id
                self.client.log_batch(
                    run_id,
                    metrics=[mlflow.entities.Metric(k, v, int(time.time() * 1000), 0) for k, v in scores.items()],
                    params=[mlflow.entities.Param(k, str(jsonable(v))[:6000]) for k, v in prepared["params"].items()],
                    tags=[mlflow.entities.RunTag(TAG_PREFIX + "evaluation", evaluation)],
                )
                if dataset is not None:
                    self.client.log_inputs(run_id, datasets=[self._dataset_input(dataset)])
            timings["log_run_seconds"] = time.perf_counter() - mark

            mark = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="mlservice-model-") as scratch:
                local_path = os.path.join(scratch, MODEL_ARTIFACT_PATH)
                self._save_model(estimator, prepared, local_path)
                size_bytes = sum(entry.stat().st_size for entry in os.scandir(local_path) if entry.is_file())
                timings["save_seconds"] = time.perf_counter() - mark
                mark = time.perf_counter()
                with registry_errors("upload the model artifact"):
                    self._upload_model(run.info.artifact_uri, local_path)
            timings["upload_seconds"] = time.perf_counter() - mark

            mark = time.perf_counter()
            with registry_errors("register the model version"):
                model_version = self.client.create_model_version(
                    model_id,
                    source=f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}",
                    run_id=run_id,
                    tags=version_tags,
                    await_creation_for=0,  # the SQL registry creates versions READY; polling costs a call
                )
                # two independent calls: make the version current while the run is marked finished
                alias = self._io_pool.submit(
                    self._move_current_alias, model_id, model_version.version, prepared.get("new_model", False)
                )
                finished = self._io_pool.submit(self.client.set_terminated, run_id)
                alias.result()
                finished.result()
            timings["register_seconds"] = time.perf_counter() - mark
            return str(model_version.version), size_bytes
        except BaseException:
            if run_id is not None:
                self._discard_run(run_id)
            raise

    @staticmethod
    def _dataset_input(dataset: dict[str, Any]) -> DatasetInput:
        """The run's dataset lineage: name, digest = the md5, source = where DVC keeps the bytes, target."""
        described = lineage(dataset)
        pandas_dataset = from_pandas(
            dataset["frame"],
            source=described["source"],
            targets=dataset["target"],
            name=described["name"],
            digest=described["digest"],
        )
        # the conversion mlflow.log_input itself uses; MlflowClient.log_inputs takes the entity
        entity = pandas_dataset._to_mlflow_entity()  # pylint: disable=protected-access
        tags = [InputTag("mlflow.data.context", "training"), InputTag(TAG_PREFIX + "target", dataset["target"])]
        return DatasetInput(entity, tags=tags)

    def _save_model(self, estimator, prepared, local_path) -> None:
        head = prepared["X"][:5]
        sample = head if isinstance(head, pd.DataFrame) else pd.DataFrame(head, columns=prepared["feature_names"])
        signature = infer_signature(sample, estimator.predict(head))
        mlflow.sklearn.save_model(
            estimator,
            local_path,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=signature,
            input_example=sample.head(2),
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"skops=={skops.__version__}",
                f"numpy=={np.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )

    def _upload_model(self, artifact_uri: str, local_path: str) -> None:
        """Upload the saved model's files in parallel (MLflow's own log_artifacts sends them one by one)."""
        repository = get_artifact_repository(
            f"{artifact_uri}/{MODEL_ARTIFACT_PATH}", tracking_uri=self.settings.mlflow_tracking_uri
        )
        uploads = []
        for folder, _, names in os.walk(local_path):
            relative = os.path.relpath(folder, local_path)
            for name in names:
                uploads.append(
                    self._io_pool.submit(
                        repository.log_artifact, os.path.join(folder, name), None if relative == "." else relative
                    )
                )
        for upload in uploads:
            upload.result()

    def _move_current_alias(self, model_id: str, version: str, new_model: bool = False) -> None:
        """Point ``current`` at the model's newest version, also when other processes retrain at once.

        A version exists only once its artifacts are uploaded, so the newest one is always servable.
        Each retrain sets the alias and reads again until no newer version has appeared: the last
        writer always re-checks after writing, so ``current`` never ends on an older version.
        """
        if new_model:  # version 1 of a model created by this call: nothing to compare with
            self.client.set_registered_model_alias(model_id, CURRENT_ALIAS, version)
            return
        target = max(int(version), self._newest_version(model_id))
        for _ in range(10):
            self.client.set_registered_model_alias(model_id, CURRENT_ALIAS, str(target))
            newest = self._newest_version(model_id)
            if newest <= target:
                return
            target = newest

    def _newest_version(self, model_id: str) -> int:
        versions = self._search_all(self.client.search_model_versions, filter_string=f"name = '{model_id}'")
        return max((int(mv.version) for mv in versions), default=0)

    def _discard_run(self, run_id: str) -> None:
        try:
            run = self.client.get_run(run_id)
            get_artifact_repository(
                run.info.artifact_uri, tracking_uri=self.settings.mlflow_tracking_uri
            ).delete_artifacts()
        except Exception:  # pylint: disable=broad-exception-caught
            logger.warning("Could not delete artifacts of run %s", run_id, exc_info=True)
        try:
            self.client.delete_run(run_id)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.warning("Could not delete run %s", run_id, exc_info=True)

    def _experiment(self) -> str:
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.settings.experiment_name)
            if experiment is None:
                try:
                    self._experiment_id = self.client.create_experiment(self.settings.experiment_name)
                except MlflowException as exc:  # another process created it first
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    self._experiment_id = self.client.get_experiment_by_name(
                        self.settings.experiment_name
                    ).experiment_id
            else:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    # --- reading ----------------------------------------------------------------------------

    def _registered_model(self, model_id: str):
        if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
            raise ModelNotFound(f"Model '{model_id}' not found")
        try:
            with registry_errors(f"read model {model_id}"):
                record = self.client.get_registered_model(model_id)
        except ModelNotFound:
            raise ModelNotFound(f"Model '{model_id}' not found") from None
        if record.tags.get(MANAGED_TAG) != "true":
            raise ModelNotFound(f"Model '{model_id}' not found")
        return record

    def _resolve(self, model_id: str, version: int | str | None, fresh: bool = False):
        """The registry's model version for (id, version or current), trusted for a short TTL.

        When the registry cannot be reached, a previously resolved version keeps serving (a stale
        answer beats none for predictions); without one the call raises Unavailable.
        """
        if version is not None:
            version = str(version)
            if not version.isdigit() or int(version) < 1:
                raise InvalidInput(f"version must be a positive integer, got '{version}'")
        key = (model_id, version)
        now = time.monotonic()
        ttl = self.settings.registry_ttl_seconds
        with self._resolved_lock:
            cached = self._resolved.get(key)
        if cached and not fresh:
            age = now - cached[0]
            if age < ttl:
                return cached[1]
            if age < ttl * STALE_FACTOR:
                # serve what we know and ask the registry off the request path; bounded staleness
                self._refresh_in_background(key)
                return cached[1]
        if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
            raise ModelNotFound(f"Model '{model_id}' not found")
        try:
            with registry_errors(f"look up model {model_id}"):
                if version is None:
                    model_version = self.client.get_model_version_by_alias(model_id, CURRENT_ALIAS)
                else:
                    model_version = self.client.get_model_version(model_id, version)
        except ModelNotFound:
            self._forget_resolution(model_id)
            self.cache.drop_model(model_id)
            what = f"Model '{model_id}'" + (f" version {version}" if version else "")
            raise ModelNotFound(f"{what} not found") from None
        except Unavailable:
            if cached:
                logger.warning("Registry unreachable; serving %s from the cached resolution", key)
                return cached[1]
            raise
        if model_version.tags.get(MANAGED_TAG) != "true":
            raise ModelNotFound(f"Model '{model_id}' not found")
        with self._resolved_lock:
            self._resolved[key] = (now, model_version)
        return model_version

    def _refresh_in_background(self, key: tuple[str, str | None]) -> None:
        with self._resolved_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._resolve(*key, fresh=True)
            except ServiceError as exc:  # not found: already forgotten; unavailable: keep the stale answer
                logger.info("Background refresh of %s: %s", key, exc.message)
            finally:
                with self._resolved_lock:
                    self._refreshing.discard(key)

        self._io_pool.submit(refresh)

    def _forget_resolution(self, model_id: str) -> None:
        with self._resolved_lock:
            for key in [k for k in self._resolved if k[0] == model_id]:
                del self._resolved[key]

    @staticmethod
    def _version_record(model_version) -> dict[str, Any]:
        tags = model_version.tags
        return {
            "version": int(model_version.version),
            "params": parse_json(tags.get(TAG_PREFIX + "params"), {}),
            "metrics": parse_json(tags.get(TAG_PREFIX + "metrics"), {}),
            "evaluation": tags.get(TAG_PREFIX + "evaluation", ""),
            "trained_at": tags.get(TAG_PREFIX + "trained_at", ""),
            "owner": tags.get(TAG_PREFIX + "owner", ""),
            "n_features": int(tags.get(TAG_PREFIX + "n_features", "0") or 0),
            "n_rows": int(tags.get(TAG_PREFIX + "n_rows", "0") or 0),
            "feature_names": parse_json(tags.get(TAG_PREFIX + "feature_names"), None),
            "classes": parse_json(tags.get(TAG_PREFIX + "classes"), None),
            "run_id": model_version.run_id,
            "dataset": {
                "name": tags[TAG_PREFIX + "dataset"],
                "version": tags.get(TAG_PREFIX + "dataset_version", ""),
                "target": tags.get(TAG_PREFIX + "target", ""),
            }
            if TAG_PREFIX + "dataset" in tags
            else None,
        }

    @staticmethod
    def _model_record(registered, current: dict[str, Any] | None) -> dict[str, Any]:
        tags = registered.tags
        current = current or {}
        return {
            "id": registered.name,
            "model_type": tags.get(TAG_PREFIX + "model_type", ""),
            "task": tags.get(TAG_PREFIX + "task", ""),
            "created_at": tags.get(TAG_PREFIX + "created_at", ""),
            "owner": tags.get(TAG_PREFIX + "owner", ""),
            "version": current.get("version", 0),
            "params": current.get("params", {}),
            "metrics": current.get("metrics", {}),
            "evaluation": current.get("evaluation", ""),
            "updated_at": current.get("trained_at", ""),
            "feature_names": current.get("feature_names"),
            "n_features": current.get("n_features", 0),
            "classes": current.get("classes"),
            "run_id": current.get("run_id"),
        }

    def list_models(self) -> list[dict[str, Any]]:
        """Every model the service manages, oldest first, each with its current version's data."""
        with registry_errors("list models"):
            registered = self._search_all(
                self.client.search_registered_models, filter_string=f"tags.`{MANAGED_TAG}` = 'true'"
            )
            versions = self._search_all(
                self.client.search_model_versions, filter_string=f"tags.`{MANAGED_TAG}` = 'true'"
            )
        by_key = {(mv.name, str(mv.version)): mv for mv in versions}
        records = []
        for model in sorted(registered, key=lambda m: (m.creation_timestamp, m.name)):
            current_version = (model.aliases or {}).get(CURRENT_ALIAS)
            current = by_key.get((model.name, str(current_version)))
            if current is None:
                continue  # being created or deleted right now: not a usable model
            records.append(self._model_record(model, self._version_record(current)))
        return records

    @staticmethod
    def _search_all(search: Callable, **kwargs) -> list:
        results, token = [], None
        while True:
            page = search(max_results=1000, page_token=token, **kwargs)
            results.extend(page)
            token = page.token
            if not token:
                return results

    def get_model(self, model_id: str) -> dict[str, Any]:
        """One model with its current version's data and every version (newest first)."""
        registered = self._registered_model(model_id)
        with registry_errors(f"read versions of {model_id}"):
            versions = self._search_all(self.client.search_model_versions, filter_string=f"name = '{model_id}'")
        version_records = sorted(
            (self._version_record(mv) for mv in versions if mv.tags.get(MANAGED_TAG) == "true"),
            key=lambda record: record["version"],
            reverse=True,
        )
        current_version = (registered.aliases or {}).get(CURRENT_ALIAS)
        current = next((r for r in version_records if str(r["version"]) == str(current_version)), None)
        if current is None:
            raise ModelNotFound(f"Model '{model_id}' not found")
        record = self._model_record(registered, current)
        record["versions"] = version_records
        return record

    def get_metrics(self, model_id: str, version: int | str | None = None) -> dict[str, Any]:
        """Metrics of the current (or given) version."""
        model_version = self._resolve(model_id, version, fresh=True)
        record = self._version_record(model_version)
        return {
            "model_id": model_id,
            "version": record["version"],
            "metrics": record["metrics"],
            "evaluation": record["evaluation"],
        }

    # --- serving ----------------------------------------------------------------------------

    def predict(
        self, model_id: str, X: Any = None, version: int | str | None = None, records: Any = None, raw: bool = False
    ) -> dict[str, Any]:
        """Predictions (and class probabilities for classifiers) from the current or given version.

        Args:
            X: rows of feature values, in the model's feature order; or instead
            records: objects keyed by feature name (``[{"petal_length": 1.4, ...}]``).
            raw: return NumPy arrays (predictions, probabilities) instead of lists, for binary protocols.

        Raises:
            ModelNotFound: unknown model or version. InvalidInput: input malformed or not matching
            the model's features. Unavailable: the registry is down and the model was never loaded.
        """
        loaded = self._loaded(model_id, self._resolve(model_id, version))
        return self._predict_loaded(model_id, loaded, X, records, raw)

    def _loaded(self, model_id: str, model_version) -> LoadedModel:
        """The cached model of a resolved version (loaded from the store once)."""
        key = (model_id, str(model_version.version))
        return self.cache.get_or_load(key, lambda: self._load(model_id, model_version))

    def _predict_loaded(self, model_id: str, loaded: LoadedModel, X: Any, records: Any, raw: bool) -> dict[str, Any]:
        matrix = prediction_input(
            X, records, loaded.feature_names, loaded.categorical, loaded.needs_frame, self.settings
        )
        if matrix.shape[1] != loaded.n_features:
            raise InvalidInput(
                f"Model '{model_id}' expects {loaded.n_features} features per row, got {matrix.shape[1]}"
            )
        try:
            predictions = loaded.estimator.predict(matrix)
        except ValueError as exc:  # e.g. a category column holding a number the encoder cannot compare
            raise InvalidInput(f"Prediction failed on this input: {exc}") from exc
        result: dict[str, Any] = {
            "model_id": model_id,
            "version": int(loaded.version),
            "predictions": predictions if raw else predictions.tolist(),
        }
        if loaded.task == CLASSIFICATION and hasattr(loaded.estimator, "predict_proba"):
            probabilities = loaded.estimator.predict_proba(matrix)
            result["classes"] = loaded.classes
            result["probabilities"] = probabilities if raw else probabilities.tolist()
        return result

    def _load(self, model_id: str, model_version) -> LoadedModel:
        """Download one version's artifact and deserialize it with our own skops allow-list."""
        with registry_errors(f"load model {model_id} version {model_version.version}"):
            with tempfile.TemporaryDirectory(prefix="mlservice-load-") as scratch:
                # through our own client: MLflow's models:/ resolution would use global state
                local = self.client.download_artifacts(model_version.run_id, MODEL_ARTIFACT_PATH, scratch)
                flavor = MlflowModel.load(os.path.join(local, "MLmodel")).flavors["sklearn"]
                if flavor.get("serialization_format") != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
                    raise ServiceError(f"Model '{model_id}' was not saved by this service (not skops)")
                serialized = os.path.join(local, flavor["pickled_model"])
                size_bytes = os.path.getsize(serialized)
                estimator = skops.io.load(serialized, trusted=SKOPS_TRUSTED_TYPES)
        record = self._version_record(model_version)
        task = CLASSIFICATION if hasattr(estimator, "classes_") else REGRESSION
        classes = [jsonable(c) for c in estimator.classes_] if task == CLASSIFICATION else None
        logger.info("Loaded model %s version %s into the cache", model_id, model_version.version)
        names = getattr(estimator, "feature_names_in_", None)
        return LoadedModel(
            estimator,
            str(model_version.version),
            task,
            int(estimator.n_features_in_),
            classes or record["classes"],
            [str(n) for n in names] if names is not None else record["feature_names"],
            frozenset(categorical_columns(estimator)),
            size_bytes,
        )

    # --- deleting ---------------------------------------------------------------------------

    def delete_model(self, model_id: str) -> None:
        """Remove the registered model, all its versions, its runs and their artifacts."""
        self._registered_model(model_id)
        with registry_errors(f"delete model {model_id}"):
            versions = self._search_all(self.client.search_model_versions, filter_string=f"name = '{model_id}'")
            self.client.delete_registered_model(model_id)
        self._forget_resolution(model_id)
        self.cache.drop_model(model_id)
        for run_id in {mv.run_id for mv in versions if mv.run_id}:
            self._discard_run(run_id)

    def predict_csv(
        self, model_id: str, data: bytes, version: int | str | None = None, as_csv: bool = False
    ) -> dict[str, Any] | str:
        """Batch prediction for a CSV upload whose header names the model's features.

        Returns:
            The prediction result (as ``predict``), or with ``as_csv`` the input rows as CSV text with a
            ``prediction`` column (and one ``probability_<class>`` column per class for classifiers).
        """
        frame = parse_csv(data, max_rows=self.settings.max_rows, max_columns=self.settings.max_features + 1)
        loaded = self._loaded(model_id, self._resolve(model_id, version))
        names = loaded.feature_names or []
        missing = [name for name in names if name not in frame.columns]
        if not names or missing:
            expected = ", ".join(names) or "named features (this model was trained without them: use X)"
            raise InvalidInput(f"the CSV header must name the model's features: {expected}")
        rows = frame[names].astype(object).where(frame[names].notna(), None)
        result = self._predict_loaded(model_id, loaded, None, rows.to_dict(orient="records"), raw=False)
        if not as_csv:
            return result
        output = frame.copy()
        output["prediction"] = result["predictions"]
        for index, label in enumerate(result.get("classes") or []):
            output[f"probability_{label}"] = [row[index] for row in result["probabilities"]]
        return output.to_csv(index=False)

    # --- datasets ---------------------------------------------------------------------------

    def dataset_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of an uploaded dataset, newest first."""
        return self.datasets.versions(name)

    def upload_dataset(self, name: str, data: bytes, owner: str | None = None) -> dict[str, Any]:
        """Store a CSV as a new immutable version of dataset ``name`` (identical bytes: the same version)."""
        return self.datasets.upload(name, data, owner=owner)

    def list_datasets(self) -> list[dict[str, Any]]:
        """Uploaded datasets with their versions, then the DVC-tracked repository datasets."""
        uploaded = [{**d, "source": "upload"} for d in self.datasets.list()]
        return uploaded + [{**d, "source": "dvc"} for d in repo_datasets(self.settings.repo_root)]

    def get_dataset(self, name: str, version: str | None = None) -> dict[str, Any]:
        """One dataset version (default: the newest) with its schema and a preview of the first rows."""
        return self.datasets.get(name, version)

    def delete_dataset(self, name: str, version: str) -> dict[str, Any]:
        """Delete a dataset version that no model version was trained on.

        Raises:
            Conflict: models were trained on it (named in the message). DatasetNotFound: no such version.
        """
        return self.datasets.delete(name, version, self.models_using_dataset)

    def models_using_dataset(self, name: str, version: str) -> list[str]:
        """Ids of models with a version trained on this dataset version (lineage in the registry)."""
        with registry_errors("look up which models use the dataset"):
            versions = self._search_all(
                self.client.search_model_versions,
                filter_string=f"tags.`{TAG_PREFIX}dataset_version` = '{version}'",
            )
        return sorted({mv.name for mv in versions if mv.tags.get(TAG_PREFIX + "dataset") == name})
