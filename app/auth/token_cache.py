"""A short-lived cache of token checks, so most requests skip the token query.

Revoking a token (or any later change to who a token acts as) bumps a process-wide generation
after its commit: every cache in the process drops what it had at once. Another server process
learns of it when its entries expire, within `SHIPYARD_TOKEN_CACHE_SECONDS`.
"""

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.context import Principal
from app.db.base import utcnow
from app.db.hooks import after_commit

_generation = 0


def forget_tokens_after_commit(session: Session) -> None:
    """Call in a transaction that revokes a token or changes a user: once it commits, no cache in
    this process answers from what it knew before."""
    after_commit(session, _bump_generation)


def _bump_generation() -> None:
    global _generation
    _generation += 1


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic()
    generation: int


class TokenCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def generation() -> int:
        """Read before looking a token up, and hand to put(): a revocation committed while the
        lookup ran then keeps its possibly stale answer out of the cache."""
        return _generation

    def get(self, token_hash: str) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None or entry.generation != _generation or entry.until <= time.monotonic():
            return None
        return entry.principal

    def put(self, token_hash: str, principal: Principal, expires_at: datetime | None, generation: int) -> None:
        if self.ttl_seconds <= 0 or generation != _generation:
            return
        lifetime = self.ttl_seconds
        if expires_at is not None:
            lifetime = min(lifetime, (expires_at - utcnow()).total_seconds())
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[token_hash] = _Entry(principal, time.monotonic() + lifetime, generation)
