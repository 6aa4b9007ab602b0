"""Settings from SHIPYARD_* environment variables, resolved once per process."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    admin_password: str | None = Field(default=None, description="Password of the first admin; default: random.")
    max_upload_bytes: int = Field(default=5 * 1024**3, description="Largest artifact or dataset upload.")
    max_json_body_bytes: int = Field(default=8 * 1024**2, description="Largest JSON request body.")
    token_cache_seconds: float = Field(
        default=5,
        ge=0,
        description="How long a token check is reused; a revocation reaches other server processes within it.",
    )
    metrics_public: bool = Field(default=True, description="Serve /metrics without a token.")
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
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(default=True, description="One JSON object per log line; false for plain text.")
    db_pool_size: int = Field(default=10, description="Database connections kept open per process.")
    db_max_overflow: int = Field(default=20, description="Extra connections allowed under load.")
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description="SQLite's synchronous pragma (journal WAL): NORMAL survives a crash of the process, "
        "FULL also a power loss (one fsync per commit).",
    )

    @field_validator("database_url", "artifact_uri", "broker_url", "s3_endpoint_url", "admin_password")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

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
