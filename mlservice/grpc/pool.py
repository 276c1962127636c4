"""The gRPC server's threads: a few for the calls that only compute, one more for each call that may block.

grpcio's synchronous server hands every call to an executor. With a thread per call in flight (a
``ThreadPoolExecutor`` as large as the concurrency), every call wakes a thread of its own and the
threads take turns at the interpreter lock: at 8 single-row predictions in flight that hand-off cost
more CPU than the prediction (``docs/PERFORMANCE.md``). Two threads that take the next call off the
queue without sleeping cost ~25% less CPU per call. But a small pool alone would let two trainings,
uploads or open health-watch streams hold every thread while predictions queue behind them.

``ElasticPool`` keeps ``core`` threads for calls, and a call that may block (``blocking()`` around it:
the server marks every method except the inference calls, see ``mlservice.grpc.server``) hands its
place to a new thread while it runs, up to ``limit`` threads in all, like Java's ForkJoinPool's
managed blockers or Tokio's ``block_in_place``. When such a call returns, its thread leaves if the
pool has more running threads than ``core``. Predictions therefore always have ``core`` threads,
however many long calls are in flight (until ``limit``).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any


class ElasticPool(futures.Executor):  # pylint: disable=too-many-instance-attributes  # counters kept under one lock
    """An executor with ``core`` threads for calls plus one per call inside ``blocking()``, at most ``limit``."""

    def __init__(self, core: int, limit: int, name: str = "grpc"):
        """Args:
        core: threads that run calls which do not block (at least 1).
        limit: threads in all, blocked ones included (at least core).
        """
        if core < 1 or limit < core:
            raise ValueError(f"need 1 <= core <= limit, got core={core}, limit={limit}")
        self.core, self.limit, self.name = core, limit, name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a call
        self._queued = 0  # calls no thread has taken yet
        self._live = 0  # threads alive
        self._blocked = 0  # threads inside blocking()
        self._threads: set[threading.Thread] = set()
        self._numbers = itertools.count(1)
        self._local = threading.local()
        self._shutdown = False

    @property
    def threads(self) -> int:
        """Threads alive now."""
        with self._lock:
            return self._live

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> futures.Future:
        future: futures.Future = futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._queue.put((future, fn, args, kwargs))
            self._queued += 1
            if self._queued > self._idle and self._live - self._blocked < self.core and self._live < self.limit:
                self._spawn_locked()
        return future

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """Around work that may block: while it runs, another thread takes this one's place."""
        if not getattr(self._local, "member", False):
            yield
            return
        with self._lock:
            self._blocked += 1
            if self._live - self._blocked < self.core and self._live < self.limit and not self._shutdown:
                self._spawn_locked()
        try:
            yield
        finally:
            with self._lock:
                self._blocked -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _spawn_locked(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self.name}-{next(self._numbers)}", daemon=True)
        self._live += 1
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        self._local.member = True
        try:
            while True:
                with self._lock:
                    self._idle += 1
                item = self._queue.get()
                with self._lock:
                    self._idle -= 1
                    self._queued -= item is not None
                if item is None:
                    return
                future, fn, args, kwargs = item
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # pylint: disable=broad-exception-caught  # the caller's to see
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                    del future, fn, args, kwargs, item
                with self._lock:
                    if self._live - self._blocked > self.core:  # a blocked call returned: one thread too many
                        return
        finally:
            with self._lock:
                self._live -= 1
                self._threads.discard(threading.current_thread())


class MayBlock:
    """The layer (``mlservice.grpc.interceptors``) that runs every method but the given ones inside
    ``pool.blocking()``; a streaming response for as long as it streams."""

    def __init__(self, pool: ElasticPool, compute_only: frozenset[str]):
        """Args:
        compute_only: full method names that only compute (inference, metadata, liveness): they share
            the pool's core threads.
        """
        self.pool, self.compute_only = pool, compute_only

    def wrap(self, method: str, handler):
        """The handler run inside ``blocking()`` unless the method only computes."""
        if method in self.compute_only:
            return handler
        pool = self.pool
        if handler.response_streaming:
            attribute = "stream_stream" if handler.request_streaming else "unary_stream"
            streams = getattr(handler, attribute)

            def streaming(request, context):
                with pool.blocking():
                    yield from streams(request, context)

            return handler._replace(**{attribute: streaming})
        attribute = "stream_unary" if handler.request_streaming else "unary_unary"
        behaviour = getattr(handler, attribute)

        def blocking(request, context):
            with pool.blocking():
                return behaviour(request, context)

        return handler._replace(**{attribute: blocking})
