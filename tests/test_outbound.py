"""The outbound client: which addresses it refuses, the exact allow-list, URLs it will not send to,
and that it connects to the address it checked (DNS answers come from an injected resolver; the
receivers are real servers on 127.0.0.1)."""

import ssl
from collections.abc import Iterator
from ipaddress import ip_address

import pydantic
import pytest
import trustme

from app.errors import UrlRefused
from app.outbound import (
    AllowList,
    HostUnresolved,
    IPAddress,
    OutboundClient,
    OutboundError,
    allowed_host_entry,
    refusal_reason,
    resolve_host,
)
from app.settings import Settings
from tests.webhooks.receivers import Receiver, drip, receiver, redirect, status

PUBLIC_V4 = "93.184.215.14"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),
        ("169.254.10.20", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("192.0.2.10", "not publicly routable"),
        ("2001:db8::1", "not publicly routable"),
        # IPv4 inside IPv6 is judged as the IPv4 address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("2002:a00:5::1", "private"),  # 6to4 of 10.0.0.5
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ],
)
def test_each_non_public_address_class_is_refused(address: str, reason: str) -> None:
    found = refusal_reason(ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", [PUBLIC_V4, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ip_address(address)) is None


def resolver_of(table: dict[str, list[str]]) -> "Resolution":
    return Resolution(table)


class Resolution:
    """A DNS outside the project, as a table; it counts the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> list[IPAddress]:
        self.lookups.append(host)
        literal = _literal(host)
        if literal is not None:
            return [literal]
        name = host.rstrip(".")  # the root dot is the same name to DNS
        if name not in self.table:
            raise HostUnresolved(f"{host} does not resolve")
        return [ip_address(address) for address in self.table[name]]


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("example.com/hook", "no scheme"),
        ("http://user:secret@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
        ("http:///hook", "no host"),
        ("http://example.com:0/", "port"),
        ("http://exa mple.com/", "space"),
        ("http://example.com/\nX-Injected: 1", "control character"),
        ("http://[::1/", "not a valid URL"),
        ("http://" + "a" * 2100 + ".com/", "longer than"),
    ],
)
def test_urls_it_will_not_send_to_are_refused_naming_the_field(url: str, words: str) -> None:
    client = OutboundClient(resolver=resolver_of({"example.com": [PUBLIC_V4]}))
    with pytest.raises(UrlRefused) as refused:
        client.check_url(url, field="webhook.url")
    assert words in refused.value.detail
    assert refused.value.detail.startswith("field `webhook.url`: ")
    assert refused.value.extra == {"field": "webhook.url"}
    assert refused.value.status == 400


def test_a_public_url_passes_and_is_normalised() -> None:
    client = OutboundClient(resolver=resolver_of({"hooks.example.com": [PUBLIC_V4]}))
    assert client.check_url("HTTPS://Hooks.Example.COM/alerts?team=ml") == "https://hooks.example.com/alerts?team=ml"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("http://127.0.0.1:8080/", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://internal.example.com/", "internal.example.com resolves to 10.1.2.3, a private address"),
        # One bad address among good ones is enough: the connection could go to either.
        ("http://mixed.example.com/", "resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as a number
        ("http://nowhere.example.com/", "does not resolve"),
    ],
)
def test_hosts_that_are_or_resolve_to_refused_addresses_are_refused(url: str, words: str) -> None:
    client = OutboundClient(
        resolver=resolver_of(
            {
                "internal.example.com": ["10.1.2.3"],
                "mixed.example.com": [PUBLIC_V4, "127.0.0.1"],
                "2130706433": ["127.0.0.1"],
            }
        )
    )
    with pytest.raises(UrlRefused) as refused:
        client.check_url(url)
    assert words in refused.value.detail


def test_the_allow_list_names_exact_hosts_and_addresses_only() -> None:
    resolve = resolver_of(
        {
            "hooks.internal": ["10.1.1.1"],
            "evil.hooks.internal": ["10.1.1.2"],
            "hooks.internal.evil.com": ["10.1.1.3"],
            "alerts.corp": ["10.0.0.5"],
        }
    )
    client = OutboundClient(["hooks.internal", "10.0.0.5"], resolver=resolve)
    assert client.check_url("http://hooks.internal/x")
    assert client.check_url("http://HOOKS.internal./x"), "case and the root dot do not make another host"
    assert client.check_url("http://10.0.0.5:9000/x")
    assert client.check_url("http://alerts.corp/x"), "a name resolving to an allowed address"
    for refused in ("http://evil.hooks.internal/", "http://hooks.internal.evil.com/", "http://10.0.0.50/"):
        with pytest.raises(UrlRefused):
            client.check_url(refused)


def test_metadata_addresses_stay_refused_whatever_the_allow_list_says() -> None:
    resolve = resolver_of({"metadata.google.internal": ["169.254.169.254"]})
    client = OutboundClient(["169.254.169.254", "metadata.google.internal", "fd00:ec2::254"], resolver=resolve)
    for url in ("http://169.254.169.254/", "http://metadata.google.internal/", "http://[fd00:ec2::254]/"):
        with pytest.raises(UrlRefused, match="cloud metadata address, which is never allowed"):
            client.check_url(url)


@pytest.mark.parametrize("entry", ["*.example.com", "10.0.0.0/8", "http://hooks.example.com", "hooks:8080", "", "*"])
def test_the_setting_refuses_anything_but_exact_entries(entry: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="not an exact host name or IP address"):
        Settings(outbound_allow_hosts=[entry])
    with pytest.raises(ValueError, match="not an exact host name"):
        AllowList([entry])


def test_the_setting_normalises_its_entries() -> None:
    assert Settings(outbound_allow_hosts=["Hooks.Example.COM.", " 127.0.0.1 "]).outbound_allow_hosts == [
        "hooks.example.com",
        "127.0.0.1",
    ]
    assert allowed_host_entry("::1") == "::1"


def test_the_default_settings_refuse_loopback() -> None:
    client = OutboundClient(Settings().outbound_allow_hosts)
    with pytest.raises(UrlRefused, match="loopback"):
        client.check_url("http://127.0.0.1:8080/hook")
    with pytest.raises(UrlRefused, match="localhost resolves to"):
        client.check_url("http://localhost:8080/hook")


def test_the_system_resolver_answers_and_reports_a_name_that_does_not_resolve() -> None:
    assert all(address.is_loopback for address in resolve_host("localhost", 80, 5))
    assert resolve_host("10.0.0.5", 80, 5) == [ip_address("10.0.0.5")]
    with pytest.raises(HostUnresolved, match="does not resolve"):
        resolve_host("no-such-host.invalid", 80, 5)


@pytest.fixture
def local() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def test_it_connects_to_the_address_it_checked_with_the_host_header_of_the_name(local: Receiver) -> None:
    port = local.url.rsplit(":", 1)[1]
    resolve = resolver_of({"receiver.test": ["127.0.0.1"]})
    client = OutboundClient(["receiver.test"], resolver=resolve)
    response = client.send("POST", f"http://receiver.test:{port}/hook", content=b"{}", timeout_seconds=5)
    assert response.status_code == 200
    assert local.received[0].headers["Host"] == f"receiver.test:{port}"
    assert resolve.lookups == ["receiver.test"], "one lookup: the connection used the checked answer"


def test_an_answer_that_changes_after_the_check_is_checked_again_at_send_time(local: Receiver) -> None:
    port = local.url.rsplit(":", 1)[1]
    resolve = resolver_of({"rebind.example.com": [PUBLIC_V4]})
    client = OutboundClient(resolver=resolve)
    url = f"http://rebind.example.com:{port}/hook"
    assert client.check_url(url)
    resolve.table["rebind.example.com"] = ["127.0.0.1"]  # the attacker's DNS now points inside
    with pytest.raises(UrlRefused, match="rebind.example.com resolves to 127.0.0.1, a loopback address"):
        client.send("POST", url, content=b"{}", timeout_seconds=5)
    assert local.received == []


def test_a_redirect_to_a_refused_address_is_refused_and_not_followed() -> None:
    with receiver() as allowed, receiver("127.0.0.2") as inside:
        allowed.answer(redirect(inside.url + "/admin"))
        client = OutboundClient(["127.0.0.1"])
        with pytest.raises(UrlRefused, match="127.0.0.2 is a loopback address"):
            client.send("POST", allowed.url, content=b"{}", timeout_seconds=5)
        assert len(allowed.received) == 1
        assert inside.received == []


def test_a_redirect_to_another_scheme_or_with_credentials_is_refused(local: Receiver) -> None:
    local.answer(redirect("file:///etc/passwd"), redirect("http://user:pw@127.0.0.1/"))
    client = OutboundClient(["127.0.0.1"])
    with pytest.raises(UrlRefused, match="scheme 'file'"):
        client.send("POST", local.url, content=b"{}", timeout_seconds=5)
    with pytest.raises(UrlRefused, match="credentials"):
        client.send("POST", local.url, content=b"{}", timeout_seconds=5)


def test_a_redirect_to_a_location_that_is_no_url_is_a_broken_answer(local: Receiver) -> None:
    local.answer(redirect("http://[::1"))
    with pytest.raises(OutboundError, match="broke the HTTP protocol: Invalid URL in location header"):
        OutboundClient(["127.0.0.1"]).send("POST", local.url, content=b"{}", timeout_seconds=5)
    assert len(local.received) == 1


def test_redirects_are_followed_up_to_the_cap(local: Receiver) -> None:
    client = OutboundClient(["127.0.0.1"])
    local.answer(redirect("/moved", 308))
    moved = client.send("POST", local.url + "/hook", content=b'{"a":1}', timeout_seconds=5)
    assert (moved.status_code, moved.redirects) == (200, 1)
    assert [(r.method, r.path, r.body) for r in local.received] == [("POST", "/hook", b'{"a":1}')] + [
        ("POST", "/moved", b'{"a":1}')
    ]
    local.otherwise = redirect("/again", 302)
    with pytest.raises(OutboundError, match="more than 3 redirects") as too_many:
        client.send("POST", local.url, content=b"{}", timeout_seconds=5)
    assert not too_many.value.retryable
    assert len(local.received) == 2 + 4


def test_a_303_is_followed_with_a_get_without_the_body(local: Receiver) -> None:
    local.answer(redirect("/see-other", 303))
    OutboundClient(["127.0.0.1"]).send("POST", local.url, content=b"{}", timeout_seconds=5)
    assert [(r.method, r.body) for r in local.received] == [("POST", b"{}"), ("GET", b"")]


def test_an_answer_that_never_ends_is_cut_off_at_the_deadline(local: Receiver) -> None:
    local.answer(drip)
    with pytest.raises(OutboundError, match="timed out") as late:
        OutboundClient(["127.0.0.1"]).send("POST", local.url, content=b"{}", timeout_seconds=0.5)
    assert late.value.retryable


def test_only_the_start_of_a_large_answer_is_read(local: Receiver) -> None:
    local.answer(status(200, b"y" * 200_000))
    response = OutboundClient(["127.0.0.1"], max_response_bytes=1000).send(
        "POST", local.url, content=b"{}", timeout_seconds=5
    )
    assert (len(response.body), response.truncated) == (1000, True)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def _trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def _serving(authority: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    return context


def test_https_to_a_pinned_address_checks_the_certificate_of_the_name(authority: trustme.CA) -> None:
    with receiver(tls=_serving(authority, "hooks.example.test")) as secure:
        port = secure.url.rsplit(":", 1)[1]
        client = OutboundClient(
            ["hooks.example.test", "wrong.example.test"],
            resolver=resolver_of({"hooks.example.test": ["127.0.0.1"], "wrong.example.test": ["127.0.0.1"]}),
            ssl_context=_trusting(authority),
        )
        response = client.send("POST", f"https://hooks.example.test:{port}/hook", content=b"{}", timeout_seconds=5)
        assert response.status_code == 200
        assert secure.server_names == ["hooks.example.test"], "SNI names the host, not the address"
        assert secure.received[0].headers["Host"] == f"hooks.example.test:{port}"
        with pytest.raises(OutboundError, match="could not connect.*certificate"):
            client.send("POST", f"https://wrong.example.test:{port}/hook", content=b"{}", timeout_seconds=5)
        assert len(secure.received) == 1
