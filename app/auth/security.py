"""Password hashing (argon2) and API token minting/hashing (random secret, SHA-256 at rest)."""

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "shp_"
_hasher = PasswordHasher()


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


_ROLE_RANK = {Role.viewer: 0, Role.editor: 1, Role.admin: 2}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# Made once at import, so the first unknown user at login costs no extra hashing either.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(18))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (an unknown user, a user without a password) it
    is checked against a dummy hash of the same cost, so the answer takes as long as a wrong
    password for a real user and does not tell which usernames exist."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; passwords get argon2.
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(18)
