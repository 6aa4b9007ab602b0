"""Idempotency-Key, shared by job submission and model version registration: a key is one
user's, remembered with the SHA-256 of the request it first came with and what that created."""

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from app.context import Principal
from app.db.tables import IdempotencyRecord
from app.errors import IdempotencyKeyReused
from app.jobs import repository

# The header's shape: printable ASCII without spaces, as the routes declare it.
KEY_PATTERN = r"^[\x21-\x7e]+$"
KEY_MAX_LENGTH = 128


def fingerprint(operation: str, body: Any) -> str:
    """SHA-256 of the operation and its canonical (sorted, compact) JSON body."""
    canonical = json.dumps({"operation": operation, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def reserve(
    session: Session, actor: Principal, key: str, request_sha256: str, resource_type: str
) -> tuple[IdempotencyRecord | None, str | None]:
    """Take the key for this request, or find what an earlier one with it made.

    (record, None): the key is this request's now; create the resource and `bind` it to the
    record in the same transaction. (None, resource_id): the same user sent the same request
    with this key before. IdempotencyKeyReused when they sent a different one."""
    record = repository.get_idempotency_record(session, actor.username, key)
    if record is None:
        record = repository.add_idempotency_record(
            session,
            IdempotencyRecord(
                username=actor.username, key=key, request_sha256=request_sha256, resource_type=resource_type
            ),
        )
        if record is not None:
            return record, None
        # A concurrent request with this key committed first (Postgres made this insert wait
        # for it): its record is visible now.
        record = repository.get_idempotency_record(session, actor.username, key)
        assert record is not None, "the winner of an idempotency key insert left no record"
    if record.request_sha256 != request_sha256 or record.resource_type != resource_type or not record.resource_id:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used with a different request; "
            "send a new key for a new request, or repeat the first one unchanged",
            field="Idempotency-Key",
        )
    return None, record.resource_id


def bind(session: Session, record: IdempotencyRecord, resource_id: str) -> None:
    record.resource_id = resource_id
    session.flush()
