"""`shipyard webhooks test|deliveries|show` as a real subprocess against the live server (which lets
webhooks reach 127.0.0.1), with a real receiver: exit 0 delivered, 1 failed, 2 refused."""

import json
import subprocess
from collections.abc import Callable, Iterator

import pytest

from shipyard.webhooks import verify_signature
from tests.webhooks.receivers import Receiver, receiver, status

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def test_a_test_delivery_from_the_command_line(cli: RunCli, hook: Receiver) -> None:
    sent = cli("webhooks", "test", hook.url + "/cli", "--secret", "cli-secret", "--json")
    assert sent.returncode == 0, sent.stderr
    delivery = json.loads(sent.stdout)
    assert delivery["status"] == "delivered"
    assert "cli-secret" not in sent.stdout
    got = hook.received[0]
    assert verify_signature("cli-secret", got.body, got.headers["X-Shipyard-Signature"])

    listed = cli("webhooks", "deliveries", "--event", "ping", "--json")
    assert listed.returncode == 0, listed.stderr
    assert delivery["id"] in [d["id"] for d in json.loads(listed.stdout)["deliveries"]]
    shown = cli("webhooks", "show", delivery["id"])
    assert shown.returncode == 0, shown.stderr
    assert "delivered" in shown.stdout
    assert "200" in shown.stdout


def test_a_failed_delivery_exits_1_with_the_reason(cli: RunCli, hook: Receiver) -> None:
    hook.answer(status(404))
    failed = cli("webhooks", "test", hook.url)
    assert failed.returncode == 1
    assert "failed" in failed.stdout
    assert "HTTP 404" in failed.stdout


def test_a_refused_url_exits_2_naming_why(cli: RunCli) -> None:
    refused = cli("webhooks", "test", "http://user:pw@hooks.example.com/")
    assert refused.returncode == 2
    assert "credentials" in refused.stderr
    private = cli("webhooks", "test", "http://10.1.2.3/hook")
    assert private.returncode == 2
    assert "10.1.2.3 is a private address" in private.stderr
