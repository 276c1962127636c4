"""Access control for every operation of the core: who may see or change which model, dataset and job.

The facade (``models.py``) asks here before it delegates, whatever the front end, so REST, gRPC
and jobs cannot disagree. The decision itself is ``identity.permissions.AccessPolicy`` (owner,
admins, grants, the default permission); this module finds the owner and the grant of each object:
a model's owner is its registered model's ``mlservice.owner`` tag (cached for the registry TTL),
its grants the ``identity.grants`` store; a dataset's owner is whoever uploaded its first version;
a job's, whoever submitted it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mlservice.core.registry import TAG_PREFIX, Registry
from mlservice.errors import DatasetNotFound, ModelNotFound, NotFound, PermissionDenied
from mlservice.identity.grants import GrantStore
from mlservice.identity.permissions import AccessPolicy, Permission
from mlservice.identity.principal import Principal

OWNER_TAG = TAG_PREFIX + "owner"


class AccessControl:
    """The permission checks of models, datasets and jobs, for one process."""

    def __init__(self, policy: AccessPolicy, grants: GrantStore, registry: Registry, ttl_seconds: float):
        self.policy = policy
        self.grants = grants
        self.registry = registry
        self.ttl = ttl_seconds
        self._owners: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    # --- models ------------------------------------------------------------------------------

    def model(  # pylint: disable=too-many-arguments
        self, caller: Principal | None, model_id: str, needed: Permission, action: str, registered: Any = None
    ) -> None:
        """Require ``needed`` on a model.

        Args:
            registered: the registered model, when the caller already read it (saves a registry call).

        Raises:
            ModelNotFound: caller may not read it (or it does not exist). PermissionDenied.
        """
        if self.policy.is_admin(caller):
            return
        grant = self.grants.get(model_id, caller.id)
        if (grant if grant is not None else self.policy.default) >= needed:
            return  # enough without knowing the owner: no registry call on the predict path
        owner = self._owner(model_id, registered)
        self.policy.require(
            caller, needed, owner=owner, grant=grant, hidden=ModelNotFound(f"Model '{model_id}' not found"),
            action=f"{action} model '{model_id}'",
        )  # fmt: skip

    def _owner(self, model_id: str, registered: Any = None) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._owners.get(model_id)
        if registered is None and cached and now - cached[0] < self.ttl:
            return cached[1]
        registered = registered or self.registry.registered_model(model_id)
        owner = registered.tags.get(OWNER_TAG, "")
        with self._lock:
            self._owners[model_id] = (now, owner)
        return owner

    def readable_models(self, caller: Principal | None, records: list[dict]) -> list[dict]:
        """The model records caller may read (list endpoints show nothing else)."""
        if self.policy.is_admin(caller):
            return records
        grants = self.grants.of_principal(caller.id)
        return [
            record
            for record in records
            if self.policy.level(caller, record.get("owner"), grants.get(record["id"])) >= Permission.READ
        ]

    def forget_model(self, model_id: str) -> None:
        """A deleted model: its grants go with it (a new model of that name starts with none)."""
        self.grants.delete_model(model_id)
        with self._lock:
            self._owners.pop(model_id, None)

    # --- jobs and datasets -------------------------------------------------------------------

    def job(self, caller: Principal | None, job: dict) -> dict:
        """A job is its submitter's and the admins' alone: to anyone else it does not exist."""
        if self.policy.is_admin(caller) or job.get("owner") == caller.id:
            return job
        raise NotFound(f"Job '{job['id']}' not found")

    def dataset(self, caller: Principal | None, versions: list[dict], needed: Permission, action: str) -> None:
        """Require ``needed`` on a dataset, given its versions (any order); its owner uploaded the first.

        Raises:
            DatasetNotFound: caller may not read it. PermissionDenied.
        """
        if not versions or self.policy.is_admin(caller):
            return
        name = versions[0].get("name", "")
        self.policy.require(
            caller, needed, owner=dataset_owner(versions), hidden=DatasetNotFound(f"dataset {name!r} not found"),
            action=f"{action} dataset {name!r}",
        )  # fmt: skip

    def dataset_version(self, caller: Principal | None, versions: list[dict], record: dict) -> None:
        """Deleting one version: its uploader, the dataset's owner, or an admin."""
        if self.policy.is_admin(caller) or caller.id in (record.get("owner"), dataset_owner(versions)):
            return
        self.dataset(caller, versions, Permission.READ, "see")  # hidden when not even readable
        raise PermissionDenied(
            f"{caller.login} may not delete version {record.get('version')} of dataset {record.get('name')!r}: "
            "only who uploaded it, the dataset's owner or an admin may"
        )

    def readable_datasets(self, caller: Principal | None, datasets: list[dict]) -> list[dict]:
        """Datasets caller may read; repository (DVC) datasets are part of the deployment: everyone's."""
        if self.policy.is_admin(caller):
            return datasets
        return [
            dataset
            for dataset in datasets
            if dataset.get("source") == "dvc"
            or self.policy.level(caller, dataset_owner(dataset.get("versions") or [])) >= Permission.READ
        ]


def dataset_owner(versions: list[dict]) -> str | None:
    """Who uploaded a dataset's first version."""
    dated = [v for v in versions if v.get("created_at")]
    first = min(dated, key=lambda v: v["created_at"]) if dated else (versions[0] if versions else {})
    return first.get("owner")
