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
    model_cache_bytes: int = Field(
        default=1024**3,
        ge=1,
        description="Bound of the model cache in bytes (artifact sizes as the estimate); LRU eviction beyond it.",
    )
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
    rest_workers: int = Field(default=2, ge=1, description="granian worker processes (REST).")
    rest_threads: int = Field(default=4, ge=1, description="Blocking threads per granian worker (REST).")
    grpc_workers: int = Field(
        default=2,
        ge=1,
        description="gRPC threads that answer calls; a call that may block (training, uploads, registry writes, "
        "streams) hands its thread's place to a new one while it runs (mlservice.grpc.pool).",
    )
    grpc_max_threads: int = Field(
        default=64, ge=1, description="gRPC threads in all, those held by calls that block included."
    )
    grpc_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the gRPC server's Prometheus metrics (http://<host>:<port>/metrics, on the same "
        "interface as gRPC); 0: none. REST serves its metrics at /metrics on its own port.",
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of a worker process's (role `worker`) Prometheus metrics: the trainings it runs; 0: none.",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest accepted REST body / gRPC message, bytes."
    )
    max_rows: int = Field(default=1_000_000, ge=1, description="Most rows accepted in one train/predict call.")
    max_features: int = Field(default=10_000, ge=1, description="Most features (columns) accepted.")
    max_predict_values: int = Field(
        default=1_000_000,
        ge=1,
        description="Most values one prediction may answer: rows x classes (probabilities), rows for regressors.",
    )
    predict_time_limit_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest one prediction request may compute; rows are predicted in chunks and the request "
        "stops (422 / RESOURCE_EXHAUSTED) once it is past, or certain to be past, this limit.",
    )

    # --- authentication ----------------------------------------------------------------------
    secret_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SECRET_KEY", "MLSERVICE_SECRET_KEY"),
        description="Signs session cookies. Required when GitHub OAuth is configured; in the embedded "
        "default one is generated once and kept in the state directory.",
    )
    github_client_id: str | None = Field(default=None, validation_alias=AliasChoices("GITHUB_CLIENT_ID"))
    github_client_secret: str | None = Field(default=None, validation_alias=AliasChoices("GITHUB_CLIENT_SECRET"))
    github_authorize_url: str = Field(default="https://github.com/login/oauth/authorize")
    github_token_url: str = Field(default="https://github.com/login/oauth/access_token")
    github_api_base: str = Field(default="https://api.github.com/", description="GitHub (Enterprise) API root.")
    github_allowed_users: str = Field(
        default="",
        validation_alias=AliasChoices("GITHUB_ALLOWED_USERS", "MLSERVICE_GITHUB_ALLOWED_USERS"),
        description="Comma-separated GitHub logins allowed to sign in (empty: any, unless orgs are set).",
    )
    github_allowed_orgs: str = Field(
        default="",
        validation_alias=AliasChoices("GITHUB_ALLOWED_ORGS", "MLSERVICE_GITHUB_ALLOWED_ORGS"),
        description="Comma-separated GitHub organisations whose members may sign in.",
    )
    api_tokens: str = Field(
        default="",
        description="Static service tokens, comma-separated; 'name=token' names the caller (owner of its "
        "models), a bare token is called 'service'. For the dashboard and automation.",
    )
    grpc_auth_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GRPC_AUTH_TOKEN", "MLSERVICE_GRPC_AUTH_TOKEN"),
        description="When set, every gRPC call but the health service needs 'authorization: Bearer <token>'.",
    )
    dashboard_url: str = Field(
        default="http://localhost:8501",
        validation_alias=AliasChoices("DASHBOARD_URL", "MLSERVICE_DASHBOARD_URL"),
        description="Where the dashboard lives; sign-in may redirect back only to its host or redirect_hosts.",
    )
    redirect_hosts: str = Field(default="", description="Extra hosts (host[:port], comma-separated) for next=.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the service's own database (API tokens). Default: SQLite in the state "
        "directory; PostgreSQL in deployment (postgresql+psycopg2://...).",
    )
    trust_proxy: bool = Field(
        default=False, description="Behind a reverse proxy: honour X-Forwarded-* (scheme, host) via ProxyFix."
    )
    token_max_days: int = Field(default=365, ge=1, description="Longest lifetime of a personal API token.")
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts a personal API token it verified before asking the database "
        "again: a revoked or expired token is refused within this time (0: ask on every request).",
    )
    default_permission: str = Field(
        default="READ",
        pattern=r"(?i)^(READ|EDIT|MANAGE|NO_PERMISSIONS)$",
        description="What a principal may do with models and datasets it neither owns nor was granted: READ "
        "(list, get, predict), EDIT (+ retrain), MANAGE (+ delete, grant) or NO_PERMISSIONS (a private workspace).",
    )
    admins: str = Field(
        default="",
        description="Principal ids with MANAGE on everything, comma-separated: github:<numeric id>, service:<name>.",
    )
    grpc_allow_anonymous: bool = Field(
        default=False,
        description="Let gRPC calls without credentials in, as the principal 'anonymous', on a non-loopback bind. "
        "Off by default: only the embedded default on loopback serves anonymous calls (as 'local').",
    )
    token_default_days: int = Field(
        default=30, ge=1, description="Lifetime of a personal API token created without expires_in_days."
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        description="Lifetime of a browser session and of the dashboard's sign-in token (server-side, revocable).",
    )
    github_allow_any_user: bool = Field(
        default=False,
        validation_alias=AliasChoices("GITHUB_ALLOW_ANY_USER", "MLSERVICE_GITHUB_ALLOW_ANY_USER"),
        description="GitHub mode with both allow-lists empty refuses to start unless this is true (any "
        "GitHub user may then sign in).",
    )
    allowlist_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a process trusts its answer to 'is this GitHub user still allowed?' (per principal).",
    )
    allowlist_recheck_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often a user admitted through GITHUB_ALLOWED_ORGS has their membership re-checked "
        "with GitHub (with their stored OAuth token).",
    )
    allowlist_grace_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="While GitHub cannot be reached, the last membership answer is kept this long after the "
        "last successful check; past it the user is refused until GitHub answers again.",
    )
    preferred_url_scheme: str = Field(
        default="http",
        validation_alias=AliasChoices("PREFERRED_URL_SCHEME", "MLSERVICE_PREFERRED_URL_SCHEME"),
        description="'https' when served behind HTTPS: session cookies are then marked Secure.",
    )

    @property
    def github_enabled(self) -> bool:
        """GitHub OAuth sign-in is configured."""
        return bool(self.github_client_id and self.github_client_secret)

    # --- datasets ----------------------------------------------------------------------------
    dataset_store_url: str | None = Field(
        default=None,
        description="Where uploaded datasets live, in DVC's layout: s3://<bucket> (the DVC remote's bucket, so "
        "dvc pull fetches uploads) or a local folder. Default: <state_dir>/datasets.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLSERVICE_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "DVC_S3_ENDPOINT_URL"),
        description="S3 API endpoint of MinIO for the dataset store (credentials: AWS_ACCESS_KEY_ID/SECRET).",
    )
    s3_access_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "MLSERVICE_S3_ACCESS_KEY_ID")
    )
    s3_secret_access_key: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "MLSERVICE_S3_SECRET_ACCESS_KEY")
    )
    repo_root: Path = Field(
        default=Path(__file__).resolve().parent.parent,
        description="The project checkout whose data/*.dvc datasets are listed and trainable.",
    )

    # --- asynchronous training jobs ----------------------------------------------------------
    job_workers: int = Field(
        default=1,
        ge=0,
        description="Training jobs one process runs at the same time; 0: the process only queues them and "
        "worker processes (role `worker`) run them.",
    )
    job_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often a worker process (role `worker`) looks for queued jobs."
    )
    max_jobs_per_principal: int = Field(
        default=5, ge=1, description="Queued and running training jobs one caller may have at once (429 beyond)."
    )
    job_heartbeat_seconds: float = Field(default=5.0, gt=0, description="How often a running job says it lives.")
    training_time_limit_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest a single fit (and its evaluation) may run, for synchronous and asynchronous "
        "training alike; past it the fit's process is killed and nothing is registered.",
    )
    job_stale_seconds: float = Field(
        default=30.0, gt=0, description="A running job silent this long is marked failed (its process died)."
    )

    # --- embedded default --------------------------------------------------------------------
    state_dir: Path = Field(
        default=Path(".state"),
        description="Git-ignored folder for the embedded mode: MLflow's SQLite database and artifacts.",
    )

    @property
    def dataset_storage_options(self) -> dict[str, str]:
        """fsspec/s3fs options of the dataset store (empty for a local folder or boto's own lookup)."""
        options = {"endpoint_url": self.s3_endpoint_url, "key": self.s3_access_key_id,
                   "secret": self.s3_secret_access_key}  # fmt: skip
        return {k: v for k, v in options.items() if v}

    @property
    def service_database_url(self) -> str:
        """The service's own database (API tokens, training jobs); SQLite in the state directory by default."""
        return self.database_url or f"sqlite:///{(self.state_dir / 'mlservice.db').resolve()}"

    @property
    def local_token_path(self) -> Path:
        """The embedded default's generated API token (mode 600)."""
        return self.state_dir / "local_api_token"

    @property
    def max_grpc_message_bytes(self) -> int:
        """gRPC uses the same size limit as the REST body."""
        return self.max_body_bytes
