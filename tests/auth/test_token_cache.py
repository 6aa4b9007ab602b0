"""Token checks are reused for SHIPYARD_TOKEN_CACHE_SECONDS: a revocation through the API is
seen at once, one made elsewhere (another server process) within that time, and a cached
check never outlives the token's own expiry."""

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.base import utcnow
from app.db.tables import ApiToken
from app.main import create_app
from app.settings import Settings

TTL = 5.0  # long enough that a busy machine still answers from the cache right after caching
LIFETIME = 2.0  # a token's remaining life in the expiry test


@pytest.fixture
def short_cache_client(settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    """A second server on the same database, caching token checks for TTL seconds."""
    other = create_app(settings.model_copy(update={"token_cache_seconds": TTL}))
    with TestClient(other) as test_client:
        yield other, test_client


def _new_token(client: TestClient, admin: dict[str, str], unique: str) -> tuple[int, dict[str, str]]:
    """A new viewer's token: its id, and the headers that send it."""
    user = client.post("/api/v1/users", json={"username": f"c-{unique}", "role": "viewer"}, headers=admin)
    assert user.status_code == 201
    token = client.post("/api/v1/auth/tokens", json={"username": f"c-{unique}"}, headers=admin)
    assert token.status_code == 201
    return int(token.json()["id"]), {"Authorization": f"Bearer {token.json()['token']}"}


def _whoami(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/v1/auth/whoami", headers=headers).status_code


def test_a_revocation_by_another_process_is_seen_within_the_cache_time(
    client: TestClient, admin: dict[str, str], short_cache_client: tuple[FastAPI, TestClient], unique: str
) -> None:
    other_app, other = short_cache_client
    token_id, headers = _new_token(client, admin, unique)
    assert _whoami(other, headers) == 200

    # Revoked in the database as another server process would: this process is not told.
    with other_app.state.sessions.begin() as session:
        session.get_one(ApiToken, token_id).revoked_at = utcnow()
    revoked_at = time.monotonic()
    assert _whoami(other, headers) == 200, "the check was not cached"
    while (answer := other.get("/api/v1/auth/whoami", headers=headers)).status_code == 200:
        assert time.monotonic() < revoked_at + TTL + 2, "the revoked token still works after the cache time"
        time.sleep(0.05)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the token has been revoked"


def test_a_revocation_through_the_api_is_seen_at_once_by_every_server_of_the_process(
    client: TestClient, admin: dict[str, str], short_cache_client: tuple[FastAPI, TestClient], unique: str
) -> None:
    _, other = short_cache_client
    token_id, headers = _new_token(client, admin, unique)
    assert _whoami(other, headers) == 200
    assert _whoami(client, headers) == 200
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=admin).status_code == 204
    assert _whoami(client, headers) == 401
    assert _whoami(other, headers) == 401


def test_a_cached_check_ends_when_the_token_expires(
    client: TestClient, admin: dict[str, str], settings: Settings, unique: str
) -> None:
    token_id, headers = _new_token(client, admin, unique)
    # A long cache time: only the token's own expiry can end the cached check.
    with TestClient(create_app(settings.model_copy(update={"token_cache_seconds": 3600}))) as other:
        with other.app.state.sessions.begin() as session:
            session.get_one(ApiToken, token_id).expires_at = utcnow() + timedelta(seconds=LIFETIME)
        assert _whoami(other, headers) == 200
        time.sleep(LIFETIME + 0.1)
        expired = other.get("/api/v1/auth/whoami", headers=headers)
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]


def test_zero_checks_every_request(client: TestClient, admin: dict[str, str], settings: Settings, unique: str) -> None:
    token_id, headers = _new_token(client, admin, unique)
    with TestClient(create_app(settings.model_copy(update={"token_cache_seconds": 0}))) as other:
        assert _whoami(other, headers) == 200
        with other.app.state.sessions.begin() as session:
            session.get_one(ApiToken, token_id).revoked_at = utcnow()
        assert _whoami(other, headers) == 401
