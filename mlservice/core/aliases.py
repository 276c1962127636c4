"""The lifecycle of a model's versions: registry aliases (``current`` serves by default) and their audit trail.

As in MLflow's Model Registry, an alias names one version of a model: ``current`` is the one that
serves when a request names no version, ``challenger`` the one a retrain with ``promote: false``
registered; any other name (letters, digits, ``_``, ``-``) is the user's. Moving ``current`` promotes
a version or rolls back to an older one; every process sees it within its registry TTL, as it sees a
retrain. Each move is recorded, with who made it and when, as a tag of the registered model (one tag
per event, so concurrent moves never overwrite each other's record; the newest 100 are kept).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from mlservice.core.inputs import check_alias, check_version
from mlservice.core.registry import CURRENT_ALIAS, TAG_PREFIX, Registry, parse_json, utcnow
from mlservice.core.resolution import VersionResolver
from mlservice.errors import InUse, InvalidInput, ModelNotFound, ServiceError
from mlservice.identity.principal import Principal

logger = logging.getLogger(__name__)

EVENT_TAG_PREFIX = TAG_PREFIX + "alias_event."
MAX_EVENTS = 100


def aliases_of(registered) -> dict[str, int]:
    """A registered model's aliases: ``{"current": 3, "challenger": 4}``."""
    return {alias: int(version) for alias, version in sorted((registered.aliases or {}).items())}


def alias_log(registered) -> list[dict[str, Any]]:
    """Who moved which alias to which version, and when: newest first."""
    keys = sorted((key for key in registered.tags if key.startswith(EVENT_TAG_PREFIX)), reverse=True)
    return [event for key in keys if isinstance(event := parse_json(registered.tags[key], None), dict)]


def event_tag(
    alias: str, version: int | None, previous: int | None, by: Principal | None, reason: str
) -> tuple[str, str]:
    """One audit event as a (key, value) tag: keys sort by time, and two processes never share one."""
    key = f"{EVENT_TAG_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:6]}"
    event = {
        "at": utcnow(),
        "alias": alias,
        "version": version,
        "previous_version": previous,
        "by": by.id if by else "",
        "by_name": by.login if by else "",
        "reason": reason,
    }
    return key, json.dumps(event)


class AliasBook:
    """Sets and deletes aliases, and keeps their audit trail; the only writer of aliases besides trainings."""

    def __init__(self, registry: Registry, resolver: VersionResolver):
        self.registry = registry
        self.resolver = resolver

    def set(  # pylint: disable=too-many-arguments
        self, model_id: str, alias: Any, version: Any, caller: Principal | None, registered=None
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` of a model.

        Args:
            registered: the registered model, when the caller has just read it (permissions).

        Returns:
            ``{"model_id", "alias", "version", "previous_version", "created"}``.

        Raises:
            InvalidInput: a malformed alias or version. ModelNotFound: no such model or version.
        """
        alias = check_alias(alias)
        if version is None:
            raise InvalidInput("version is required: the version the alias should point at")
        number = check_version(version)
        registered = registered or self.registry.registered_model(model_id)
        self.registry.version(model_id, number)  # exists and is the service's
        previous = aliases_of(registered).get(alias)
        self.registry.set_alias(model_id, alias, number)
        self.resolver.forget(model_id)
        self.record(model_id, alias, int(number), previous, caller, "set")
        return {
            "model_id": model_id,
            "alias": alias,
            "version": int(number),
            "previous_version": previous,
            "created": previous is None,
        }

    def delete(self, model_id: str, alias: Any, caller: Principal | None, registered=None) -> None:
        """Remove an alias from a model; ``current`` cannot be removed (a model always has a serving version).

        Raises:
            InvalidInput: a malformed alias. InUse: the alias is ``current``. ModelNotFound: no such alias.
        """
        alias = check_alias(alias)
        if alias == CURRENT_ALIAS:
            raise InUse(
                "alias 'current' cannot be deleted: it is the version that serves by default. "
                "Point it at another version instead (promote or roll back)"
            )
        registered = registered or self.registry.registered_model(model_id)
        previous = aliases_of(registered).get(alias)
        if previous is None:
            raise ModelNotFound(f"Model '{model_id}' has no alias '{alias}'")
        self.registry.delete_alias(model_id, alias)
        self.resolver.forget(model_id)
        self.record(model_id, alias, None, previous, caller, "delete")

    def record(  # pylint: disable=too-many-arguments
        self,
        model_id: str,
        alias: str,
        version: int | None,
        previous: int | None,
        caller: Principal | None,
        reason: str,
    ) -> None:
        """Add an event to the audit trail, then drop the oldest beyond 100 (read back after writing, so
        events written by other processes meanwhile count too).

        Raises:
            Unavailable: the registry did not take the event.
        """
        key, value = event_tag(alias, version, previous, caller, reason)
        self.registry.set_model_tag(model_id, key, value)
        events = sorted(k for k in self.registry.registered_model(model_id).tags if k.startswith(EVENT_TAG_PREFIX))
        if len(events) > MAX_EVENTS:
            self.registry.delete_model_tags(model_id, events[: len(events) - MAX_EVENTS])

    def record_training(self, model_id: str, alias: str, version: int, caller: Principal | None, reason: str) -> None:
        """A training moved an alias: recorded, but a trail the registry did not take fails no training."""
        try:
            self.record(model_id, alias, version, None, caller, reason)
        except ServiceError:
            logger.warning("Could not record that %s moved %s of %s to v%s", reason, alias, model_id, version)
