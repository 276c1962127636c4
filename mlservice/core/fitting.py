"""Every fit runs in a child process of its own, so that it can be stopped.

A thread running ``estimator.fit`` cannot be interrupted; a process can. In a child process a fit

- has a time limit (``MLSERVICE_TRAINING_TIME_LIMIT_SECONDS``): past it the child is killed and the
  training fails with a clear message, before anything is registered;
- can be cancelled mid-fit: the caller's checkpoint (an asynchronous job's cancel check) runs about
  once a second while it fits;
- can crash, or be killed by the kernel's out-of-memory killer, without taking the REST or gRPC
  process with it; it raises its own out-of-memory score, so that the kernel picks it first.

Children are forked by a forkserver (``multiprocessing``) that has imported scikit-learn once, so a
fit starts in milliseconds and never inherits the front end's threads (gunicorn, gRPC) or their locks.
``pebble`` runs the function in the child and carries its result, exception or abnormal end back. A
fit child whose front end is killed (SIGKILL, out of memory) dies with it instead of running on.

Processes that call the core directly need the usual ``if __name__ == "__main__":`` guard in their
main script, as with any ``multiprocessing`` code that does not fork.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing import forkserver, reduction
from pathlib import Path
from typing import Any

import numpy as np
from pebble import ProcessExpired, ProcessFuture, concurrent
from sklearn.utils.validation import check_array

from mlservice.core.evaluation import FitOutcome, fit_and_evaluate, holdout_rows
from mlservice.errors import TrainingLimitExceeded

CHECKPOINT_SECONDS = 1.0
OOM_SCORE_ADJ = 500  # of -1000..1000: the fit, not the REST/gRPC process, is killed when memory runs out

CONTEXT = multiprocessing.get_context("forkserver")
# imported once in the forkserver, so each fit child starts with scikit-learn, pandas and the catalogue loaded
CONTEXT.set_forkserver_preload(
    ["__main__", "mlservice.core.evaluation", "mlservice.core.preprocessing", "mlservice.core.catalogue",
     "mlservice.core.fitting"]
)  # fmt: skip

# scikit-learn's input checks ask narwhals which dataframe libraries are installed, and narwhals
# scans every installed package's entry points for that once per process (about 10 ms). Done here at
# import, the forkserver does it once for all fit children. Pure Python: no thread pool starts.
check_array(np.zeros((2, 2)))


def _die_with(front_end_pid: int) -> None:
    """Kill this fit process as soon as the front end that asked for it is gone.

    The fit's parent is the forkserver, and the forkserver outlives the front end as long as the fit
    lives (the fit holds the forkserver's liveness pipe), so the kernel's parent-death signal cannot
    do this. A pidfd of the front end becomes readable when that process ends.
    """
    try:
        pidfd = os.pidfd_open(front_end_pid)
    except ProcessLookupError:  # gone before the fit even started
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or newer: the fit cannot watch its front end
        return

    def watch() -> None:
        select.select([pidfd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="front-end-watch", daemon=True).start()


# pebble 5.2 reads the start-method context from `context` (its type stubs say `mp_context`, which it ignores)
def _first_to_go_when_memory_runs_out() -> None:
    """Make the kernel's out-of-memory killer pick this fit before the front end (Linux; raising
    one's own score needs no privilege)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text(str(OOM_SCORE_ADJ), encoding="ascii")


@concurrent.process(context=CONTEXT, name="mlservice-fit")
def _fit_in_child(  # pylint: disable=too-many-arguments
    front_end_pid: int, estimator: Any, X: Any, y: Any, task: str, split: dict[str, Any]
) -> FitOutcome:
    _die_with(front_end_pid)
    _first_to_go_when_memory_runs_out()
    return fit_and_evaluate(estimator, X, y, task, **split)


class SharedArray:
    """A large numpy array handed to the fit process in an anonymous memory file (``memfd``).

    Pickled through the pipe, a 160 MiB feature matrix costs a pickled copy in the front end and two
    more in the child, and seconds of copying. Here the front end writes it once into a memfd, rows
    already in hold-out order (``training.holdout_rows``: training rows first), so the child's split
    is two views of the mapping and copies nothing. The forkserver passes the descriptor to the child
    (``multiprocessing.reduction.DupFd``), which maps it copy-on-write. Nothing is left behind: the
    memory is freed when both sides have closed it, even if either is killed.
    """

    MIN_BYTES = 1 << 20  # smaller arrays are cheaper to pickle
    CHUNK_ROWS = 1 << 15

    def __init__(self, array: np.ndarray, order: np.ndarray | None = None):
        self.shape, self.dtype, self.nbytes = array.shape, array.dtype.str, array.nbytes
        self.fd = os.memfd_create("mlservice-fit-data", os.MFD_CLOEXEC)
        try:
            with open(self.fd, "wb", closefd=False) as file:
                if order is None:
                    file.write(memoryview(np.ascontiguousarray(array)).cast("B"))
                else:  # in chunks: reordering the whole array at once would be another full copy
                    for start in range(0, len(order), self.CHUNK_ROWS):
                        file.write(memoryview(array[order[start : start + self.CHUNK_ROWS]]).cast("B"))
        except BaseException:
            os.close(self.fd)
            raise

    @classmethod
    def suits(cls, value: Any) -> bool:
        """A plain numpy array large enough to be worth it (and memfd exists here)."""
        return (
            isinstance(value, np.ndarray)
            and value.dtype != object
            and value.nbytes >= cls.MIN_BYTES
            and hasattr(os, "memfd_create")
        )

    def close(self) -> None:
        """Drop the front end's descriptor (the child holds its own)."""
        os.close(self.fd)

    def __reduce__(self):
        return _map_shared, (reduction.DupFd(self.fd), self.shape, self.dtype, self.nbytes)


def _map_shared(dup_fd: Any, shape: tuple[int, ...], dtype: str, nbytes: int) -> np.ndarray:
    fd = dup_fd.detach()
    try:
        # copy-on-write: an estimator that writes into its input gets private pages
        buffer = mmap.mmap(fd, nbytes, access=mmap.ACCESS_COPY) if nbytes else b""
    finally:
        os.close(fd)
    return np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape)


