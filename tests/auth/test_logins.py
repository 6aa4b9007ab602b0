"""Password logins: an unknown user costs the same argon2 verification as a wrong password, and
failed logins are limited per username and per client address (429 with Retry-After), each
failure and each lockout audited."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

LOGIN = "/api/v1/auth/tokens"


def _address() -> str:
    """A client address of this test's own, so the per-address count starts at zero."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _from(app: FastAPI, address: str) -> TestClient:
    # No `with`: the shared app's lifespan is already running.
    return TestClient(app, client=(address, 50000))


def _make_user(client: TestClient, admin: dict[str, str], username: str) -> str:
    password = f"right-horse-{uuid.uuid4().hex[:8]}"
    response = client.post("/api/v1/users", json={"username": username, "password": password}, headers=admin)
    assert response.status_code == 201, response.text
    return password


def _audit(client: TestClient, admin: dict[str, str], username: str) -> list[dict[str, Any]]:
    params = {"resource_type": "user", "resource_id": username, "max_results": 100}
    events: list[dict[str, Any]] = client.get("/api/v1/audit", params=params, headers=admin).json()["events"]
    return events


class _VerifySpy:
    """Counts argon2 verifications (the library's, not ours) and keeps the parameters of each hash."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parameters: list[argon2.Parameters] = []
        original = argon2.PasswordHasher.verify

        def verify(hasher: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
            self.parameters.append(argon2.extract_parameters(hash if isinstance(hash, str) else hash.decode()))
            return original(hasher, hash, password)

        monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)


def test_an_unknown_user_costs_the_same_verification_as_a_wrong_password(
    app: FastAPI, client: TestClient, admin: dict[str, str], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_user(client, admin, f"known-{unique}")
    spy = _VerifySpy(monkeypatch)
    anonymous = _from(app, _address())
    wrong = anonymous.post(LOGIN, json={"username": f"known-{unique}", "password": "not-the-password"})
    unknown = anonymous.post(LOGIN, json={"username": f"nobody-{unique}", "password": "not-the-password"})
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json() | {"instance": None} == unknown.json() | {"instance": None}
    assert len(spy.parameters) == 2, "each login runs exactly one argon2 verification"
    assert spy.parameters[0] == spy.parameters[1], "the dummy hash has the real hashes' cost"


def test_failed_logins_lock_the_username_out_with_retry_after_and_are_audited(
    app: FastAPI, client: TestClient, admin: dict[str, str], settings: Settings, unique: str
) -> None:
    username = f"locked-{unique}"
    password = _make_user(client, admin, username)
    address = _address()
    anonymous = _from(app, address)
    for _ in range(settings.login_max_failures_per_user):
        failed = anonymous.post(LOGIN, json={"username": username, "password": "wrong-password!"})
        assert failed.status_code == 401, failed.text

    locked = anonymous.post(LOGIN, json={"username": username, "password": password})
    assert locked.status_code == 429, "even the right password waits out the window"
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.json()["code"] == "too_many_login_attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= settings.login_window_seconds
    # From another address the username is locked out too; another user from this address is not.
    assert _from(app, _address()).post(LOGIN, json={"username": username, "password": password}).status_code == 429
    other = f"free-{unique}"
    other_password = _make_user(client, admin, other)
    assert anonymous.post(LOGIN, json={"username": other, "password": other_password}).status_code == 201

    actions = [event["action"] for event in _audit(client, admin, username)]
    assert actions.count("auth.login_failed") == settings.login_max_failures_per_user
    assert actions.count("auth.login_locked") == 2
    failure = next(e for e in _audit(client, admin, username) if e["action"] == "auth.login_failed")
    assert failure["actor"] == "anonymous"
    assert "wrong-password!" not in str(failure)


def test_failed_logins_lock_the_client_address_out(
    app: FastAPI, client: TestClient, admin: dict[str, str], settings: Settings, unique: str
) -> None:
    username = f"victim-{unique}"
    password = _make_user(client, admin, username)
    limit = 3  # a server of its own on the same database, so the test needs few (slow) verifications
    strict = create_app(settings.model_copy(update={"login_max_failures_per_address": limit}))
    attacker_address = _address()
    with TestClient(strict, client=(attacker_address, 50000)) as attacker:
        for attempt in range(limit):
            guess = attacker.post(LOGIN, json={"username": f"spray{attempt}-{unique}", "password": "spraying-them"})
            assert guess.status_code == 401, guess.text

        locked = attacker.post(LOGIN, json={"username": username, "password": password})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert "client address" in locked.json()["detail"]
    elsewhere = _from(app, _address()).post(LOGIN, json={"username": username, "password": password})
    assert elsewhere.status_code == 201
    locks = [e for e in _audit(client, admin, username) if e["action"] == "auth.login_locked"]
    assert len(locks) == 1
    assert locks[0]["detail"]["client_address"] == attacker_address


def test_concurrent_failed_logins_never_pass_the_limit(
    live_url: str, client: TestClient, admin: dict[str, str], settings: Settings, unique: str
) -> None:
    username = f"raced-{unique}"
    _make_user(client, admin, username)
    attempts = settings.login_max_failures_per_user + 7

    def attempt(_: int) -> int:
        with httpx.Client(base_url=live_url, timeout=60, trust_env=False) as http:
            return http.post(LOGIN, json={"username": username, "password": "wrong-password!"}).status_code

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = sorted(pool.map(attempt, range(attempts)))
    assert statuses.count(401) == settings.login_max_failures_per_user, statuses
    assert statuses.count(429) == attempts - settings.login_max_failures_per_user, statuses
