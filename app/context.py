"""Per-request context (request id, acting principal) carried in context variables."""

from contextvars import ContextVar
from dataclasses import dataclass

from app.auth.security import Role

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user through a token, or the system itself (bootstrap, workers)."""

    user_id: int | None
    username: str
    role: Role
    # A predict-only token: the folded names of the deployments it may predict on, and nothing
    # else; None for a token with its user's full role.
    deployments: frozenset[str] | None = None

    @property
    def predict_only(self) -> bool:
        return self.deployments is not None

    @classmethod
    def system(cls) -> "Principal":
        return cls(user_id=None, username="system", role=Role.admin)
