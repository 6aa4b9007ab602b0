"""Webhook use cases: deliver an event (signed, retried with backoff, every attempt recorded),
send a test, and read the deliveries.

`deliver` runs outside any request: it opens its own short transactions (one to record the
delivery, one per attempt, one to finish), so no transaction stays open while it waits on the
network, and a job can call it with the runtime's session factory."""

import logging
import random
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.session import SessionFactory, json_for_column
from app.db.tables import WebhookAttempt, WebhookDelivery
from app.deployments import service as deployments
from app.errors import InvalidInput, UrlRefused, WebhookDeliveryNotFound
from app.outbound import MAX_URL_LENGTH, OutboundClient, OutboundError, OutboundResponse
from app.pagination import decode_page_token, take_page
from app.settings import Settings
from app.webhooks import repository
from app.webhooks.schemas import EVENT_PATTERN, AttemptRead, DeliveryRead, DeliveryStatus, WebhookTest
from app.webhooks.signature import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

PING_EVENT = "ping"
USER_AGENT = "Shipyard-Webhooks/1"
MAX_EXCERPT_CHARS = 500
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a delivery is tried. Its total time is at most
    attempts × timeout + backoff × (2^(attempts-1) - 1) seconds."""

    attempts: int
    timeout_seconds: float
    backoff_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(settings.webhook_attempts, settings.webhook_timeout_seconds, settings.webhook_backoff_seconds)

    def pause_after(self, attempt: int) -> float:
        """The wait after attempt number `attempt` (1-based): the backoff doubled per attempt, with
        jitter (between half and all of it), so many failing receivers are not retried in step."""
        return self.backoff_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)

    @property
    def longest_seconds(self) -> float:
        return self.attempts * self.timeout_seconds + self.backoff_seconds * (2 ** (self.attempts - 1) - 1)


def outbound_client(settings: Settings) -> OutboundClient:
    """The outbound client the settings describe (their allow-list)."""
    return OutboundClient(settings.outbound_allow_hosts)


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    excerpt: str
    retry: bool

    @property
    def delivered(self) -> bool:
        return self.error is None


def deliver(
    sessions: SessionFactory,
    client: OutboundClient,
    *,
    url: str,
    secret: str | None,
    event: str,
    payload: dict[str, Any],
    deployment_id: int | None = None,
    settings: Settings,
) -> DeliveryRead:
    """POST `event` with `payload` to `url` as JSON, signed with `secret` when one is given; retried
    on a connection error, a timeout, a 429 or a 5xx, with exponential backoff and jitter, within the
    bound of RetryPolicy (from the settings). Every attempt is recorded; the delivery ends
    `delivered` or `failed`, and it is returned. A URL the outbound client refuses is a failed
    delivery, not an exception: a job that calls this is never stuck nor crashed by a receiver."""
    return _deliver(
        sessions,
        client,
        RetryPolicy.from_settings(settings),
        url=url,
        secret=secret,
        event=event,
        payload=payload,
        deployment_id=deployment_id,
        actor=None,
    )


def send_test(
    sessions: SessionFactory, client: OutboundClient, actor: Principal, data: WebhookTest, settings: Settings
) -> DeliveryRead:
    """A `ping` delivery to a receiver, so it can be checked before a monitor uses it. A URL that
    may not be sent to is a 400 naming the field, and nothing is recorded."""
    url = client.check_url(data.url, field="url")
    return _deliver(
        sessions,
        client,
        RetryPolicy.from_settings(settings),
        url=url,
        secret=data.secret.get_secret_value() if data.secret is not None else None,
        event=PING_EVENT,
        payload={"message": "A test delivery from Shipyard.", "sent_by": actor.username},
        deployment_id=None,
        actor=actor,
    )


def _deliver(
    sessions: SessionFactory,
    client: OutboundClient,
    policy: RetryPolicy,
    *,
    url: str,
    secret: str | None,
    event: str,
    payload: dict[str, Any],
    deployment_id: int | None,
    actor: Principal | None,
) -> DeliveryRead:
    if not re.fullmatch(EVENT_PATTERN, event):
        raise ValueError(f"event {event!r} does not match {EVENT_PATTERN}")
    with sessions.begin() as session:
        delivery = repository.add_delivery(
            session,
            WebhookDelivery(
                id=uuid.uuid4().hex,
                event=event,
                # As much of the URL as a row holds; a URL too long to send fails its first attempt.
                url=_text(url, MAX_URL_LENGTH),
                deployment_id=deployment_id,
                status=DeliveryStatus.PENDING.value,
                signed=secret is not None,
                payload=payload,
                attempt_count=0,
            ),
        )
        if actor is not None:
            audit.record(session, actor, "webhook.test", "webhook_delivery", delivery.id, {"url": url, "event": event})
        names = repository.deployment_names(session, [deployment_id] if deployment_id is not None else [])
        body = _envelope(delivery, names.get(deployment_id) if deployment_id is not None else None)
    outcome: _Outcome | None = None
    for number in range(1, policy.attempts + 1):
        started_at = utcnow()
        started = time.monotonic()
        outcome = _attempt(client, url, body, _headers(delivery, number, body, secret), policy.timeout_seconds)
        duration_ms = (time.monotonic() - started) * 1000
        with sessions.begin() as session:
            repository.add_attempt(
                session,
                WebhookAttempt(
                    delivery_id=delivery.id,
                    number=number,
                    started_at=started_at,
                    duration_ms=duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    response_excerpt=outcome.excerpt,
                ),
            )
            stored = _get(session, delivery.id)
            stored.attempt_count = number
            stored.response_status = outcome.status_code
        logger.info(
            "webhook %s (%s) attempt %d to %s: %s",
            delivery.id,
            event,
            number,
            _host(url),
            outcome.error or f"delivered (HTTP {outcome.status_code})",
        )
        if outcome.delivered or not outcome.retry or number == policy.attempts:
            break
        time.sleep(policy.pause_after(number))
    with sessions.begin() as session:
        stored = _get(session, delivery.id)
        delivered = outcome is not None and outcome.delivered
        stored.status = (DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED).value
        stored.error = None if delivered or outcome is None else outcome.error
        stored.finished_at = utcnow()
        return _read(session, [stored])[0]


def _attempt(
    client: OutboundClient, url: str, body: bytes, headers: dict[str, str], timeout_seconds: float
) -> _Outcome:
    try:
        response = client.send("POST", url, content=body, headers=headers, timeout_seconds=timeout_seconds)
    except UrlRefused as exc:
        return _Outcome(None, _text(f"refused: {exc.detail}", MAX_ERROR_CHARS), "", retry=False)
    except OutboundError as exc:
        return _Outcome(None, _text(exc.summary, MAX_ERROR_CHARS), "", retry=exc.retryable)
    return _judge(response)


def _judge(response: OutboundResponse) -> _Outcome:
    """2xx delivers; 429 and 5xx are worth another try; any other answer is the receiver's no."""
    code = response.status_code
    excerpt = _text(response.body.decode("utf-8", errors="replace"), MAX_EXCERPT_CHARS)
    if 200 <= code < 300:
        return _Outcome(code, None, excerpt, retry=False)
    if code == 429 or code >= 500:
        return _Outcome(code, f"HTTP {code} from the receiver", excerpt, retry=True)
    return _Outcome(code, f"HTTP {code} from the receiver (not retried)", excerpt, retry=False)


