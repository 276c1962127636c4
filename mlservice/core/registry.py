"""The MLflow Model Registry, the one place models live: reads and writes, with its failures as the core's exceptions.

A model id is a registered model name tagged ``mlservice.managed=true``; each (re)training is a new
version whose tags carry what the service shows (params, metrics, features, classes, lineage); the
alias ``current`` points at the version that serves by default. No host, credential or traceback
reaches a message: the details go to the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlservice.core.catalogue import jsonable
from mlservice.core.inputs import is_model_id
from mlservice.errors import Conflict, ModelNotFound, Unavailable

logger = logging.getLogger(__name__)

CURRENT_ALIAS = "current"  # "latest" is reserved by MLflow
CHALLENGER_ALIAS = "challenger"  # where a retrain with promote=false puts its version
TAG_PREFIX = "mlservice."
MANAGED_TAG = TAG_PREFIX + "managed"
PROMOTED_TAG = TAG_PREFIX + "promoted"  # "false" on a challenger's version: retrains never make it current
MAX_TAG_VALUE = 4000  # MLflow's model-version tag limit is 5000 characters


@contextmanager
def registry_errors(action: str) -> Iterator[None]:
    """Translate MLflow / network failures into the core's exceptions (no hosts in messages)."""
    try:
        yield
    except MlflowException as exc:
        code = exc.error_code
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelNotFound(f"Not found while trying to {action}") from exc
        if code == "RESOURCE_ALREADY_EXISTS":
            raise Conflict(f"Already exists: cannot {action}") from exc
        logger.warning("MLflow failed to %s: %s", action, exc)
        raise Unavailable(f"The model registry (MLflow) is unavailable; could not {action}. Try again.") from exc
    except (requests.RequestException, OSError) as exc:
        logger.warning("MLflow / artifact store unreachable while trying to %s: %s", action, exc)
        raise Unavailable(f"The model registry (MLflow) is unavailable; could not {action}. Try again.") from exc
    except Exception as exc:  # botocore and friends raise their own hierarchy
        if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
            logger.warning("Artifact store failed while trying to %s: %s", action, exc)
            raise Unavailable(f"The artifact store is unavailable; could not {action}. Try again.") from exc
        raise


def utcnow() -> str:
    """Now, UTC, ISO 8601 to the second: how the service stamps tags."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_tag(value: Any) -> str | None:
    """A value as a JSON tag, or None when it would not fit MLflow's tag limit."""
    text = json.dumps(value, default=jsonable)
    return text if len(text) <= MAX_TAG_VALUE else None


