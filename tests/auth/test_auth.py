"""Users, tokens, roles and the audit trail, through HTTP."""

import hashlib
import os
import stat
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.token_cache import forget_tokens_after_commit
from app.db.base import utcnow
from app.db.tables import ApiToken
from app.settings import Settings
from tests.conftest import read_credentials


def test_first_start_writes_private_credentials_that_work(client: TestClient, settings: Settings) -> None:
    path = settings.credentials_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = read_credentials(path)
    assert creds["username"] == "admin"
    me = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {creds['token']}"})
    assert me.status_code == 200
    assert me.json()["role"] == "admin"
    login = client.post("/api/v1/auth/tokens", json={"username": "admin", "password": creds["password"]})
    assert login.status_code == 201
    assert login.json()["token"].startswith("shp_")


def test_wrong_password_and_bad_tokens_are_401(client: TestClient) -> None:
    response = client.post("/api/v1/auth/tokens", json={"username": "admin", "password": "not-the-password"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"
    for header in ("Bearer shp_nope", "Basic abc", "Bearer "):
        response = client.get("/api/v1/experiments", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert client.get("/api/v1/experiments").status_code == 401


def test_tokens_are_stored_only_as_hashes(client: TestClient, admin: dict[str, str], app: FastAPI, unique: str) -> None:
    client.post("/api/v1/users", json={"username": f"h-{unique}", "role": "viewer"}, headers=admin)
    created = client.post("/api/v1/auth/tokens", json={"username": f"h-{unique}", "name": "ci"}, headers=admin).json()
    secret = created["token"]
    with app.state.sessions(write=False) as session:
        row = session.scalars(select(ApiToken).where(ApiToken.id == created["id"])).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.token_hash, row.prefix, row.name)
    listed = client.get("/api/v1/auth/tokens", params={"username": f"h-{unique}"}, headers=admin).json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]


def test_revoked_and_expired_tokens_stop_working(
    client: TestClient, admin: dict[str, str], app: FastAPI, unique: str
) -> None:
    client.post("/api/v1/users", json={"username": f"r-{unique}", "role": "editor"}, headers=admin)
    first = client.post("/api/v1/auth/tokens", json={"username": f"r-{unique}"}, headers=admin).json()
    second = client.post(
        "/api/v1/auth/tokens", json={"username": f"r-{unique}", "expires_in_days": 1}, headers=admin
    ).json()
    for token in (first, second):
        assert (
            client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200
        )

    assert client.delete(f"/api/v1/auth/tokens/{first['id']}", headers=admin).status_code == 204
    revoked = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {first['token']}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]

    with app.state.sessions.begin() as session:
        session.get_one(ApiToken, second["id"]).expires_at = utcnow() - timedelta(seconds=1)
        forget_tokens_after_commit(session)  # as the service does when it changes a token
    expired = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {second['token']}"})
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert client.delete("/api/v1/auth/tokens/999999999", headers=admin).status_code == 404


def test_roles_are_enforced(
    client: TestClient, admin: dict[str, str], editor: dict[str, str], viewer: dict[str, str], unique: str
) -> None:
    assert client.get("/api/v1/experiments", headers=viewer).status_code == 200
    denied = client.post("/api/v1/experiments", json={"name": f"v-{unique}"}, headers=viewer)
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert client.post("/api/v1/experiments", json={"name": f"e-{unique}"}, headers=editor).status_code == 201
    assert client.post("/api/v1/users", json={"username": f"x-{unique}"}, headers=editor).status_code == 403
    assert client.get("/api/v1/audit", headers=editor).status_code == 403
    assert client.get("/api/v1/audit", headers=admin).status_code == 200


def test_user_creation_generates_a_password_once_and_refuses_duplicates(
    client: TestClient, admin: dict[str, str], unique: str
) -> None:
    created = client.post("/api/v1/users", json={"username": f"u-{unique}", "role": "editor"}, headers=admin)
    assert created.status_code == 201
    password = created.json()["password"]
    assert password
    assert len(password) >= 16
    login = client.post("/api/v1/auth/tokens", json={"username": f"u-{unique}", "password": password})
    assert login.status_code == 201
    again = client.post("/api/v1/users", json={"username": f"u-{unique}"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "user_conflict"
    users = client.get("/api/v1/users", headers=admin).json()["users"]
    assert all("password" not in u and "password_hash" not in u for u in users)


def test_mutations_write_audit_events_with_the_request_id(
    client: TestClient, admin: dict[str, str], editor: dict[str, str], unique: str
) -> None:
    response = client.post(
        "/api/v1/experiments", json={"name": f"audited-{unique}"}, headers={**editor, "X-Request-ID": f"req-{unique}"}
    )
    assert response.headers["x-request-id"] == f"req-{unique}"
    experiment_id = str(response.json()["id"])
    events = client.get(
        "/api/v1/audit", params={"resource_type": "experiment", "resource_id": experiment_id}, headers=admin
    ).json()["events"]
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "experiment.create"
    assert event["actor"].startswith("editor-")
    assert event["request_id"] == f"req-{unique}"


def test_audit_list_paginates(client: TestClient, admin: dict[str, str], unique: str) -> None:
    # Its own three events: the test must not depend on what other tests left in the shared database.
    created = client.post("/api/v1/experiments", json={"name": f"paged-{unique}"}, headers=admin)
    experiment_id = str(created.json()["id"])
    for description in ("one", "two"):
        patch = {"description": description}
        assert client.patch(f"/api/v1/experiments/{experiment_id}", json=patch, headers=admin).status_code == 200
    mine = {"resource_type": "experiment", "resource_id": experiment_id, "max_results": 2}
    first = client.get("/api/v1/audit", params=mine, headers=admin).json()
    assert [e["action"] for e in first["events"]] == ["experiment.update", "experiment.update"]
    assert first["next_page_token"]
    second = client.get("/api/v1/audit", params={**mine, "page_token": first["next_page_token"]}, headers=admin).json()
    assert [e["action"] for e in second["events"]] == ["experiment.create"]
    assert second["events"][0]["id"] < first["events"][-1]["id"]
    assert second["next_page_token"] is None
    bad = client.get("/api/v1/audit", params={"page_token": "garbage!"}, headers=admin)
    assert bad.status_code == 400
