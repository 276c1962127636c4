"""Fits run in a child process: time limit, cancellation mid-fit, a dying fit, a dying front end.

Unit tests of ``fitting.py`` with probe estimators (``tests/fit_probes.py``); the service-level
behaviour over REST, gRPC and jobs is in ``test_jobs.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pytest
from sklearn.linear_model import LogisticRegression

from mlservice.core.evaluation import fit_and_evaluate
from mlservice.core.fitting import SharedArray, fit_in_child
from mlservice.errors import Cancelled, InvalidInput, TrainingLimitExceeded
from tests.conftest import ROOT, base_env, wait_for
from tests.fit_probes import PidProbe, Refuser, SelfKiller, Sleeper

pytestmark = [pytest.mark.integration, pytest.mark.reliability]  # every test runs fit processes

X = np.random.default_rng(0).normal(size=(60, 3))
Y = (X[:, 0] > 0).astype(int)


def fit(estimator, **options):
    options.setdefault("time_limit", 60)
    return fit_in_child(estimator, X, Y, "classification", test_size=0.2, random_state=0, **options)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_fit_comes_back_fitted_and_scored_from_a_forkserver_child():
    outcome = fit(PidProbe())
    assert outcome.estimator.pid_ != os.getpid()
    # forked by the forkserver, never by the (multi-threaded) front end itself
    assert outcome.estimator.ppid_ != os.getpid()
    # when memory runs out, the kernel kills the fit rather than the front end
    assert outcome.estimator.oom_score_adj_ > int(Path("/proc/self/oom_score_adj").read_text(encoding="ascii"))
    assert outcome.evaluation == "holdout" and (outcome.n_train, outcome.n_eval) == (48, 12)

    real = fit(LogisticRegression())
    assert real.estimator.predict(X[:5]).shape == (5,) and 0.5 < real.scores["accuracy"] <= 1


def test_a_fit_over_the_time_limit_is_stopped_and_its_process_killed(tmp_path: Path):
    pid_file = tmp_path / "pid"
    fit(PidProbe())  # a warm forkserver: the fit below starts in milliseconds, far inside its limit
    with pytest.raises(TrainingLimitExceeded, match="longer than the time limit of 5 s"):
        fit(Sleeper(str(pid_file)), time_limit=5)  # sleeps 600 s once started
    assert pid_file.exists(), "the fit never started within 5 s: the forkserver was not warm"
    assert wait_for(lambda: gone(int(pid_file.read_text())))
    assert fit(PidProbe(), time_limit=60).estimator.pid_  # and the next fit runs normally


def test_the_checkpoint_cancels_a_running_fit(tmp_path: Path):
    pid_file = tmp_path / "pid"

    def checkpoint():
        if pid_file.exists():  # the fit has started
            raise Cancelled("cancelled on request")

    with pytest.raises(Cancelled):
        fit(Sleeper(str(pid_file)), time_limit=600, checkpoint=checkpoint)
    assert wait_for(lambda: gone(int(pid_file.read_text())))


def test_a_fit_process_that_dies_is_an_error_not_a_crash():
    with pytest.raises(TrainingLimitExceeded, match=r"ended abnormally \(exit code -9\).*out of memory"):
        fit(SelfKiller(), time_limit=60)
    assert fit(PidProbe(), time_limit=60).estimator.pid_ != os.getpid()


def test_an_estimator_refusing_the_data_is_invalid_input():
    with pytest.raises(InvalidInput, match="Training failed: Input contains a value"):
        fit(Refuser(), time_limit=60)


def test_a_fit_dies_with_its_front_end(tmp_path: Path):
    """SIGKILL to the front end alone (not its process group): its fit must not run on as an orphan."""
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(f"""
        import numpy as np
        from mlservice.core.fitting import fit_in_child
        from tests.fit_probes import Sleeper

        if __name__ == "__main__":
            X = np.zeros((20, 2)); y = np.arange(20) % 2
            fit_in_child(Sleeper({str(pid_file)!r}), X, y, "classification", test_size=0, random_state=0,
                         time_limit=600)
    """)
    with subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=base_env(PYTHONPATH=str(ROOT))) as front_end:
        try:
            wait_for(pid_file.exists, timeout=120)
            fit_pid = int(pid_file.read_text())
            assert psutil.Process(fit_pid).is_running()
            os.kill(front_end.pid, signal.SIGKILL)  # the front end alone, not its process group
            front_end.wait(timeout=30)
            assert wait_for(lambda: gone(fit_pid), timeout=30)
        finally:
            if front_end.poll() is None:
                front_end.kill()


def test_a_large_array_reaches_the_fit_through_shared_memory_unchanged():
    rng = np.random.default_rng(3)
    X_big = rng.normal(size=(20_000, 10))  # 1.6 MB: over SharedArray.MIN_BYTES
    y_big = (X_big[:, 0] + 0.1 * rng.normal(size=20_000) > 0).astype(np.int64)
    assert X_big.nbytes >= SharedArray.MIN_BYTES
    shared = fit_in_child(LogisticRegression(), X_big, y_big, "classification", test_size=0.2, random_state=0,
                          time_limit=120)  # fmt: skip
    local = fit_and_evaluate(LogisticRegression(), X_big, y_big, "classification", test_size=0.2, random_state=0)
    np.testing.assert_array_equal(shared.estimator.coef_, local.estimator.coef_)
    assert shared.scores == local.scores
    np.testing.assert_array_equal(X_big, np.random.default_rng(3).normal(size=(20_000, 10)))  # left untouched


def test_without_room_for_the_memory_file_the_data_goes_through_the_pipe(monkeypatch: pytest.MonkeyPatch):
    def no_room(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "memfd_create", no_room)
    rng = np.random.default_rng(4)
    X_big = rng.normal(size=(20_000, 10))
    y_big = (X_big[:, 0] > 0).astype(np.int64)
    piped = fit_in_child(LogisticRegression(), X_big, y_big, "classification", test_size=0.2, random_state=0,
                         time_limit=120)  # fmt: skip
    local = fit_and_evaluate(LogisticRegression(), X_big, y_big, "classification", test_size=0.2, random_state=0)
    np.testing.assert_array_equal(piped.estimator.coef_, local.estimator.coef_)
    assert piped.n_train == local.n_train == 16_000
