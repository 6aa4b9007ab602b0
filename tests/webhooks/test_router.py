"""The webhook routes through HTTP: a test delivery, refused URLs (400 naming the field, nothing
recorded), and reading the recorded deliveries with their filters and pages."""

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.tables import WebhookDelivery
from app.outbound import OutboundClient
from app.settings import Settings
from app.webhooks.service import deliver
from shipyard.webhooks import verify_signature
from tests.webhooks.receivers import Receiver, status

TEST_ROUTE = "/api/v1/webhooks/test"
LIST_ROUTE = "/api/v1/webhook-deliveries"


def deliveries_to(app: FastAPI, url: str) -> int:
    with app.state.sessions(write=False) as session:
        return int(session.scalar(select(func.count()).where(WebhookDelivery.url == url)) or 0)


def test_a_test_delivery_is_sent_signed_and_recorded(
    webhook_http: TestClient, admin: dict[str, str], editor: dict[str, str], hook: Receiver
) -> None:
    secret = f"test-secret-{uuid.uuid4().hex}"
    answer = webhook_http.post(TEST_ROUTE, json={"url": hook.url + "/ping", "secret": secret}, headers=editor)
    assert answer.status_code == 201, answer.text
    delivery = answer.json()
    assert secret not in answer.text
    assert (delivery["event"], delivery["status"], delivery["signed"]) == ("ping", "delivered", True)
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 200)]
    (got,) = hook.received
    assert got.headers["X-Shipyard-Event"] == "ping"
    assert verify_signature(secret, got.body, got.headers["X-Shipyard-Signature"])

    read = webhook_http.get(f"{LIST_ROUTE}/{delivery['id']}", headers=editor)
    assert read.status_code == 200
    assert read.json() == delivery
    assert secret not in read.text
    audit = webhook_http.get(
        "/api/v1/audit", params={"action": "webhook.test", "resource_id": delivery["id"]}, headers=admin
    ).json()["events"]
    assert len(audit) == 1
    assert secret not in str(audit)


def test_a_failing_receiver_gives_a_failed_delivery_not_an_error(
    webhook_http: TestClient, editor: dict[str, str], hook: Receiver
) -> None:
    hook.answer(status(401, b"bad signature"))
    answer = webhook_http.post(TEST_ROUTE, json={"url": hook.url}, headers=editor)
    assert answer.status_code == 201
    delivery = answer.json()
    assert (delivery["status"], delivery["response_status"], delivery["signed"]) == ("failed", 401, False)
    assert delivery["attempts"][0]["response_excerpt"] == "bad signature"


def test_by_default_a_receiver_on_loopback_is_refused_and_nothing_is_recorded(
    app: FastAPI, client: TestClient, editor: dict[str, str], hook: Receiver
) -> None:
    url = hook.url + f"/{uuid.uuid4().hex}"
    answer = client.post(TEST_ROUTE, json={"url": url, "secret": "s"}, headers=editor)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["code"] == "url_refused"
    assert problem["field"] == "url"
    assert "127.0.0.1 is a loopback address" in problem["detail"]
    assert "SHIPYARD_OUTBOUND_ALLOW_HOSTS" in problem["detail"]
    assert hook.received == []
    assert deliveries_to(app, url) == 0


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://user:password@hooks.example.com/alert", "credentials"),
        ("ftp://hooks.example.com/alert", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("hooks.example.com/alert", "no scheme"),
        ("http://10.0.0.5/alert", "10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:10.0.0.5]/alert", "private"),
        ("http://100.64.1.1/alert", "carrier-grade NAT"),
    ],
)
def test_a_url_it_does_not_send_to_is_a_400_naming_the_field(
    webhook_http: TestClient, editor: dict[str, str], url: str, words: str
) -> None:
    answer = webhook_http.post(TEST_ROUTE, json={"url": url}, headers=editor)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert (problem["code"], problem["field"]) == ("url_refused", "url")
    assert problem["detail"].startswith("field `url`: ")
    assert words in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [{"url": "http://127.0.0.1/", "secret": ""}, {"url": "http://127.0.0.1/", "secret": "x" * 257}, {}, {"url": 5}],
)
def test_a_malformed_body_is_a_422(webhook_http: TestClient, editor: dict[str, str], body: dict[str, object]) -> None:
    answer = webhook_http.post(TEST_ROUTE, json=body, headers=editor)
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_error"


def test_deliveries_are_listed_newest_first_with_filters_and_pages(
    app: FastAPI, client: TestClient, editor: dict[str, str], webhook_settings: Settings, hook: Receiver
) -> None:
    event = f"test.{uuid.uuid4().hex[:12]}"
    hook.answer(status(200), status(404), status(200))
    made = [
        deliver(
            app.state.sessions,
            OutboundClient(["127.0.0.1"]),
            url=hook.url,
            secret=None,
            event=event,
            payload={"n": n},
            settings=webhook_settings,
        )
        for n in range(3)
    ]
    newest_first = [d.id for d in reversed(made)]

    first = client.get(LIST_ROUTE, params={"event": event, "max_results": 2}, headers=editor).json()
    assert [d["id"] for d in first["deliveries"]] == newest_first[:2]
    assert first["deliveries"][0]["attempts"][0]["status_code"] == 200
    second = client.get(
        LIST_ROUTE, params={"event": event, "max_results": 2, "page_token": first["next_page_token"]}, headers=editor
    ).json()
    assert [d["id"] for d in second["deliveries"]] == newest_first[2:]
    assert second["next_page_token"] is None

    failed = client.get(LIST_ROUTE, params={"event": event, "status": "failed"}, headers=editor).json()
    assert [d["id"] for d in failed["deliveries"]] == [made[1].id]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, 422),
        ({"event": "Not An Event"}, 422),
        ({"page_token": "bm90LWEtdG9rZW4"}, 400),
        ({"max_results": 0}, 422),
        ({"deployment": "no-such-deployment-anywhere"}, 404),
    ],
)
def test_bad_list_parameters_are_refused(
    client: TestClient, editor: dict[str, str], params: dict[str, object], code: int
) -> None:
    assert client.get(LIST_ROUTE, params=params, headers=editor).status_code == code


def test_an_unknown_or_malformed_delivery_id(client: TestClient, editor: dict[str, str]) -> None:
    missing = client.get(f"{LIST_ROUTE}/{uuid.uuid4().hex}", headers=editor)
    assert missing.status_code == 404
    assert missing.json()["code"] == "webhook_delivery_not_found"
    assert client.get(f"{LIST_ROUTE}/not-an-id", headers=editor).status_code == 422


def test_deliveries_are_for_editors(client: TestClient, viewer: dict[str, str]) -> None:
    assert client.get(LIST_ROUTE, headers=viewer).status_code == 403
    assert client.post(TEST_ROUTE, json={"url": "https://example.com/"}, headers=viewer).status_code == 403
