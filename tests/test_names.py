"""Names are unique as people read them: experiments, models, datasets and users whose names
differ only by case, Unicode compatibility form or surrounding spaces are one name."""

import threading
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from app.names import fold_name

# (collection path, name field, the code of its conflict)
DOMAINS = {
    "experiment": ("/api/v1/experiments", "name", "experiment_conflict"),
    "model": ("/api/v1/models", "name", "model_conflict"),
    "dataset": ("/api/v1/datasets", "name", "dataset_conflict"),
    "user": ("/api/v1/users", "username", "user_conflict"),
}


def test_fold_name_reads_names_as_people_do() -> None:
    assert {fold_name(name) for name in ("Churn", "churn", " CHURN\u00a0", "ｃｈｕｒｎ", "\u3000Churn\t")} == {"churn"}
    assert fold_name("Straße") == fold_name("STRASSE")
    assert fold_name("churn model") == fold_name("Churn\u00a0Model")
    assert fold_name("churn-1") != fold_name("churn-2")


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_name_differing_only_in_case_is_409_and_names_are_stored_as_given(
    client: TestClient, admin: dict[str, str], unique: str, domain: str
) -> None:
    path, field, code = DOMAINS[domain]
    given = f"Churn-{unique.upper()}"
    created = client.post(path, json={field: given}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()[field] == given
    for spelled in (given.lower(), given.upper()):
        response = client.post(path, json={field: spelled}, headers=admin)
        assert response.status_code == 409, spelled
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code


def test_experiment_names_fold_unicode_and_spaces(client: TestClient, editor: dict[str, str], unique: str) -> None:
    given = f"Churn Model {unique}"
    first = client.post("/api/v1/experiments", json={"name": given}, headers=editor)
    assert first.status_code == 201
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in given)
    for spelled in (f" {given}\u00a0", given.replace(" ", "\u00a0"), fullwidth, f"\u3000{given.upper()}\t"):
        response = client.post("/api/v1/experiments", json={"name": spelled}, headers=editor)
        assert response.status_code == 409, repr(spelled)
        assert response.json()["code"] == "experiment_conflict"
    # Found by any spelling, and shown as it was given.
    listed = client.get("/api/v1/experiments", params={"name": f"  {given.upper()} "}, headers=editor).json()
    assert [experiment["name"] for experiment in listed["experiments"]] == [given]
    # A rename onto another experiment's name, read the same, is a conflict too.
    other = client.post("/api/v1/experiments", json={"name": f"other {unique}"}, headers=editor).json()
    renamed = client.patch(f"/api/v1/experiments/{other['id']}", json={"name": given.lower()}, headers=editor)
    assert renamed.status_code == 409
    assert client.get(f"/api/v1/experiments/{other['id']}", headers=editor).json()["name"] == f"other {unique}"
    for blank in (" ", "\u00a0\u3000"):
        refused = client.post("/api/v1/experiments", json={"name": blank}, headers=editor)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "name"]
    too_long = client.post("/api/v1/experiments", json={"name": "\ufdfa" * 256}, headers=editor)
    assert too_long.status_code == 422


def test_models_datasets_and_users_are_found_by_any_case(
    client: TestClient, admin: dict[str, str], unique: str
) -> None:
    model = f"Fraud-{unique}"
    assert client.post("/api/v1/models", json={"name": model}, headers=admin).status_code == 201
    found = client.get(f"/api/v1/models/{model.lower()}", headers=admin)
    assert found.status_code == 200
    assert found.json()["name"] == model
    dataset = f"Iris-{unique}"
    assert client.post("/api/v1/datasets", json={"name": dataset}, headers=admin).status_code == 201
    found = client.get(f"/api/v1/datasets/{dataset.upper()}", headers=admin)
    assert found.status_code == 200
    assert found.json()["name"] == dataset
    username = f"Ops.{unique}"
    user = client.post("/api/v1/users", json={"username": username, "password": "a-long-password-1"}, headers=admin)
    assert user.status_code == 201
    token = client.post(
        "/api/v1/auth/tokens", json={"username": username.lower(), "password": "a-long-password-1", "name": "t"}
    )
    assert token.status_code == 201, token.text
    whoami = client.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert whoami.json()["username"] == username


@pytest.mark.parametrize("domain", DOMAINS)
def test_concurrent_creates_of_one_name_make_one(
    live_url: str, admin: dict[str, str], unique: str, domain: str
) -> None:
    path, field, code = DOMAINS[domain]
    spellings = [f"Race-{unique}", f"race-{unique}", f"RACE-{unique}", f"rAcE-{unique}"] * 2
    barrier = threading.Barrier(len(spellings))
    answers: list[httpx.Response] = []

    def create(name: str) -> Callable[[], None]:
        def run() -> None:
            with httpx.Client(base_url=live_url, headers=admin, timeout=60) as http:
                barrier.wait()
                answers.append(http.post(path, json={field: name}))

        return run

    threads = [threading.Thread(target=create(name)) for name in spellings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (len(spellings) - 1), [answer.text for answer in answers]
    assert all(answer.json()["code"] == code for answer in answers if answer.status_code == 409)
