"""Estimators for the fit-isolation tests; importable by name, so they reach the fit process pickled."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

# scikit-learn's estimator convention: fitted attributes (trailing _) are set in fit, not __init__
# pylint: disable=attribute-defined-outside-init,unused-argument


class PidProbe(ClassifierMixin, BaseEstimator):
    """Remembers which process fitted it and that process's parent."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.pid_, self.ppid_ = os.getpid(), os.getppid()
        self.oom_score_adj_ = int(Path("/proc/self/oom_score_adj").read_text(encoding="ascii"))
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


class Sleeper(PidProbe):
    """Writes its process id to ``pid_file`` and then fits for ``seconds``."""

    def __init__(self, pid_file: str = "", seconds: float = 600.0):
        self.pid_file = pid_file
        self.seconds = seconds

    def fit(self, X, y):
        Path(self.pid_file).write_text(str(os.getpid()), encoding="ascii")
        time.sleep(self.seconds)
        return super().fit(X, y)


class SelfKiller(PidProbe):
    """Its fit process dies the way the out-of-memory killer ends one: SIGKILL."""

    def fit(self, X, y):
        os.kill(os.getpid(), signal.SIGKILL)
        return self


class Refuser(PidProbe):
    """Refuses the data, as scikit-learn estimators do: ValueError."""

    def fit(self, X, y):
        raise ValueError("Input contains a value this estimator cannot take")
