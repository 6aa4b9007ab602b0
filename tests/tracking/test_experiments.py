"""Experiments through HTTP: create, read, list, rename, archive, and what bad input gets."""

from fastapi.testclient import TestClient

from tests.factories import make_experiment


def test_create_get_and_find_by_name(client: TestClient, editor: dict[str, str], unique: str) -> None:
    created = make_experiment(client, editor, f"churn-{unique}", description="why", tags={"team": "risk"})
    assert created["lifecycle_stage"] == "active"
    got = client.get(f"/api/v1/experiments/{created['id']}", headers=editor).json()
    assert got == created
    found = client.get("/api/v1/experiments", params={"name": f"churn-{unique}"}, headers=editor).json()
    assert [e["id"] for e in found["experiments"]] == [created["id"]]


def test_duplicate_name_is_409_and_unknown_id_is_404(client: TestClient, editor: dict[str, str], unique: str) -> None:
    make_experiment(client, editor, f"dup-{unique}")
    again = client.post("/api/v1/experiments", json={"name": f"dup-{unique}"}, headers=editor)
    assert again.status_code == 409
    assert again.json()["code"] == "experiment_conflict"
    missing = client.get("/api/v1/experiments/987654321", headers=editor)
    assert missing.status_code == 404
    assert missing.json()["code"] == "experiment_not_found"


def test_rename_to_a_taken_name_is_409_and_changes_nothing(
    client: TestClient, editor: dict[str, str], unique: str
) -> None:
    make_experiment(client, editor, f"a-{unique}")
    b = make_experiment(client, editor, f"b-{unique}")
    clash = client.patch(f"/api/v1/experiments/{b['id']}", json={"name": f"a-{unique}"}, headers=editor)
    assert clash.status_code == 409
    assert client.get(f"/api/v1/experiments/{b['id']}", headers=editor).json()["name"] == f"b-{unique}"
    renamed = client.patch(f"/api/v1/experiments/{b['id']}", json={"name": f"c-{unique}"}, headers=editor)
    assert renamed.json()["name"] == f"c-{unique}"


def test_archive_hides_from_the_default_list_and_blocks_new_runs(
    client: TestClient, editor: dict[str, str], unique: str
) -> None:
    experiment = make_experiment(client, editor, f"old-{unique}")
    assert client.delete(f"/api/v1/experiments/{experiment['id']}", headers=editor).status_code == 204
    active = client.get("/api/v1/experiments", params={"name": f"old-{unique}"}, headers=editor).json()
    assert active["experiments"] == []
    everything = client.get(
        "/api/v1/experiments", params={"name": f"old-{unique}", "lifecycle_stage": "all"}, headers=editor
    ).json()
    assert everything["experiments"][0]["lifecycle_stage"] == "archived"
    blocked = client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}, headers=editor)
    assert blocked.status_code == 409
    restored = client.patch(
        f"/api/v1/experiments/{experiment['id']}", json={"lifecycle_stage": "active"}, headers=editor
    )
    assert restored.json()["lifecycle_stage"] == "active"


def test_list_paginates_with_a_cursor(client: TestClient, editor: dict[str, str], unique: str) -> None:
    for i in range(5):
        make_experiment(client, editor, f"page-{unique}-{i}")
    seen: list[str] = []
    token = None
    while True:
        params = {"max_results": 2, "lifecycle_stage": "all", **({"page_token": token} if token else {})}
        page = client.get("/api/v1/experiments", params=params, headers=editor).json()
        seen += [e["name"] for e in page["experiments"]]
        token = page["next_page_token"]
        if token is None:
            break
    mine = [name for name in seen if name.startswith(f"page-{unique}")]
    assert mine == [f"page-{unique}-{i}" for i in range(5)]
    assert len(seen) == len(set(seen))


def test_wrong_types_and_oversized_fields_are_422_naming_the_field(client: TestClient, editor: dict[str, str]) -> None:
    wrong = client.post("/api/v1/experiments", json={"name": 123}, headers=editor)
    assert wrong.status_code == 422
    body = wrong.json()
    assert body["code"] == "validation_error"
    assert ["body", "name"] in [e["loc"] for e in body["errors"]]
    assert "name" in body["detail"]
    huge = client.post("/api/v1/experiments", json={"name": "x" * 100_000}, headers=editor)
    assert huge.status_code == 422
    unknown_field = client.post("/api/v1/experiments", json={"name": "ok", "nmae": "typo"}, headers=editor)
    assert unknown_field.status_code == 422
    bad_id = client.get("/api/v1/experiments/not-a-number", headers=editor)
    assert bad_id.status_code == 422
