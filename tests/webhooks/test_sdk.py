"""The SDK's side of webhooks: verify_signature against the server's own signing, and the client's
methods against the app in-process."""

import time
import uuid

import pytest
from fastapi.testclient import TestClient

import shipyard
from app.webhooks.signature import sign, signature_header
from shipyard import errors
from shipyard.webhooks import verify_signature
from tests.webhooks.receivers import Receiver, status

SECRET = "sdk-secret-9d2e"
BODY = b'{"id":"abc","event":"drift.detected","data":{"share":0.5}}'


def test_a_signature_made_by_the_server_verifies() -> None:
    assert verify_signature(SECRET, BODY, signature_header(SECRET, BODY, int(time.time())))


@pytest.mark.parametrize(
    ("secret", "body"),
    [("wrong-secret", BODY), (SECRET, BODY + b"\n"), (SECRET, BODY.replace(b"0.5", b"0.1")), (SECRET, b"")],
)
def test_another_secret_or_body_does_not_verify(secret: str, body: bytes) -> None:
    assert not verify_signature(secret, body, signature_header(SECRET, BODY, int(time.time())))


def test_an_old_or_future_signature_is_refused_unless_the_tolerance_allows_it() -> None:
    now = int(time.time())
    old = signature_header(SECRET, BODY, now - 301)
    future = signature_header(SECRET, BODY, now + 301)
    assert not verify_signature(SECRET, BODY, old)
    assert not verify_signature(SECRET, BODY, future)
    assert verify_signature(SECRET, BODY, old, tolerance_seconds=600)
    assert verify_signature(SECRET, BODY, signature_header(SECRET, BODY, now - 250))


def test_any_of_several_v1_signatures_may_match() -> None:
    now = int(time.time())
    header = f"t={now},v1={sign('old-secret', BODY, now)},v1={sign(SECRET, BODY, now)}"
    assert verify_signature(SECRET, BODY, header)
    assert verify_signature("old-secret", BODY, header)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=,v1=", "v1=abc", "t=123", "t=abc,v1=00", "t=-5,v1=00", "t=١٢٣,v1=00", "t=%d,v2=%s"],
)
def test_a_malformed_header_is_false_never_an_exception(header: str) -> None:
    now = int(time.time())
    if "%d" in header:
        header = header % (now, sign(SECRET, BODY, now))  # a scheme this verifier does not know
    assert verify_signature(SECRET, BODY, header) is False


@pytest.fixture
def sdk(webhook_http: TestClient, admin_token: str) -> shipyard.Client:
    return shipyard.Client(token=admin_token, http_client=webhook_http)


def test_the_client_sends_a_test_and_reads_the_deliveries(sdk: shipyard.Client, hook: Receiver) -> None:
    secret = f"client-{uuid.uuid4().hex}"
    delivery = sdk.test_webhook(hook.url + "/from-sdk", secret=secret)
    assert delivery.delivered
    assert delivery.signed
    assert delivery.event == "ping"
    assert delivery.attempts[0].status_code == 200
    got = hook.received[0]
    assert verify_signature(secret, got.body, got.headers["X-Shipyard-Signature"])

    assert sdk.get_webhook_delivery(delivery.id) == delivery
    listed = sdk.list_webhook_deliveries(event="ping", max_results=5)
    assert delivery.id in [d.id for d in listed]
    hook.answer(status(410))
    gone = sdk.test_webhook(hook.url)
    assert not gone.delivered
    assert gone.response_status == 410
    assert gone.id in [d.id for d in sdk.list_webhook_deliveries(status="failed", max_results=5)]


def test_the_client_raises_the_servers_refusals(sdk: shipyard.Client) -> None:
    with pytest.raises(errors.UrlRefused, match="credentials"):
        sdk.test_webhook("https://me:pw@hooks.example.com/")
    with pytest.raises(errors.UrlRefused, match="private address"):
        sdk.test_webhook("http://192.168.0.10/hook")
    with pytest.raises(errors.WebhookDeliveryNotFound):
        sdk.get_webhook_delivery(uuid.uuid4().hex)
    with pytest.raises(errors.DeploymentNotFound):
        sdk.list_webhook_deliveries(deployment="no-such-deployment-anywhere")
