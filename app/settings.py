"""Settings from SHIPYARD_* environment variables, resolved once per process."""

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.outbound import allowed_host_entry


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore")

    data_dir: Path = Field(
        default=Path("shipyard-data"),
        description="Where the embedded mode keeps its SQLite file, artifacts and credentials.",
    )
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in the data dir.")
    artifact_uri: str | None = Field(
        default=None, description="Local folder or s3://bucket/prefix; default: <data dir>/artifacts."
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO); default: AWS.")
    s3_region: str = Field(default="us-east-1", description="Region for the S3 client.")
    broker_url: str | None = Field(default=None, description="Celery broker (Redis); unset: jobs run in-process.")
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the server listens on.")
    admin_password: SecretStr | None = Field(
        default=None, description="Password of the first admin (12+ characters, not a common one); default: random."
    )
    max_upload_bytes: int = Field(default=5 * 1024**3, description="Largest artifact or dataset upload.")
    max_json_body_bytes: int = Field(default=8 * 1024**2, description="Largest JSON request body.")
    token_cache_seconds: float = Field(
        default=5,
        ge=0,
        description="How long a token check is reused; a revocation reaches other server processes within it.",
    )
    metrics_public: bool = Field(default=True, description="Serve /metrics without a token.")
    metrics_cache_seconds: float = Field(
        default=5,
        ge=0,
        description="How long /metrics reuses what it read from the database (job counts), so a burst of "
        "scrapes costs one query.",
    )
    pushgateway_url: str | None = Field(
        default=None,
        description="Prometheus Pushgateway the workers push their job metrics to after each job; unset: no push.",
    )
    protected_aliases: list[str] = Field(
        default_factory=lambda: ["production"], description="Aliases only an admin may move (the release approval)."
    )
    allow_pickle: bool = Field(default=False, description="Let admins register pickle/joblib models (unsafe).")
    job_threads: int = Field(default=2, ge=1, le=64, description="Threads running jobs in the embedded mode.")
    job_lease_seconds: float = Field(default=30, gt=0, description="A worker's lease on a job; renewed by heartbeat.")
    job_requeue_after_seconds: float = Field(
        default=15, ge=0, description="A job still queued this long is sent to the workers again."
    )
    broker_visibility_timeout_seconds: int = Field(
        default=3600, ge=1, description="Redis redelivers a task not acknowledged within this time."
    )
    job_reconcile_seconds: float = Field(default=5, gt=0, description="How often the reconciler runs.")
    scheduler_interval_seconds: float = Field(
        default=5,
        gt=0,
        description="How often due schedules are fired: by the server itself in the embedded mode, "
        "by `shipyard beat` and a worker with a broker.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(default=True, description="One JSON object per log line; false for plain text.")
    db_pool_size: int = Field(default=10, description="Database connections kept open per process.")
    db_max_overflow: int = Field(default=20, description="Extra connections allowed under load.")
    max_compression_ratio: float = Field(
        default=100, gt=1, description="An archive entry past the size below may inflate at most this many times."
    )
    compression_ratio_min_bytes: int = Field(
        default=4 * 1024**2, ge=0, description="Inflated size above which the compression ratio bound applies."
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="The sliding window in which failed logins are counted."
    )
    login_max_failures_per_user: int = Field(
        default=5, ge=1, description="Failed logins for one username within the window before it is locked out."
    )
    login_max_failures_per_address: int = Field(
        default=50, ge=1, description="Failed logins from one client address within the window before it is locked out."
    )
    database_retry_max_seconds: float = Field(
        default=10, gt=0, description="Longest wait between attempts to reach the database at start."
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host header names served (any port); `*` serves any. Add the names clients use.",
    )
    client_timeout_seconds: float = Field(
        default=30,
        gt=0,
        description="A client must send its request headers, and each part of its body, within this time (else 408).",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description="SQLite's synchronous pragma (journal WAL): NORMAL survives a crash of the process, "
        "FULL also a power loss (one fsync per commit).",
    )
    model_cache_size: int = Field(
        default=16, ge=1, description="Loaded model versions each server process keeps in memory (LRU)."
    )
    serving_max_rows: int = Field(
        default=10_000, ge=1, description="Most rows one predict request may carry (else 413)."
    )
    serving_poll_seconds: float = Field(
        default=1, gt=0, description="How often each server process checks for route changes made elsewhere."
    )
    serving_stats_flush_seconds: float = Field(
        default=1, gt=0, description="How often each server process writes its traffic counts for rollout analysis."
    )
    serving_replica_live_seconds: float = Field(
        default=5,
        gt=0,
        description="A server process whose heartbeat is older than this is not counted as a live replica.",
    )
    rollout_replica_timeout_seconds: float = Field(
        default=30,
        gt=0,
        description="A rollout step whose weights some live replica has not applied within this time fails.",
    )
    shadow_queue_size: int = Field(
        default=256, ge=1, description="Shadow copies waiting for the shadow model; more are dropped and counted."
    )

    prediction_log_sample_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of predicted rows written to the prediction log; a deployment's own rate overrides it.",
    )
    prediction_log_buffer_rows: int = Field(
        default=200_000,
        ge=1,
        description="Logged rows each server process holds in memory before the flusher writes them; "
        "past it new rows are dropped (and counted), never waited for.",
    )
    prediction_log_flush_seconds: float = Field(
        default=5, gt=0, description="How often the prediction log's buffer is written out as Parquet segments."
    )

    outbound_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or IP addresses, each exact (no wildcards, no networks), that webhooks may "
        "reach although they are loopback, private or link-local (e.g. 127.0.0.1 for a local receiver). "
        "Cloud metadata addresses stay refused.",
    )
    webhook_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="The longest one webhook attempt may take, redirects included."
    )
    webhook_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts of a webhook delivery before it is recorded as failed."
    )
    webhook_backoff_seconds: float = Field(
        default=1,
        ge=0,
        le=60,
        description="The pause before the second attempt; it doubles before each next one (with jitter).",
    )
    public_url: str | None = Field(
        default=None,
        description="The server's address as its users reach it (https://shipyard.example.com), for the links "
        "a webhook carries; unset: the links are paths (/api/v1/drift-reports/7).",
    )

    @field_validator("database_url", "artifact_uri", "broker_url", "s3_endpoint_url", "pushgateway_url", "public_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("outbound_allow_hosts")
    @classmethod
    def _exact_hosts(cls, entries: list[str]) -> list[str]:
        return [allowed_host_entry(entry) for entry in entries]

    @field_validator("pushgateway_url")
    @classmethod
    def _pushgateway_url_is_plain_http(cls, value: str | None) -> str | None:
        # Credentials in it would show in the errors a failed push logs.
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("give the Pushgateway as http://host:port (or https://)")
        if url.username or url.password:
            raise ValueError("the Pushgateway URL may not carry credentials")
        return value

    @field_validator("admin_password", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return value or None

    @property
    def embedded(self) -> bool:
        """The embedded default: SQLite, artifacts in a local folder, jobs in-process. Anything
        else (a Postgres URL, S3, a broker) is a deployment, held to stricter start checks."""
        return (
            self.resolved_database_url.startswith("sqlite")
            and not self.resolved_artifact_uri.startswith("s3://")
            and not self.broker_url
        )

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'shipyard.db').resolve()}"
        # One driver for Postgres everywhere: psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def resolved_artifact_uri(self) -> str:
        return self.artifact_uri or str((self.data_dir / "artifacts").resolve())

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials"


@lru_cache
def get_settings() -> Settings:
    return Settings()
