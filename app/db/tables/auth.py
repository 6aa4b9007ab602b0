"""Users and their API tokens (only a SHA-256 of each token is kept)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.db.base import Base, utcnow
from app.names import MAX_FOLDED_NAME_BYTES, fold_name


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The username as people read it (app.names.fold_name), which no two users share.
    folded_username: Mapped[str] = mapped_column(String(MAX_FOLDED_NAME_BYTES), unique=True, index=True)

    @validates("username")
    def _fold_username(self, _: str, username: str) -> str:
        self.folded_username = fold_name(username)
        return username


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a person can tell tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # None: the user's full role; "predict": only predicting on the folded deployment names listed.
    scope: Mapped[str | None] = mapped_column(String(16))
    deployments: Mapped[list[Any] | None] = mapped_column(JSON)


class LoginFailure(Base):
    """One failed password login, kept for the sliding window of the login rate limit."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_created_at", "username", "created_at"),
        Index("ix_login_failure_client_address_created_at", "client_address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
