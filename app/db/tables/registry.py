"""The model registry: registered models, their numbered versions, and aliases naming versions."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, FoldedName, utcnow


class RegisteredModel(FoldedName, Base):
    __tablename__ = "registered_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    model_card: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    # The highest version number handed out; bumped in the same transaction that adds a
    # version, so numbers are 1, 2, 3… with no gap or duplicate under concurrent registrations.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_model.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    status_message: Mapped[str] = mapped_column(Text, default="")
    source_run_id: Mapped[str | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"), index=True)
    source_path: Mapped[str | None] = mapped_column(String(1024))
    storage_prefix: Mapped[str] = mapped_column(String(1024))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    flavor: Mapped[str | None] = mapped_column(String(32))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, float | str]] = mapped_column(JSON, default=dict)  # NaN, ±Infinity as strings
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelAlias(Base):
    __tablename__ = "model_alias"

    model_id: Mapped[int] = mapped_column(ForeignKey("registered_model.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="RESTRICT"), index=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunDataset(Base):
    """Lineage: the dataset versions a run read. Datasets get their own tables with the jobs
    work; until then a link names the dataset, its version and content digest."""

    __tablename__ = "run_dataset"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    dataset_version: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(32), default="training")
