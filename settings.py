"""Service configuration, read from the environment once per process.

Every entry point (``app.create_app``, ``grpc_server.serve``, ``dashboard``) builds one ``Settings``
and passes it down; nothing reads ``os.environ`` elsewhere. Service-specific variables carry the
``MLSERVICE_`` prefix; the standard ones of the tools we sit on (``MLFLOW_TRACKING_URI``,
``AWS_*``, ``MLFLOW_S3_ENDPOINT_URL``) keep their usual names so that MLflow, boto3 and DVC read the
same values. ``.env.example`` documents them all.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of the service; defaults are the embedded single-machine mode (``make run``)."""

    model_config = SettingsConfigDict(env_prefix="MLSERVICE_", extra="ignore", populate_by_name=True)

    # --- where models live -------------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        default="http://127.0.0.1:5002",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MLSERVICE_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server that also holds the Model Registry.",
    )
    experiment_name: str = Field(default="mlservice", description="MLflow experiment for all training runs.")
    mlflow_timeout_seconds: float = Field(
        default=10.0, gt=0, description="HTTP timeout of each call to the MLflow server."
    )
    mlflow_max_retries: int = Field(
        default=2, ge=0, description="Retries of a failed call to the MLflow server before answering 503."
    )

    # --- serving ------------------------------------------------------------------------------
    model_cache_size: int = Field(default=32, ge=1, description="Loaded model versions kept in memory (LRU).")
    registry_ttl_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a process trusts its view of a model's current version before asking the "
        "registry again (bounds how stale predictions can be after another process retrains or deletes).",
    )

    # --- front ends ---------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Interface the REST and gRPC servers bind to.")
    rest_port: int = Field(default=5000, ge=1, le=65535)
    grpc_port: int = Field(default=50051, ge=1, le=65535)
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    mlflow_port: int = Field(default=5002, ge=1, le=65535, description="Port of the embedded MLflow server.")
    rest_workers: int = Field(default=2, ge=1, description="gunicorn worker processes.")
    rest_threads: int = Field(default=4, ge=1, description="Threads per gunicorn worker.")
    grpc_workers: int = Field(default=8, ge=1, description="Threads of the gRPC server.")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest accepted REST body / gRPC message, bytes."
    )
    max_rows: int = Field(default=1_000_000, ge=1, description="Most rows accepted in one train/predict call.")
    max_features: int = Field(default=10_000, ge=1, description="Most features (columns) accepted.")

    # --- embedded default --------------------------------------------------------------------
    state_dir: Path = Field(
        default=Path(".state"),
        description="Git-ignored folder for the embedded mode: MLflow's SQLite database and artifacts.",
    )

    @property
    def max_grpc_message_bytes(self) -> int:
        """gRPC uses the same size limit as the REST body."""
        return self.max_body_bytes
