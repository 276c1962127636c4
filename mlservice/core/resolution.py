"""Which registry version a (model, version-or-alias) request means, trusted for a short TTL per process.

Predictions must not ask the registry on every request, yet a retrain, an alias move or a delete in
another process must be seen soon: each alias (``current``, ``challenger``, ...) is resolved and cached
like a version number, and a process trusts its answer for ``registry_ttl_seconds``; past that (up to ten
times that) it keeps serving the known version and asks the registry off the request path; beyond
that it asks before answering. When the registry cannot be reached, a known answer keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from mlservice.core.registry import CURRENT_ALIAS, Registry
from mlservice.errors import ModelNotFound, ServiceError, Unavailable

logger = logging.getLogger(__name__)

STALE_FACTOR = 10  # past TTL x this, a resolution is refreshed on the request path, not in the background

Key = tuple[str, str]  # (model id, "3" or "@alias")


class VersionResolver:
    """A TTL cache in front of ``Registry.version``, shared by a process's threads."""

    def __init__(self, registry: Registry, ttl_seconds: float, background: Executor, on_gone: Callable[[str], None]):
        """Args:
        on_gone: called with a model id the registry no longer has (the model cache drops it).
        """
        self.registry = registry
        self.ttl = ttl_seconds
        self._background = background
        self._on_gone = on_gone
        self._resolved: dict[Key, tuple[float, Any]] = {}
        self._refreshing: set[Key] = set()
        self._lock = threading.Lock()

    def resolve(self, model_id: str, version: str | None, fresh: bool = False, alias: str | None = None):
        """The registry's model version for (id, version, or the version an alias points at: ``current``
        when neither is given).

        Raises:
            ModelNotFound: no such model, version or alias. Unavailable: the registry is down and this
            process never resolved the key.
        """
        key = (model_id, version if version is not None else "@" + (alias or CURRENT_ALIAS))
        now = time.monotonic()
        with self._lock:
            cached = self._resolved.get(key)
        if cached and not fresh:
            age = now - cached[0]
            if age < self.ttl:
                return cached[1]
            if age < self.ttl * STALE_FACTOR:
                # serve what we know and ask the registry off the request path; bounded staleness
                self._refresh_in_background(key)
                return cached[1]
        try:
            model_version = self._lookup(key)
        except ModelNotFound:
            self.forget(model_id)
            self._on_gone(model_id)
            raise
        except Unavailable:
            if cached:
                logger.warning("Registry unreachable; serving %s from the cached resolution", key)
                return cached[1]
            raise
        with self._lock:
            self._resolved[key] = (now, model_version)
        return model_version

    def _lookup(self, key: Key):
        model_id, ref = key
        if ref.startswith("@"):
            return self.registry.version(model_id, None, alias=ref[1:])
        return self.registry.version(model_id, ref)

    def forget(self, model_id: str) -> None:
        """Drop every resolution of a model (after a retrain, an alias move or a delete)."""
        with self._lock:
            for key in [k for k in self._resolved if k[0] == model_id]:
                del self._resolved[key]

    def _refresh_in_background(self, key: Key) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                model_id, ref = key
                if ref.startswith("@"):
                    self.resolve(model_id, None, fresh=True, alias=ref[1:])
                else:
                    self.resolve(model_id, ref, fresh=True)
            except ServiceError as exc:  # not found: already forgotten; unavailable: keep the stale answer
                logger.info("Background refresh of %s: %s", key, exc.message)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        self._background.submit(refresh)