def parse_json(text: str | None, default: Any) -> Any:
    """A JSON tag's value, or default when absent or unreadable."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def search_all(search: Callable, **kwargs) -> list:
    """Every page of an MLflow search."""
    results, token = [], None
    while True:
        page = search(max_results=1000, page_token=token, **kwargs)
        results.extend(page)
        token = page.token
        if not token:
            return results


class Registry:
    """The service's view of the Model Registry: managed models, their versions and the ``current`` alias."""

    def __init__(self, client: MlflowClient, experiment_name: str):
        self.client = client
        self.experiment_name = experiment_name
        self._experiment_id: str | None = None

    # --- models ------------------------------------------------------------------------------

    def registered_model(self, model_id: str):
        """The registered model of a managed model id.

        Raises:
            ModelNotFound: no such managed model (also for ids that cannot exist). Unavailable.
        """
        if not is_model_id(model_id):
            raise ModelNotFound(f"Model '{model_id}' not found")
        try:
            with registry_errors(f"read model {model_id}"):
                record = self.client.get_registered_model(model_id)
        except ModelNotFound:
            raise ModelNotFound(f"Model '{model_id}' not found") from None
        if record.tags.get(MANAGED_TAG) != "true":
            raise ModelNotFound(f"Model '{model_id}' not found")
        return record

    def refuse_taken_id(self, model_id: str) -> None:
        """Raise Conflict when a registered model (managed or not) already has this name."""
        try:
            with registry_errors(f"check model id {model_id}"):
                self.client.get_registered_model(model_id)
        except ModelNotFound:
            return
        raise Conflict(f"Model id '{model_id}' is already taken; choose another or retrain it")

    def create_model(self, model_id: str, tags: dict[str, str], description: str) -> None:
        """Register a new model name (Conflict when another process took it first)."""
        try:
            with registry_errors("register the model"):
                self.client.create_registered_model(
                    model_id, tags={MANAGED_TAG: "true", **tags}, description=description
                )
        except Conflict:
            raise Conflict(f"Model id '{model_id}' is already taken; choose another or retrain it") from None

    def delete_model(self, model_id: str) -> list[str]:
        """Delete a registered model and its versions; returns the run ids its versions came from."""
        with registry_errors(f"delete model {model_id}"):
            versions = self.versions(model_id)
            self.client.delete_registered_model(model_id)
        return sorted({mv.run_id for mv in versions if mv.run_id})

    def forget_model(self, model_id: str) -> None:
        """Roll back a registration whose first version could not be made (best effort, logged)."""
        try:
            self.client.delete_registered_model(model_id)
        except Exception:  # pylint: disable=broad-exception-caught
            logger.exception("Could not roll back registered model %s", model_id)

    def managed_models(self) -> tuple[list, list]:
        """Every managed registered model and every managed version (two searches, not one per model)."""
        with registry_errors("list models"):
            managed = f"tags.`{MANAGED_TAG}` = 'true'"
            registered = search_all(self.client.search_registered_models, filter_string=managed)
            versions = search_all(self.client.search_model_versions, filter_string=managed)
        return registered, versions

    # --- versions ----------------------------------------------------------------------------

    def versions(self, model_id: str) -> list:
        """Every version of a model (any order)."""
        return search_all(self.client.search_model_versions, filter_string=f"name = '{model_id}'")

    def newest_version(self, model_id: str) -> int:
        """The highest version number of a model that a retrain meant to serve (0 when it has none):
        challengers (``promote=false``) do not count."""
        versions = self.versions(model_id)
        return max((int(mv.version) for mv in versions if mv.tags.get(PROMOTED_TAG) != "false"), default=0)

    def version(self, model_id: str, version: str | None, alias: str | None = None):
        """A managed version by number, or the one an alias points at (``current`` when both are None).

        Raises:
            ModelNotFound: no such model, version or alias. Unavailable.
        """
        if not is_model_id(model_id):
            raise ModelNotFound(f"Model '{model_id}' not found")
        try:
            with registry_errors(f"look up model {model_id}"):
                if version is None:
                    model_version = self._version_by_alias(model_id, alias or CURRENT_ALIAS)
                else:
                    model_version = self.client.get_model_version(model_id, version)
        except ModelNotFound:
            if version is None and alias not in (None, CURRENT_ALIAS):
                raise ModelNotFound(f"Model '{model_id}' not found, or it has no alias '{alias}'") from None
            what = f"Model '{model_id}'" + (f" version {version}" if version else "")
            raise ModelNotFound(f"{what} not found") from None
        if model_version.tags.get(MANAGED_TAG) != "true":
            raise ModelNotFound(f"Model '{model_id}' not found")
        return model_version

    def _version_by_alias(self, model_id: str, alias: str):
        try:
            return self.client.get_model_version_by_alias(model_id, alias)
        except MlflowException as exc:  # MLflow says INVALID_PARAMETER_VALUE for an alias it does not have
            if exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc):
                raise ModelNotFound(f"alias {alias} not found") from exc
            raise

    def create_version(self, model_id: str, source: str, run_id: str, tags: dict[str, str]):
        """A new version of a registered model (the SQL registry creates it READY at once)."""
        return self.client.create_model_version(
            model_id, source=source, run_id=run_id, tags={MANAGED_TAG: "true", **tags}, await_creation_for=0
        )

    def move_current_alias(self, model_id: str, version: str, new_model: bool = False) -> int:
        """Point ``current`` at the model's newest version, also when other processes retrain at once.

        A version exists only once its artifacts are uploaded, so the newest one is always servable.
        Each retrain sets the alias and reads again until no newer version has appeared: the last
        writer always re-checks after writing, so ``current`` never ends on an older version.
        Challengers (retrains with ``promote=false``) are never made current here.

        Returns:
            The version ``current`` was left on.
        """
        if new_model:  # version 1 of a model created by this call: nothing to compare with
            self.client.set_registered_model_alias(model_id, CURRENT_ALIAS, version)
            return int(version)
        target = max(int(version), self.newest_version(model_id))
        for _ in range(10):
            self.client.set_registered_model_alias(model_id, CURRENT_ALIAS, str(target))
            newest = self.newest_version(model_id)
            if newest <= target:
                break
            target = newest
        return target

    def set_alias(self, model_id: str, alias: str, version: str) -> None:
        """Point an alias at a version (created or moved)."""
        with registry_errors(f"set alias {alias} of {model_id}"):
            self.client.set_registered_model_alias(model_id, alias, version)

    def delete_alias(self, model_id: str, alias: str) -> None:
        """Remove an alias (the version stays)."""
        with registry_errors(f"delete alias {alias} of {model_id}"):
            self.client.delete_registered_model_alias(model_id, alias)

    def set_model_tag(self, model_id: str, key: str, value: str) -> None:
        """Set a tag of the registered model."""
        with registry_errors(f"tag model {model_id}"):
            self.client.set_registered_model_tag(model_id, key, value)

    def delete_model_tags(self, model_id: str, keys: list[str]) -> None:
        """Delete tags of the registered model (best effort: a tag another process deleted is fine)."""
        for key in keys:
            try:
                self.client.delete_registered_model_tag(model_id, key)
            except Exception:  # pylint: disable=broad-exception-caught
                logger.info("Could not delete tag %s of %s", key, model_id, exc_info=True)

    def models_using_dataset(self, name: str, version: str) -> list[str]:
        """Ids of models with a version trained on this dataset version (lineage tags)."""
        with registry_errors("look up which models use the dataset"):
            versions = search_all(
                self.client.search_model_versions, filter_string=f"tags.`{TAG_PREFIX}dataset_version` = '{version}'"
            )
        return sorted({mv.name for mv in versions if mv.tags.get(TAG_PREFIX + "dataset") == name})

    # --- runs --------------------------------------------------------------------------------

    def experiment_id(self) -> str:
        """The service's experiment, created on first use (another process may create it first)."""
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is not None:
                self._experiment_id = experiment.experiment_id
                return self._experiment_id
            try:
                self._experiment_id = self.client.create_experiment(self.experiment_name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                self._experiment_id = self.client.get_experiment_by_name(self.experiment_name).experiment_id
        return self._experiment_id
