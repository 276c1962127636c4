"""The gRPC server's threads (mlservice.grpc.pool): core threads for computing calls, one more per blocking call.

No timing is asserted: every wait is on an event with a generous timeout that only a broken pool reaches.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from mlservice.grpc.pool import ElasticPool, MayBlock

WAIT = 30.0  # seconds; only reached when the pool is broken


def until(condition, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def two_blocked_calls(executor: ElasticPool) -> tuple[threading.Event, list]:
    """Submit two calls that wait inside ``blocking()`` until the event is set; return once both run."""
    release, entered = threading.Event(), threading.Semaphore(0)

    def blocked():
        with executor.blocking():
            entered.release()
            assert release.wait(WAIT)

    slow = [executor.submit(blocked) for _ in range(2)]
    assert all(entered.acquire(timeout=WAIT) for _ in range(2))  # pylint: disable=consider-using-with
    return release, slow


@pytest.fixture
def pool():
    made = []

    def make(core: int, limit: int) -> ElasticPool:
        made.append(ElasticPool(core, limit, name="test"))
        return made[-1]

    yield make
    for each in made:
        each.shutdown(wait=True, cancel_futures=True)


def test_results_and_exceptions_reach_the_caller(pool):
    executor = pool(2, 4)
    assert executor.submit(lambda a, b=0: a + b, 2, b=3).result(WAIT) == 5
    with pytest.raises(ZeroDivisionError):
        executor.submit(lambda: 1 / 0).result(WAIT)


def test_computing_calls_never_use_more_than_the_core_threads(pool):
    executor = pool(2, 16)
    seen = set()

    def call():
        seen.add(threading.current_thread().name)
        time.sleep(0.001)

    futures = [executor.submit(call) for _ in range(300)]
    for future in futures:
        future.result(WAIT)
    assert executor.threads <= 2 and 1 <= len(seen) <= 2


def test_a_blocking_call_hands_its_place_to_a_new_thread(pool):
    executor = pool(1, 4)
    release, slow = two_blocked_calls(executor)  # both run at once
    # with both blocked, a computing call still gets a thread of its own
    assert executor.submit(lambda: "answered").result(WAIT) == "answered"
    assert executor.threads == 3
    release.set()
    for future in slow:
        future.result(WAIT)
    assert until(lambda: executor.threads == 1)  # back to the core once they returned
    assert executor.submit(lambda: "still answers").result(WAIT) == "still answers"


def test_blocking_calls_stop_adding_threads_at_the_limit(pool):
    executor = pool(1, 2)
    release, slow = two_blocked_calls(executor)
    queued = executor.submit(lambda: "later")
    assert executor.threads == 2 and not queued.done()  # the limit holds: the call waits its turn
    release.set()
    assert queued.result(WAIT) == "later"
    for future in slow:
        future.result(WAIT)


def test_blocking_outside_the_pool_does_nothing(pool):
    executor = pool(1, 2)
    with executor.blocking():
        pass
    assert executor.threads == 0


def test_shutdown_refuses_new_calls(pool):
    executor = pool(1, 2)
    executor.submit(lambda: None).result(WAIT)
    executor.shutdown(wait=True)
    assert executor.threads == 0
    with pytest.raises(RuntimeError):
        executor.submit(lambda: None)


@pytest.mark.parametrize("core, limit", [(0, 1), (2, 1)])
def test_sizes_are_checked(core, limit):
    with pytest.raises(ValueError):
        ElasticPool(core, limit)


def test_the_layer_marks_all_but_the_computing_methods(pool):
    executor = pool(1, 4)
    inside = []

    def record(_request, _context):
        inside.append(executor._blocked)  # pylint: disable=protected-access  # what the layer did
        return "ok"

    def stream(_request, _context):
        yield executor._blocked  # pylint: disable=protected-access

    layer = MayBlock(executor, frozenset({"/s.S/Compute"}))
    compute = layer.wrap("/s.S/Compute", grpc.unary_unary_rpc_method_handler(record))
    other = layer.wrap("/s.S/Other", grpc.unary_unary_rpc_method_handler(record))
    streaming = layer.wrap("/s.S/Watch", grpc.unary_stream_rpc_method_handler(stream))
    assert executor.submit(compute.unary_unary, None, None).result(WAIT) == "ok"
    assert executor.submit(other.unary_unary, None, None).result(WAIT) == "ok"
    assert executor.submit(lambda: list(streaming.unary_stream(None, None))).result(WAIT) == [1]
    assert inside == [0, 1]
