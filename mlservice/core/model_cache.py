"""The per-process cache of loaded model versions: LRU, bounded by count and by bytes, thread-safe.

Each (model id, version) is loaded from the store at most once while it stays cached, even when
several threads ask for it at the same moment. The registry, not this cache, says which version is
current; the core drops a model's entries when it is retrained or deleted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlservice.core.preprocessing import FeatureSchema

from mlservice.core import metrics


@dataclass
class LoadedModel:
    """A model version loaded in memory, with what predict needs to check its input."""

    estimator: Any
    version: str
    task: str
    n_features: int
    classes: list | None
    feature_names: list[str] | None = None
    schema: FeatureSchema | None = None  # what predict types its input against
    size_bytes: int = 0  # the serialized artifact's size: the cache's estimate of the memory it holds


class ModelCache:
    """LRU of loaded model versions, shared by a process's threads; each version loads once."""

    def __init__(self, max_entries: int, max_bytes: int | None = None):
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self.loads = 0  # how many times a version was loaded from the store (for tests and benchmarks)

    def get_or_load(self, key: tuple[str, str], loader: Callable[[], LoadedModel]) -> LoadedModel:
        """The cached model for key, loading it (once, even under concurrency) when absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            loaded = loader()
            self.loads += 1
            self.put(key, loaded, loaded_now=True)
        with self._lock:
            self._loading.pop(key, None)
        return loaded

    def put(self, key: tuple[str, str], loaded: LoadedModel, *, loaded_now: bool = False) -> None:
        """Insert or refresh an entry, evicting the least recently used beyond the limit."""
        evicted = 0
        with self._lock:
            self._entries[key] = loaded
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries or (
                self._max_bytes is not None and len(self._entries) > 1 and self.size_bytes > self._max_bytes
            ):
                self._entries.popitem(last=False)
                evicted += 1
            metrics.record_cache(len(self._entries), self.size_bytes, loaded=int(loaded_now), evicted=evicted)

    @property
    def size_bytes(self) -> int:
        """Estimated memory held: the sum of the cached versions' artifact sizes."""
        return sum(entry.size_bytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def drop_model(self, model_id: str) -> None:
        """Forget every cached version of a model."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == model_id]:
                del self._entries[key]
            metrics.record_cache(len(self._entries), self.size_bytes)
