"""MLServer (Seldon's Open Inference Protocol server) serving one scikit-learn estimator: the reference the
tests compare our inference doors with, and a baseline of the benchmarks.

MLServer's dependencies (FastAPI, uvloop, protobuf 6) do not fit this project's venv, so it runs from a
venv of its own: ``make mlserver`` makes ``.tools/mlserver`` (MLServer 1.7.1 + mlserver-sklearn, with
uvloop 0.21: with 0.23 its default ``parallel_workers: 1`` never becomes ready), or point
``MLSERVER_BIN`` at another ``mlserver`` executable. Absent, ``MissingBinaries`` is raised and the
caller decides (the tests skip with the reason).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlservice.devstack.processes import ROOT, ManagedProcess, MissingBinaries, base_env, free_port, http_ok, wait_until

MLSERVER_ENV = "MLSERVER_BIN"
DEFAULT_MLSERVER = ROOT / ".tools" / "mlserver" / "bin" / "mlserver"


def mlserver_executable() -> str:
    """The ``mlserver`` program to run (``MLSERVER_BIN``, else ``.tools/mlserver``)."""
    candidate = os.environ.get(MLSERVER_ENV) or str(DEFAULT_MLSERVER)
    if not os.access(candidate, os.X_OK):
        raise MissingBinaries(
            f"no MLServer at {candidate}: run 'make mlserver' (a venv of its own) or set {MLSERVER_ENV} to one"
        )
    return candidate


class MLServer(ManagedProcess):
    """``mlserver start`` over one model folder (``model.joblib`` + ``model-settings.json``) on free ports."""

    def __init__(self, estimator: Any, name: str, folder: Path, log_dir: Path, **settings: Any):
        """Args:
        estimator: a fitted scikit-learn estimator (saved with joblib, what ``mlserver_sklearn`` loads).
        name: the model's name in the protocol (``/v2/models/<name>``).
        folder: an empty folder for the model repository and settings.
        settings: MLServer settings beyond host and ports (e.g. ``parallel_workers=0``).
        """
        import joblib  # pylint: disable=import-outside-toplevel  # only where MLServer is wanted

        executable = mlserver_executable()
        self.model_name = name
        self.http_port, self.grpc_port = free_port(), free_port()
        model_dir = folder / "models" / name
        model_dir.mkdir(parents=True)
        joblib.dump(estimator, model_dir / "model.joblib")
        (model_dir / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": str(model_dir / "model.joblib"), "version": "1"},
                }
            )
        )
        config = {
            "host": "127.0.0.1",
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_port": free_port(),
        }
        (folder / "settings.json").write_text(json.dumps({**config, **settings}))
        super().__init__(f"mlserver-{name}", [executable, "start", str(folder)], base_env(), log_dir)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port> of its REST door."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        """127.0.0.1:<port> of its gRPC door (``inference.GRPCInferenceService``)."""
        return f"127.0.0.1:{self.grpc_port}"

    def start_and_wait(self, timeout: float = 120) -> MLServer:
        """Start it and wait until its model is ready (``/v2/models/<name>/ready`` answers 200)."""
        self.start()
        try:
            wait_until(http_ok(f"{self.url}/v2/models/{self.model_name}/ready"), timeout, "MLServer", self.process)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"MLServer did not become ready:\n{self.log_tail()}") from exc
        return self


def mlserver_python() -> str:
    """The Python of MLServer's venv (beside its ``mlserver`` program), to run scripts that import MLServer."""
    return str(Path(mlserver_executable()).parent / "python")
