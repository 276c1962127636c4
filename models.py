"""The core's facade: ``ModelService``, the one object every front end talks to.

REST (``app.py``), gRPC (``grpc_server.py``) and the job queue build requests (``TrainingRequest``,
``PredictRequest``) and call this object; it delegates to the parts of ``mlservice.core``: the
trainer, the predictor, the registry, the dataset catalogue. It also dispatches a training to run
now or as a queued job, the same way for every front end (as MLServer's DataPlane does).

The MLflow Model Registry is the single source of truth: nothing about models is kept in process
memory except a bounded cache of loaded versions, so any number of REST and gRPC processes agree on
which models exist. ``docs/ARCHITECTURE.md`` maps the parts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from mlflow.tracking import MlflowClient

from mlservice.core.access import OWNER_TAG, AccessControl
from mlservice.core.aliases import AliasBook
from mlservice.core.artifacts import discard_run
from mlservice.core.catalogue import MODEL_CLASSES
from mlservice.core.datasets import DatasetCatalog, DatasetStore, parse_ref
from mlservice.core.fitting import warm_up as warm_up_fits
from mlservice.core.inputs import RETRAIN, PredictRequest, TrainingRequest, check_version
from mlservice.core.model_cache import ModelCache
from mlservice.core.records import detail_record, list_records, version_record
from mlservice.core.registry import Registry, registry_errors
from mlservice.core.resolution import VersionResolver
from mlservice.core.serving import Predictor
from mlservice.core.training import ProgressCallback, Trainer
from mlservice.errors import Conflict, DatasetNotFound, InvalidInput, ModelNotFound, NotFound
from mlservice.identity.grants import GrantStore
from mlservice.identity.permissions import AccessPolicy, Permission
from mlservice.identity.principal import Principal, check_principal
from mlservice.jobs.runner import JobRunner
from mlservice.settings import Settings

__all__ = ["Dispatched", "ModelService", "PredictRequest", "TrainingRequest"]


@dataclass(frozen=True)
class Dispatched:
    """What a training request led to: its result (trained now) or its job (queued)."""

    result: dict[str, Any] | None = None
    job: dict[str, Any] | None = None


class ModelService:  # pylint: disable=too-many-public-methods,too-many-instance-attributes  # one method per operation; one attribute per part of the core
    """Train, version, serve and delete models; datasets; training jobs."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None):
        self.settings = settings
        self.registry = Registry(
            client or MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri), settings.experiment_name
        )
        self.cache = ModelCache(settings.model_cache_size, settings.model_cache_bytes)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mlflow-io")
        self.resolver = VersionResolver(self.registry, settings.registry_ttl_seconds, self._pool, self.cache.drop_model)
        self.datasets = DatasetCatalog(
            DatasetStore.from_settings(settings), settings.repo_root, self.registry.models_using_dataset
        )
        self.trainer = Trainer(settings, self.registry, self.resolver, self.datasets, self.cache, self._pool)
        self.predictor = Predictor(settings, self.registry, self.resolver, self.cache)
        self.access = AccessControl(
            AccessPolicy.from_settings(settings),
            GrantStore(settings.service_database_url, settings.registry_ttl_seconds),
            self.registry,
            settings.registry_ttl_seconds,
        )
        self._jobs: JobRunner | None = None
        self._jobs_lock = threading.Lock()

    # --- the service ---------------------------------------------------------------------------

    @property
    def aliases(self) -> AliasBook:
        """The aliases of models and their audit trail (the trainer's: trainings move aliases too)."""
        return self.trainer.aliases

    @property
    def jobs(self) -> JobRunner:
        """The training job queue of this process (the service database; created on first use)."""
        with self._jobs_lock:
            if self._jobs is None:
                self._jobs = JobRunner.from_settings(self.trainer.train, self.settings)
            return self._jobs

    def start(self) -> ModelService:
        """Start this process's background work (front ends call it once): the fit processes' forkserver,
        so the first training is quick, and the runner of queued training jobs."""
        warm_up_fits()
        self.jobs.start()
        return self

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

    @staticmethod
    def model_classes() -> list[dict[str, Any]]:
        """Every trainable class with its task, description and hyperparameter schema."""
        return [mc.info() for mc in MODEL_CLASSES.values()]

    # --- training ------------------------------------------------------------------------------

    def train(
        self, request: TrainingRequest, caller: Principal | None = None, progress: ProgressCallback | None = None
    ) -> Dispatched:
        """Train (or retrain) now, or, with ``request.run_async``, check it and queue it as a job.

        Raises:
            InvalidInput, Conflict, ModelNotFound, DatasetNotFound, TrainingLimitExceeded, Unavailable,
            Cancelled (progress raised it): see ``Trainer``. A queued job reports its own failure.
        """
        request.check()
        if request.kind == RETRAIN:
            self.access.model(caller, request.model_id, Permission.EDIT, "retrain")
        if request.uses_dataset:
            self._require_dataset(request.dataset, caller)
        if request.run_async:
            self.trainer.plan(request)  # the checks the training itself starts with
            return Dispatched(job=self.jobs.submit(request, caller))
        return Dispatched(result=self.trainer.train(request, caller, progress))

    def _require_dataset(self, ref: str, caller: Principal | None) -> None:
        """READ on an uploaded dataset a training names (repository datasets are everyone's)."""
        try:
            versions = self.datasets.store.versions(parse_ref(ref)[0])
        except DatasetNotFound:
            return  # a repository dataset, or none: the training's own checks say which
        self.access.dataset(caller, versions, Permission.READ, "train on")

    def get_job(self, job_id: str, caller: Principal | None = None) -> dict[str, Any]:
        """A training job: status, phase, progress, result or error (its submitter's and the admins' only)."""
        return self.access.job(caller, self.jobs.get(job_id))

    def list_jobs(self, caller: Principal | None = None) -> list[dict[str, Any]]:
        """The caller's most recent training jobs, newest first."""
        return self.jobs.store.list(owner=caller.id if caller else None)

    def cancel_job(self, job_id: str, caller: Principal | None = None) -> dict[str, Any]:
        """Cancel a queued job, or stop a running one before it registers anything."""
        self.access.job(caller, self.jobs.store.get(job_id))
        return self.jobs.cancel(job_id)

    # --- models --------------------------------------------------------------------------------

    def list_models(self, caller: Principal | None = None) -> list[dict[str, Any]]:
        """Every model the caller may read, oldest first, each with its current version's data."""
        return self.access.readable_models(caller, list_records(*self.registry.managed_models()))

    def get_model(self, model_id: str, caller: Principal | None = None) -> dict[str, Any]:
        """One model with its current version's data, its aliases and their audit trail, and every version
        (newest first, each with its aliases)."""
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.READ, "read", registered)
        with registry_errors(f"read versions of {model_id}"):
            record = detail_record(registered, self.registry.versions(model_id))
        if record is None:
            raise ModelNotFound(f"Model '{model_id}' not found")
        return record

    def get_metrics(self, model_id: str, version: Any = None, caller: Principal | None = None) -> dict[str, Any]:
        """Metrics of the current (or given) version."""
        self.access.model(caller, model_id, Permission.READ, "read")
        record = version_record(self.resolver.resolve(model_id, check_version(version), fresh=True))
        keys = ("version", "metrics", "evaluation")
        return {"model_id": model_id, **{key: record[key] for key in keys}}

    def delete_model(self, model_id: str, caller: Principal | None = None) -> None:
        """Remove the registered model, all its versions, its runs, their artifacts and its grants."""
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.MANAGE, "delete", registered)
        run_ids = self.registry.delete_model(model_id)
        self.access.forget_model(model_id)
        self.resolver.forget(model_id)
        self.cache.drop_model(model_id)
        for run_id in run_ids:
            discard_run(self.registry.client, run_id, self.settings.mlflow_tracking_uri)

    # --- permissions -----------------------------------------------------------------------------

    def list_permissions(self, model_id: str, caller: Principal | None = None) -> dict[str, Any]:
        """A model's owner and every grant on it (MANAGE)."""
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.MANAGE, "see the grants of", registered)
        owner = registered.tags.get(OWNER_TAG, "")
        return {"model_id": model_id, "owner": owner, "default": self.access.policy.default.name,
                "grants": self.access.grants.of_model(model_id)}  # fmt: skip

    def get_permission(self, model_id: str, principal: str, caller: Principal | None = None) -> dict[str, Any]:
        """What one principal may do with a model, and whether a grant says so (MANAGE, or that principal)."""
        registered = self.registry.registered_model(model_id)
        needed = Permission.READ if caller is not None and caller.id == principal else Permission.MANAGE
        self.access.model(caller, model_id, needed, "see the grants of", registered)
        grant = self.access.grants.get(model_id, check_principal(principal))
        effective = self.access.policy.level(Principal.from_id(principal), registered.tags.get(OWNER_TAG), grant)
        return {
            "model_id": model_id,
            "principal": principal,
            "permission": effective.name,
            "granted": grant is not None,
        }

    def set_permission(
        self, model_id: str, principal: str, permission: str, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Grant a principal READ, EDIT, MANAGE or NO_PERMISSIONS on a model (MANAGE)."""
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.MANAGE, "grant on", registered)
        level = Permission.parse(permission)
        if check_principal(principal) == registered.tags.get(OWNER_TAG):
            raise InvalidInput(f"{principal} owns model '{model_id}': an owner always has MANAGE")
        return self.access.grants.set(model_id, principal, level, caller.id if caller else None)

    def delete_permission(self, model_id: str, principal: str, caller: Principal | None = None) -> None:
        """Remove a principal's grant on a model: the default permission applies again (MANAGE)."""
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.MANAGE, "grant on", registered)
        if not self.access.grants.delete(model_id, check_principal(principal)):
            raise NotFound(f"{principal} has no grant on model '{model_id}'")

    # --- aliases: which version serves -----------------------------------------------------------

    def set_alias(self, model_id: str, alias: Any, version: Any, caller: Principal | None = None) -> dict[str, Any]:
        """Point an alias at a version: moving ``current`` promotes a version or rolls back to an older one.

        Returns:
            ``{"model_id", "alias", "version", "previous_version", "created"}``.

        Raises:
            InvalidInput: a malformed alias or version. ModelNotFound: no such model or version.
        """
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.EDIT, "move an alias of", registered)
        return self.aliases.set(model_id, alias, version, caller, registered)

    def delete_alias(self, model_id: str, alias: Any, caller: Principal | None = None) -> None:
        """Remove an alias (the version stays).

        Raises:
            InUse: the alias is ``current`` (a model always has a serving version). ModelNotFound.
        """
        registered = self.registry.registered_model(model_id)
        self.access.model(caller, model_id, Permission.EDIT, "delete an alias of", registered)
        self.aliases.delete(model_id, alias, caller, registered)

    # --- serving -------------------------------------------------------------------------------

    def predict(self, request: PredictRequest, caller: Principal | None = None) -> dict[str, Any]:
        """Predictions (and class probabilities for classifiers) from the current version, or the one
        ``request.version`` or ``request.alias`` names.

        Returns:
            ``{"model_id", "version", "predictions", "classes"?, "probabilities"?}`` with NumPy arrays:
            each front end encodes them its own way (JSON lists, protobuf, tensors).
        """
        self.access.model(caller, request.model_id, Permission.READ, "predict with")
        return self.predictor.predict(request)

    def model_metadata(self, model_id: str, version: Any = None, caller: Principal | None = None) -> dict[str, Any]:
        """What a version (default: current) takes and answers, from the loaded model (loading it if needed).

        Returns:
            ``{"model_id", "version", "task", "features": [{"name", "kind": "numeric"|"categorical"}],
            "classes", "probabilities"}``.

        Raises:
            ModelNotFound (also when the caller may not read it), InvalidInput (a malformed version), Unavailable.
        """
        self.access.model(caller, model_id, Permission.READ, "read")
        return self.predictor.describe(model_id, version)

    def job_counts(self) -> dict[str, int]:
        """How many training jobs the queue holds in each state (for metrics; no job is revealed)."""
        return self.jobs.store.count_by_status()

    def predict_csv(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self,
        model_id: str,
        data: bytes,
        version: Any = None,
        as_csv: bool = False,
        caller: Principal | None = None,
        alias: str | None = None,
    ) -> dict[str, Any] | str:
        """Batch predictions for a CSV whose header names the model's features (arrays as ``predict``, or CSV text)."""
        self.access.model(caller, model_id, Permission.READ, "predict with")
        return self.predictor.predict_csv(model_id, data, version, as_csv, alias)

    # --- datasets ------------------------------------------------------------------------------

    def list_datasets(self, caller: Principal | None = None) -> list[dict[str, Any]]:
        """Uploaded datasets the caller may read, with their versions, then the DVC-tracked repository datasets."""
        return self.access.readable_datasets(caller, self.datasets.list())

    def dataset_versions(self, name: str, caller: Principal | None = None) -> list[dict[str, Any]]:
        """Every version of an uploaded dataset, newest first."""
        versions = self.datasets.store.versions(name)
        self.access.dataset(caller, versions, Permission.READ, "read")
        return versions

    def get_dataset(self, name: str, version: str | None = None, caller: Principal | None = None) -> dict[str, Any]:
        """One dataset version (default: the newest) with its schema, a preview of the first rows and the
        models trained on it (``used_by``)."""
        self.dataset_versions(name, caller)
        return self.datasets.get(name, version)

    def upload_dataset(self, name: str, data: bytes, caller: Principal | None = None) -> dict[str, Any]:
        """Store a CSV as a new immutable version of dataset ``name`` (identical bytes: the same version).

        A new version of someone else's dataset needs EDIT on it.
        """
        try:
            versions = self.datasets.store.versions(name)
        except DatasetNotFound:
            versions = []  # a new dataset: the caller will own it
        try:
            self.access.dataset(caller, versions, Permission.EDIT, "add a version to")
        except DatasetNotFound:  # not even readable by the caller: the name is simply taken
            raise Conflict(f"dataset name {name!r} is taken by another principal; choose another name") from None
        return self.datasets.store.upload(name, data, owner=caller)

    def delete_dataset(self, name: str, version: str, caller: Principal | None = None) -> dict[str, Any]:
        """Delete a dataset version that no model version was trained on (InUse names the models); its uploader,
        the dataset's owner or an admin may."""
        record = self.datasets.version_to_delete(name, version)
        self.access.dataset_version(caller, self.datasets.store.versions(name), record)
        return self.datasets.delete(name, version)
