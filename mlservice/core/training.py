"""Training: a ``TrainingRequest`` checked, fitted in a process of its own, logged to MLflow and registered.

``Trainer.plan`` does every check that needs no fitting (catalogue, hyperparameters, registry,
inline data, that a named dataset exists): the asynchronous path calls it before queueing a job and
``Trainer.train`` calls it first, so both refuse the same requests with the same words. A model is
registered only after fitting, and a failed upload or registration leaves nothing half-made.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from mlservice.core import metrics
from mlservice.core.aliases import AliasBook
from mlservice.core.arrays import as_feature_matrix, as_targets, feature_names_for
from mlservice.core.artifacts import MODEL_ARTIFACT_PATH, discard_run, loaded_model, save_model, upload_model
from mlservice.core.catalogue import CLASSIFICATION, MODEL_CLASSES, ModelClass, coerce_params, jsonable
from mlservice.core.datasets import DatasetCatalog
from mlservice.core.fitting import fit_in_child
from mlservice.core.inputs import RETRAIN, TRAIN, TrainingRequest
from mlservice.core.model_cache import ModelCache
from mlservice.core.preprocessing import feature_medians, frame_features, schema_of, tabular_pipeline
from mlservice.core.registry import (
    CHALLENGER_ALIAS,
    CURRENT_ALIAS,
    TAG_PREFIX,
    Registry,
    parse_json,
    registry_errors,
    utcnow,
)
from mlservice.core.resolution import VersionResolver
from mlservice.core.tracking import TrainedModel, log_run, owner_tags, version_tags
from mlservice.errors import Cancelled, Conflict, InvalidInput, NotFound
from mlservice.identity.principal import Principal
from mlservice.settings import Settings

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]


def report(progress: ProgressCallback | None, phase: str, fraction: float) -> None:
    """Tell the caller (a job, a gRPC call) where the training is; it may raise ``Cancelled``."""
    if progress is not None:
        progress(phase, fraction)


def model_class(model_type: Any) -> ModelClass:
    """The catalogue entry for a model type key.

    Raises:
        InvalidInput: unknown key, listing the known ones.
    """
    try:
        return MODEL_CLASSES[model_type]
    except (KeyError, TypeError):
        raise InvalidInput(f"Unknown model_type '{model_type}'; choose one of: {', '.join(MODEL_CLASSES)}") from None


@dataclass
class TrainingPlan:  # pylint: disable=too-many-instance-attributes  # what the checks settled
    """A checked request: the class, the id, the effective hyperparameters and the data to fit on."""

    request: TrainingRequest
    model_class: ModelClass
    model_id: str
    new_model: bool
    params: dict[str, Any]
    requested_params: dict[str, Any]
    target: str | None = None  # dataset training
    features: list[str] | None = None
    X: Any = None  # inline training, validated
    y: Any = None
    feature_names: list[str] | None = None


class Trainer:
    """Plans and runs (re)trainings; the only writer of new models and versions."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        settings: Settings,
        registry: Registry,
        resolver: VersionResolver,
        datasets: DatasetCatalog,
        cache: ModelCache,
        pool: Executor,
    ):
        self.settings = settings
        self.registry = registry
        self.resolver = resolver
        self.aliases = AliasBook(registry, resolver)
        self.datasets = datasets
        self.cache = cache
        self.pool = pool

    # --- checks ------------------------------------------------------------------------------

    def plan(self, request: TrainingRequest) -> TrainingPlan:
        """Every check short of fitting; the same for synchronous trainings and queued jobs.

        Raises:
            InvalidInput: bad class, hyperparameters or data. Conflict: the id is taken.
            ModelNotFound: retraining an unknown model. DatasetNotFound. Unavailable.
        """
        request.check()
        params, target, features = dict(request.params or {}), request.target, request.features
        if request.kind == RETRAIN:
            registered = self.registry.registered_model(request.model_id)
            chosen = model_class(registered.tags.get(TAG_PREFIX + "model_type"))
            current = self.resolver.resolve(request.model_id, None, fresh=True)
            params = {**parse_json(current.tags.get(TAG_PREFIX + "params"), {}), **params}
            if request.uses_dataset:  # the current version's target and features unless given
                target = target or current.tags.get(TAG_PREFIX + "target")
                features = features or parse_json(current.tags.get(TAG_PREFIX + "features"), None)
            model_id = request.model_id
        else:
            chosen = model_class(request.model_type)
            if request.model_id is not None:
                self.registry.refuse_taken_id(request.model_id)  # before the fit; the registry has the last word
            model_id = request.model_id or f"{chosen.key.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
        effective = coerce_params(chosen, params)
        plan = TrainingPlan(
            request,
            chosen,
            model_id,
            new_model=request.kind != RETRAIN,
            params=effective,
            requested_params={k: v for k, v in effective.items() if k in params},
            target=target,
            features=features,
        )
        if request.uses_dataset:
            self.datasets.resolve_for_training(request.dataset)
        else:
            plan.X = as_feature_matrix(request.X, self.settings)
            plan.y = as_targets(request.y, plan.X.shape[0], chosen.task)
            plan.feature_names = feature_names_for(request.feature_names, plan.X.shape[1])
        return plan

    # --- training ----------------------------------------------------------------------------

    def train(
        self, request: TrainingRequest, owner: Principal | None, progress: ProgressCallback | None = None
    ) -> dict:
        """Plan, fit, log and register; returns the result (model id, version, metrics, timings).

        Args:
            owner: who trains it, recorded in MLflow.
            progress: called with (phase, fraction done); may raise ``Cancelled`` to stop before
                anything is registered (asynchronous jobs, gRPC clients that left).
        """
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = self._train(request, owner, progress, started)
            outcome = "succeeded"
            return result
        except (InvalidInput, NotFound, Conflict):
            outcome = "refused"
            raise
        except Cancelled:
            outcome = "cancelled"
            raise
        finally:
            kind = request.kind if request.kind in (TRAIN, RETRAIN) else TRAIN
            metrics.record_training(kind, outcome, time.perf_counter() - started)

    def _train(
        self, request: TrainingRequest, owner: Principal | None, progress: ProgressCallback | None, started: float
    ) -> dict:
        plan = self.plan(request)
        report(progress, "preparing data", 0.05)
        trained, outcome, timings = self._fit(plan, progress)
        report(progress, "logging to MLflow", 0.7)  # the last point to cancel
        version, size_bytes, aliases = self._register(trained, owner, timings, new_model=plan.new_model)
        loaded = loaded_model(trained.estimator, version, trained.feature_names, trained.classes, size_bytes)
        self.cache.put((plan.model_id, version), loaded)
        self.resolver.forget(plan.model_id)
        reason = request.kind if request.promote else "retrain with promote: false"
        for alias in aliases:
            self.aliases.record_training(plan.model_id, alias, int(version), owner, reason)
        timings["total_seconds"] = time.perf_counter() - started
        return {
            "model_id": plan.model_id,
            "version": int(version),
            "aliases": aliases,
            "model_type": plan.model_class.key,
            "task": plan.model_class.task,
            "metrics": trained.scores,
            "evaluation": trained.evaluation,
            "confusion_matrix": trained.confusion,
            "n_train": outcome.n_train,
            "n_eval": outcome.n_eval,
            "params": {k: jsonable(v) for k, v in trained.requested_params.items()},
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }

    def _fit(self, plan: TrainingPlan, progress: ProgressCallback | None):
        """The data loaded (from the dataset when there is one) and the estimator fitted in a child process."""
        request, task = plan.request, plan.model_class.task
        X, y, feature_names, categorical, dataset = plan.X, plan.y, plan.feature_names, [], None
        estimator = plan.model_class.estimator(**plan.params)
        if request.uses_dataset:
            frame, record = self.datasets.load_for_training(request.dataset)
            X, y, categorical = frame_features(frame, plan.target, plan.features, task, request.impute)
            feature_names = list(X.columns)
            dataset = {**record, "target": plan.target, "frame": frame}
            estimator = tabular_pipeline(estimator, X, categorical, request.impute)
        report(progress, "fitting", 0.1)
        mark = time.perf_counter()
        outcome = fit_in_child(
            estimator,
            X,
            y,
            task,
            test_size=float(request.test_size),
            random_state=request.random_state,
            time_limit=self.settings.training_time_limit_seconds,
            checkpoint=lambda: report(progress, "fitting", 0.1),
        )
        spent = outcome.fit_seconds + outcome.evaluate_seconds
        timings = {
            "fit_seconds": outcome.fit_seconds,
            "evaluate_seconds": outcome.evaluate_seconds,
            # handing the data to the fit process and the model back, beyond fit + evaluate
            "fit_process_seconds": time.perf_counter() - mark - spent,
        }
        classes = [jsonable(c) for c in outcome.estimator.classes_] if task == CLASSIFICATION else None
        medians = feature_medians(X, feature_names, categorical)
        trained = TrainedModel(
            plan.model_id,
            plan.model_class.key,
            outcome.estimator,
            X,
            feature_names,
            categorical,
            plan.params,
            plan.requested_params,
            outcome.scores,
            outcome.evaluation,
            classes,
            bool(request.impute),
            dataset,
            schema_of(outcome.estimator, feature_names).describe(medians),
            outcome.confusion,
            request.promote,
        )
        return trained, outcome, timings

    # --- registration ------------------------------------------------------------------------

    def _register(self, trained: TrainedModel, owner: Principal | None, timings: dict, *, new_model: bool):
        """Register a new model (first training) and its new version; nothing is left if any step fails."""
        if new_model:  # registered only now: a process killed while fitting leaves nothing in the registry
            self.registry.create_model(
                trained.model_id,
                tags={
                    TAG_PREFIX + "model_type": trained.model_type,
                    TAG_PREFIX + "task": MODEL_CLASSES[trained.model_type].task,
                    TAG_PREFIX + "created_at": utcnow(),
                    **owner_tags(owner),
                },
                description=f"{MODEL_CLASSES[trained.model_type].class_name} trained by mlservice",
            )
        try:
            return self._log_and_register(trained, owner, timings, new_model)
        except BaseException:
            if new_model:  # no half-made model: a registered name without a version
                self.registry.forget_model(trained.model_id)
            raise

    def _log_and_register(self, trained: TrainedModel, owner: Principal | None, timings: dict, new_model: bool):
        """One MLflow run (params, metrics, model artifact) and a new registry version made current (or,
        with ``promote=false``, the challenger).

        Returns:
            (the new version, the saved artifact's size in bytes, the aliases now pointing at it).
        """
        trained_at = utcnow()
        client, run_id = self.registry.client, None
        try:
            mark = time.perf_counter()
            with registry_errors("start the training run"):
                run = log_run(client, self.registry.experiment_id(), trained, trained_at)
                run_id = run.info.run_id
            timings["log_run_seconds"] = time.perf_counter() - mark
            size_bytes = self._save_and_upload(trained, run.info.artifact_uri, timings)
            mark = time.perf_counter()
            with registry_errors("register the model version"):
                model_version = self.registry.create_version(
                    trained.model_id,
                    source=f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}",
                    run_id=run_id,
                    tags=version_tags(trained, owner, trained_at),
                )
                # two independent calls: point the alias at the version while the run is marked finished
                version = str(model_version.version)
                if trained.promote:
                    alias = self.pool.submit(self.registry.move_current_alias, trained.model_id, version, new_model)
                else:
                    alias = self.pool.submit(self.registry.set_alias, trained.model_id, CHALLENGER_ALIAS, version)
                finished = self.pool.submit(client.set_terminated, run_id)
                serving = alias.result()  # move_current_alias: the version current ended on
                finished.result()
            timings["register_seconds"] = time.perf_counter() - mark
            if not trained.promote:
                return version, size_bytes, [CHALLENGER_ALIAS]
            return version, size_bytes, [CURRENT_ALIAS] if str(serving) == version else []
        except BaseException:
            if run_id is not None:
                discard_run(client, run_id, self.settings.mlflow_tracking_uri)
            raise

    def _save_and_upload(self, trained: TrainedModel, artifact_uri: str, timings: dict) -> int:
        mark = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mlservice-model-") as scratch:
            local_path = os.path.join(scratch, MODEL_ARTIFACT_PATH)
            size_bytes = save_model(trained.estimator, trained.X, trained.feature_names, local_path)
            timings["save_seconds"] = time.perf_counter() - mark
            mark = time.perf_counter()
            with registry_errors("upload the model artifact"):
                upload_model(artifact_uri, local_path, self.settings.mlflow_tracking_uri, self.pool)
        timings["upload_seconds"] = time.perf_counter() - mark
        return size_bytes