def warm_up() -> None:
    """Start the forkserver (importing scikit-learn there) in the background, so the first fit is quick."""
    threading.Thread(target=forkserver.ensure_running, name="fit-forkserver-start", daemon=True).start()


def fit_in_child(  # pylint: disable=too-many-arguments,no-member  # pebble's decorator returns a ProcessFuture
    estimator: Any,
    X: Any,
    y: Any,
    task: str,
    *,
    test_size: float,
    random_state: int | None,
    time_limit: float,
    checkpoint: Callable[[], None] | None = None,
) -> FitOutcome:
    """``training.fit_and_evaluate`` in a child process, stopped after ``time_limit`` seconds.

    Args:
        checkpoint: called about every second while the child fits; whatever it raises (``Cancelled``)
            stops the child and propagates.

    Raises:
        TrainingLimitExceeded: the time limit passed, or the child ended abnormally (killed, out of memory).
        InvalidInput: the estimator refused the data (raised in the child, carried back).
    """
    split: dict[str, Any] = {"test_size": test_size, "random_state": random_state}
    shared: SharedArray | None = None
    if SharedArray.suits(X) and isinstance(y, np.ndarray):
        holdout = holdout_rows(y, task, test_size, random_state)
        order, n_train = holdout if holdout is not None else (None, len(y))
        try:
            shared = SharedArray(X, order)
        except OSError:  # no room for the memory file: the data goes through the pipe instead
            shared = None
        else:
            X, y, split["n_train"] = shared, (y if order is None else y[order]), n_train
    try:
        future: ProcessFuture = _fit_in_child(os.getpid(), estimator, X, y, task, split)
    finally:  # the forkserver has passed the descriptor on by now
        if shared is not None:
            shared.close()
    deadline = time.monotonic() + time_limit
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TrainingLimitExceeded(
                    f"Training stopped: it ran longer than the time limit of {time_limit:g} s. Use fewer rows, "
                    "a smaller model (fewer estimators, shallower trees) or ask for a longer limit"
                )
            try:
                return future.result(timeout=min(CHECKPOINT_SECONDS, remaining))
            except FutureTimeout:
                if checkpoint is not None:
                    checkpoint()
    except ProcessExpired as exc:
        raise TrainingLimitExceeded(
            f"Training stopped: the fitting process ended abnormally (exit code {exc.exitcode}), most likely "
            "out of memory. Use fewer rows or a smaller model"
        ) from None
    finally:
        if not future.done():
            future.cancel()  # pebble stops the child: SIGTERM, then SIGKILL
