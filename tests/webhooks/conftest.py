"""Webhook fixtures: settings whose deliveries are quick to fail and may reach 127.0.0.1, an app
of its own on them, and a receiver on 127.0.0.1."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.outbound import OutboundClient
from app.settings import Settings
from tests.conftest import app_with_admin
from tests.webhooks.receivers import Receiver, receiver

# Quick to give up, so a failing receiver costs a test seconds, not minutes.
QUICK = {"webhook_timeout_seconds": 3.0, "webhook_attempts": 3, "webhook_backoff_seconds": 0.01}


@pytest.fixture(scope="session")
def webhook_settings(settings: Settings) -> Settings:
    """The backend's settings, with 127.0.0.1 allowed (the defaults refuse it) and quick retries."""
    return settings.model_copy(update={**QUICK, "outbound_allow_hosts": ["127.0.0.1"]})


@pytest.fixture(scope="session")
def webhook_http(webhook_settings: Settings) -> Iterator[TestClient]:
    """An app of its own on webhook_settings (same database), with the first admin's token."""
    with app_with_admin(webhook_settings) as http:
        yield http


@pytest.fixture
def local_client() -> OutboundClient:
    return OutboundClient(["127.0.0.1"])


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found