def _text(value: str, limit: int) -> str:
    # PostgreSQL text holds no NUL; a receiver's answer may.
    return value.replace("\x00", "\ufffd")[:limit]


def _host(url: str) -> str:
    # The log names the host only: a receiver's path or query may hold a token of its own.
    return url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]


def _envelope(delivery: WebhookDelivery, deployment: str | None) -> bytes:
    envelope = {
        "id": delivery.id,
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "deployment": deployment,
        "data": delivery.payload,
    }
    return json_for_column(envelope).encode()


def _headers(delivery: WebhookDelivery, attempt: int, body: bytes, secret: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Shipyard-Event": delivery.event,
        "X-Shipyard-Delivery": delivery.id,
        "X-Shipyard-Attempt": str(attempt),
    }
    if secret is not None:
        # Signed at each attempt: a retry after a long backoff still carries a fresh time.
        headers[SIGNATURE_HEADER] = signature_header(secret, body, int(time.time()))
    return headers


def get_delivery(session: Session, delivery_id: str) -> DeliveryRead:
    return _read(session, [_get(session, delivery_id)])[0]


def _get(session: Session, delivery_id: str) -> WebhookDelivery:
    delivery = repository.get_delivery(session, delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound(f"no webhook delivery has the id {delivery_id!r}")
    return delivery


def list_deliveries(
    session: Session,
    *,
    deployment: str | None,
    status: str | None,
    event: str | None,
    page_token: str | None,
    max_results: int,
) -> tuple[list[DeliveryRead], str | None]:
    deployment_id = deployments.get(session, deployment).id if deployment is not None else None
    found = repository.list_deliveries(
        session,
        deployment_id=deployment_id,
        status=status,
        event=event,
        after=_after(page_token),
        limit=max_results + 1,
    )
    page, next_token = take_page(found, max_results, lambda d: {"created_at": d.created_at.isoformat(), "id": d.id})
    return _read(session, page), next_token


def _after(page_token: str | None) -> tuple[datetime, str] | None:
    cursor = decode_page_token(page_token)
    if cursor is None:
        return None
    try:
        created_at = datetime.fromisoformat(str(cursor["created_at"]))
        delivery_id = str(cursor["id"])
    except (KeyError, ValueError) as exc:
        raise InvalidInput("page_token is not a token this server issued", field="page_token") from exc
    if created_at.tzinfo is None:
        raise InvalidInput("page_token is not a token this server issued", field="page_token")
    return created_at, delivery_id


def _read(session: Session, deliveries: Sequence[WebhookDelivery]) -> list[DeliveryRead]:
    attempts: dict[str, list[AttemptRead]] = {d.id: [] for d in deliveries}
    for attempt in repository.attempts_of(session, [d.id for d in deliveries]):
        attempts[attempt.delivery_id].append(AttemptRead.model_validate(attempt))
    names = repository.deployment_names(session, [d.deployment_id for d in deliveries if d.deployment_id is not None])
    return [
        DeliveryRead(
            id=d.id,
            event=d.event,
            url=d.url,
            deployment=names.get(d.deployment_id) if d.deployment_id is not None else None,
            status=DeliveryStatus(d.status),
            signed=d.signed,
            payload=d.payload,
            attempt_count=d.attempt_count,
            response_status=d.response_status,
            error=d.error,
            created_at=d.created_at,
            finished_at=d.finished_at,
            attempts=attempts[d.id],
        )
        for d in deliveries
    ]
