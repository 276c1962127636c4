"""Large-data training in a child process, so that its peak memory is its own.

``python -m bench.scale bare ROWS FEATURES`` fits a bare scikit-learn ``LogisticRegression`` on a
generated array; ``python -m bench.scale service ROWS FEATURES TRACKING_URI`` hands the same array to
the core (``ModelService.train_model``, in process: a 1M x 20 JSON body is far over the REST body
limit). Each prints one JSON line: wall time, peak RSS (VmHWM), the RSS before the data existed and
the raw data size; the service mode also the peak PSS of its whole process tree, since the core fits
in a child process (``fitting.py``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time

import numpy as np
import psutil

SEED = 7


def make_data(rows: int, features: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic binary classification problem: float64 features, int64 labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    weights = rng.standard_normal(features)
    y = (X @ weights + 0.5 * rng.standard_normal(rows) > 0).astype(np.int64)
    return X, y


def memory_kib(field_name: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


class TreeMemory:
    """Samples the proportional set size (PSS) of this process and all its descendants (the fit
    runs in a forkserver child), so shared pages count once; keeps the peak."""

    def __init__(self, every: float = 0.05):
        self.peak_mib = 0.0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak_mib = max(self.peak_mib, total / 2**20)
            self._stop.wait(self._every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def run_bare(rows: int, features: int) -> dict:
    """Bare scikit-learn: fit on the whole array."""
    from sklearn.linear_model import LogisticRegression  # pylint: disable=import-outside-toplevel

    rss_before = memory_kib("VmRSS")
    X, y = make_data(rows, features)
    started = time.perf_counter()
    LogisticRegression().fit(X, y)
    return {
        "wall_seconds": time.perf_counter() - started,
        "rss_before_data_mib": rss_before / 1024,
        "data_mib": (X.nbytes + y.nbytes) / 2**20,
    }


def run_service(rows: int, features: int, tracking_uri: str) -> dict:
    """The core's training path: validation, split, fit, evaluation, MLflow run and registration."""
    from bench.stack import EXPERIMENT  # pylint: disable=import-outside-toplevel
    from mlservice.core.inputs import TrainingRequest  # pylint: disable=import-outside-toplevel
    from mlservice.settings import Settings  # pylint: disable=import-outside-toplevel
    from models import ModelService  # pylint: disable=import-outside-toplevel

    state_dir = tempfile.mkdtemp(prefix="bench-state-")  # the core's local files stay out of the repository
    service = ModelService(Settings(mlflow_tracking_uri=tracking_uri, experiment_name=EXPERIMENT, state_dir=state_dir))
    rss_before = memory_kib("VmRSS")
    X, y = make_data(rows, features)
    with TreeMemory() as tree:
        started = time.perf_counter()
        result = service.train(TrainingRequest(model_type="logistic_regression", X=X, y=y)).result
        wall = time.perf_counter() - started
    return {
        "wall_seconds": wall,
        "peak_tree_pss_mib": tree.peak_mib,
        "rss_before_data_mib": rss_before / 1024,
        "data_mib": (X.nbytes + y.nbytes) / 2**20,
        "timings": result["timings"],
        "model_id": result["model_id"],
    }


def main(argv: list[str]) -> None:
    """Run one mode and print its JSON result."""
    mode, rows, features = argv[0], int(argv[1]), int(argv[2])
    result = run_bare(rows, features) if mode == "bare" else run_service(rows, features, argv[3])
    result["peak_rss_mib"] = memory_kib("VmHWM") / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
