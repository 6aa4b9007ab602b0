"""deliver(): what a receiver gets (signed JSON, the headers), how failures are retried, and what is
recorded, with real receivers on 127.0.0.1 and the database of each backend."""

import json
import logging
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db.tables import Deployment, WebhookAttempt, WebhookDelivery
from app.outbound import OutboundClient
from app.settings import Settings
from app.webhooks import service
from app.webhooks.schemas import DeliveryRead
from app.webhooks.service import RetryPolicy, deliver
from shipyard.webhooks import verify_signature
from tests.conftest import free_port
from tests.webhooks.receivers import Receiver, drip, endless, hang, receiver, redirect, status

SECRET = "whsec-for-tests-4f1c"


def send(app: FastAPI, client: OutboundClient, settings: Settings, url: str, **overrides: Any) -> DeliveryRead:
    arguments: dict[str, Any] = {"secret": SECRET, "event": "drift.detected", "payload": {"share": 0.6}}
    arguments.update(overrides)
    return deliver(app.state.sessions, client, url=url, settings=settings, **arguments)


def test_a_signed_delivery_arrives_and_its_signature_verifies(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    payload = {"share": 0.6, "columns": {"age": {"drifted": True, "score": float("nan")}}}
    delivery = send(app, local_client, webhook_settings, hook.url + "/alerts", payload=payload)

    assert delivery.status == "delivered"
    assert [(a.number, a.status_code, a.error) for a in delivery.attempts] == [(1, 200, None)]
    assert delivery.signed
    assert delivery.finished_at is not None
    (got,) = hook.received
    assert (got.method, got.path) == ("POST", "/alerts")
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Shipyard-Event"] == "drift.detected"
    assert got.headers["X-Shipyard-Delivery"] == delivery.id
    assert verify_signature(SECRET, got.body, got.headers["X-Shipyard-Signature"])
    assert not verify_signature("another-secret", got.body, got.headers["X-Shipyard-Signature"])
    assert not verify_signature(SECRET, got.body + b" ", got.headers["X-Shipyard-Signature"])
    envelope = json.loads(got.body)
    assert envelope["id"] == delivery.id
    assert envelope["event"] == "drift.detected"
    assert envelope["deployment"] is None
    assert envelope["data"] == {"share": 0.6, "columns": {"age": {"drifted": True, "score": "NaN"}}}


def test_without_a_secret_nothing_is_signed(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    delivery = send(app, local_client, webhook_settings, hook.url, secret=None)
    assert delivery.status == "delivered"
    assert not delivery.signed
    assert "X-Shipyard-Signature" not in hook.received[0].headers


def test_the_secret_is_never_stored_returned_nor_logged(
    app: FastAPI,
    local_client: OutboundClient,
    webhook_settings: Settings,
    hook: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = f"never-shown-{uuid.uuid4().hex}"
    hook.answer(status(500, b"try later"))
    with caplog.at_level(logging.DEBUG):
        delivery = send(app, local_client, webhook_settings, hook.url, secret=secret)
    assert delivery.attempt_count == 2
    assert secret not in caplog.text
    assert secret not in delivery.model_dump_json()
    with app.state.sessions(write=False) as session:
        rows = [session.get(WebhookDelivery, delivery.id)]
        rows += session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)).all()
        stored = " ".join(repr({c.key: getattr(row, c.key) for c in row.__table__.columns}) for row in rows)
    assert delivery.id in stored
    assert secret not in stored


def test_429_and_5xx_are_retried_until_delivered(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    hook.answer(status(500, b"oops"), status(429), status(503))
    settings = webhook_settings.model_copy(update={"webhook_attempts": 4})
    delivery = send(app, local_client, settings, hook.url)
    assert delivery.status == "delivered"
    assert [a.status_code for a in delivery.attempts] == [500, 429, 503, 200]
    assert [a.error is None for a in delivery.attempts] == [False, False, False, True]
    assert delivery.attempts[0].response_excerpt == "oops"
    assert [r.headers["X-Shipyard-Attempt"] for r in hook.received] == ["1", "2", "3", "4"]
    assert len({r.headers["X-Shipyard-Delivery"] for r in hook.received}) == 1, "one delivery id for every attempt"
    assert all(verify_signature(SECRET, r.body, r.headers["X-Shipyard-Signature"]) for r in hook.received)


def test_a_4xx_other_than_429_is_not_retried(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    hook.answer(status(404, b"no such hook"))
    delivery = send(app, local_client, webhook_settings, hook.url)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1
    assert len(hook.received) == 1
    assert delivery.response_status == 404
    assert delivery.error is not None
    assert "HTTP 404" in delivery.error
    assert "not retried" in delivery.error


def test_a_receiver_that_never_answers_fails_after_every_attempt_in_bounded_time(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    hook.otherwise = hang
    settings = webhook_settings.model_copy(
        update={"webhook_timeout_seconds": 0.5, "webhook_attempts": 3, "webhook_backoff_seconds": 0.05}
    )
    started = time.monotonic()
    delivery = send(app, local_client, settings, hook.url)
    took = time.monotonic() - started

    assert delivery.status == "failed"
    assert [a.number for a in delivery.attempts] == [1, 2, 3]
    assert all(a.status_code is None and a.error and "timed out" in a.error for a in delivery.attempts)
    assert delivery.error is not None
    assert "timed out" in delivery.error
    assert len(hook.received) == 3
    # Each attempt stops at its deadline, so the whole delivery stays within the policy's bound
    # (plus room for a busy machine), instead of waiting on the receiver.
    assert all(a.duration_ms < 500 + 1000 for a in delivery.attempts)
    assert took < RetryPolicy.from_settings(settings).longest_seconds + 5


def test_a_receiver_that_drips_its_answer_is_cut_off(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    hook.otherwise = drip
    settings = webhook_settings.model_copy(update={"webhook_timeout_seconds": 0.5, "webhook_attempts": 2})
    delivery = send(app, local_client, settings, hook.url)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 2
    assert all(a.error and "timed out" in a.error for a in delivery.attempts)


def test_a_refused_connection_is_retried_then_failed(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings
) -> None:
    delivery = send(app, local_client, webhook_settings, f"http://127.0.0.1:{free_port()}/hook")
    assert delivery.status == "failed"
    assert delivery.attempt_count == 3
    assert all(a.error and "could not connect" in a.error for a in delivery.attempts)


def test_an_endless_answer_is_not_read_into_memory(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    hook.answer(endless)
    delivery = send(app, local_client, webhook_settings, hook.url)
    assert delivery.status == "delivered"
    assert len(delivery.attempts[0].response_excerpt) <= service.MAX_EXCERPT_CHARS
    # It declared a gigabyte; the client stopped after the first few kilobytes and hung up.
    assert hook.endless_bytes_sent < 64 * 1024**2


def test_the_default_settings_refuse_a_receiver_on_loopback(app: FastAPI, settings: Settings, hook: Receiver) -> None:
    delivery = send(app, service.outbound_client(settings), settings, hook.url)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1, "a refusal is not retried"
    assert delivery.error is not None
    assert "refused: 127.0.0.1 is a loopback address" in delivery.error
    assert hook.received == []


def test_a_redirect_to_a_refused_address_fails_the_delivery(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    with receiver("127.0.0.2") as inside:
        hook.answer(redirect(inside.url + "/internal"))
        delivery = send(app, local_client, webhook_settings, hook.url)
        assert inside.received == []
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1
    assert delivery.error is not None
    assert "127.0.0.2 is a loopback address" in delivery.error


def test_a_delivery_names_its_deployment(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver, unique: str
) -> None:
    with app.state.sessions.begin() as session:
        deployment = Deployment(name=f"hooked-{unique}", created_by="tests")
        session.add(deployment)
        session.flush()
        deployment_id = deployment.id
    delivery = send(app, local_client, webhook_settings, hook.url, deployment_id=deployment_id)
    assert delivery.deployment == f"hooked-{unique}"
    assert json.loads(hook.received[0].body)["deployment"] == f"hooked-{unique}"
    with app.state.sessions(write=False) as session:
        found, _ = service.list_deliveries(
            session, deployment=f"hooked-{unique}", status=None, event=None, page_token=None, max_results=10
        )
    assert [d.id for d in found] == [delivery.id]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/" + "a" * 3000, "ftp://127.0.0.1/hook", "http://127.0.0.1/\x00hook", "not a url"]
)
def test_a_url_it_cannot_send_to_is_a_recorded_failure_not_a_crash(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, url: str
) -> None:
    delivery = send(app, local_client, webhook_settings, url)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1
    assert delivery.error is not None
    assert delivery.error.startswith("refused: ")


def test_an_event_name_outside_the_pattern_is_a_programming_error(
    app: FastAPI, local_client: OutboundClient, webhook_settings: Settings, hook: Receiver
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        send(app, local_client, webhook_settings, hook.url, event="Drift Detected!")
    assert hook.received == []


def test_the_backoff_grows_with_jitter_within_its_bound() -> None:
    policy = RetryPolicy(attempts=4, timeout_seconds=10, backoff_seconds=1)
    pauses = [[policy.pause_after(n) for n in (1, 2, 3)] for _ in range(200)]
    for number, ceiling in ((0, 1), (1, 2), (2, 4)):
        values = [p[number] for p in pauses]
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(set(values)) > 1, "jittered"
    assert policy.longest_seconds == 4 * 10 + 1 + 2 + 4
