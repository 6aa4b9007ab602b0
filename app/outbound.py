"""The one client for outbound HTTP (webhooks). It sends only to public addresses, or to hosts an
admin named exactly; it resolves each host itself, checks every address, connects to the address
it checked, follows redirects itself (checking each hop the same way), and is bounded in time and
in how much of an answer it reads."""

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import httpcore
import httpx

from app.errors import UrlRefused

IPAddress = IPv4Address | IPv6Address
# (host, port, seconds) -> the host's addresses; raises HostUnresolved.
Resolver = Callable[[str, int, float], list[IPAddress]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
# What is read of an answer at most; the rest is never read (the connection is closed).
MAX_RESPONSE_BYTES = 64 * 1024
ALLOW_SETTING = "SHIPYARD_OUTBOUND_ALLOW_HOSTS"

# Cloud instance metadata and the like: refused even for a host on the allow-list.
METADATA_ADDRESSES = frozenset(
    ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, Oracle, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS resolver
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",
        "fd00:ec2::123",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure's host channel (a public-looking address)
    )
)
_CARRIER_GRADE_NAT = ip_network("100.64.0.0/10")
_PRIVATE_NETWORKS = tuple(
    ip_network(network) for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
_NAT64 = ip_network("64:ff9b::/96")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the server does not send to `address` (a loopback, private, link-local, carrier-grade NAT,
    multicast, reserved, unspecified, metadata or otherwise non-public address), or None for a public
    one. An IPv4 address inside an IPv6 one (IPv4-mapped, 6to4, NAT64) is judged as itself."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = refusal_reason(embedded)
        return f"{inner} ({embedded} inside an IPv6 address)" if inner else None
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE_NETWORKS):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "a special-purpose address, not publicly routable"
    return None


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def allowed_host_entry(entry: str) -> str:
    """One entry of the allow-list, normalised: an IP address, or an exact host name in lowercase
    ASCII (an internationalised name in its xn-- form). Wildcards, networks, ports and URLs are
    refused (ValueError), so an entry never allows more than the one host it names."""
    text = entry.strip().lower().rstrip(".")
    try:
        return str(ip_address(text))
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(text):
        raise ValueError(
            f"{entry!r} is not an exact host name or IP address (no wildcards, networks, ports or schemes)"
        )
    return text


class AllowList:
    """The hosts an admin let through although their addresses are not public: exact names, and
    exact addresses."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        names, addresses = set(), set()
        for entry in map(allowed_host_entry, entries):
            try:
                addresses.add(ip_address(entry))
            except ValueError:
                names.add(entry)
        self.names = frozenset(names)
        self.addresses = frozenset(addresses)

    def check(self, host: str, addresses: list[IPAddress], field: str | None = None) -> None:
        """Raise UrlRefused unless every address of `host` may be sent to."""
        name = host.lower().rstrip(".")
        for address in addresses:
            if address in METADATA_ADDRESSES or _embedded_ipv4(address) in METADATA_ADDRESSES:
                raise _refused(f"{_where(name, address)} a cloud metadata address, which is never allowed", field)
        if name in self.names:
            return
        for address in addresses:
            reason = None if address in self.addresses else refusal_reason(address)
            if reason:
                raise _refused(
                    f"{_where(name, address)} {reason}; webhooks go to public addresses only, "
                    f"or to hosts named in {ALLOW_SETTING}",
                    field,
                )


def _where(host: str, address: IPAddress) -> str:
    literal = _ip_literal(host)
    return f"{address} is" if literal is not None else f"{host} resolves to {address},"


def _refused(reason: str, field: str | None) -> UrlRefused:
    if field is None:
        return UrlRefused(reason)
    return UrlRefused(f"field `{field}`: {reason}", field=field)


class HostUnresolved(Exception):
    """A host name that did not resolve (in time)."""


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def resolve_host(host: str, port: int, timeout: float) -> list[IPAddress]:
    """The addresses of `host` from the system resolver, within `timeout` seconds (getaddrinfo has
    no timeout of its own: it runs in a daemon thread that is left behind if it is late)."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    found: list[Any] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="outbound-resolve", daemon=True).start()
    if not done.wait(max(timeout, 0)):
        raise HostUnresolved(f"resolving {host} took longer than {timeout:.3g} s")
    if failure:
        raise HostUnresolved(f"{host} does not resolve ({failure[0]})")
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the address is what is judged.
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostUnresolved(f"{host} does not resolve")
    return addresses


def parse_url(url: str, field: str | None = None) -> httpx.URL:
    """`url` parsed, if it is one the server may send to as written: http or https, a host, no
    credentials, no spaces or control characters. UrlRefused (naming `field`) says what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise _refused(f"the URL is longer than {MAX_URL_LENGTH} characters", field)
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _refused("the URL holds a space or a control character", field)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _refused(f"not a valid URL ({exc})", field) from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        shown = f"scheme {parsed.scheme!r}" if parsed.scheme else "no scheme"
        raise _refused(f"the URL has {shown}; use http:// or https://", field)
    if parsed.userinfo:
        raise _refused("the URL carries credentials (user:password@); put none in it", field)
    if not parsed.raw_host:
        raise _refused("the URL has no host", field)
    if parsed.port == 0:
        raise _refused("the URL's port must be 1 to 65535", field)
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


@dataclass(frozen=True)
class OutboundResponse:
    """What came back: the status, at most MAX_RESPONSE_BYTES of the body (`truncated` when there
    was more), the URL that answered and how many redirects led there."""

    status_code: int
    body: bytes
    truncated: bool
    url: str
    redirects: int


class OutboundError(Exception):
    """A request that got no answer: no connection, a timeout, a broken answer, too many
    redirects. `retryable` says whether trying again may help."""

    def __init__(self, summary: str, *, retryable: bool = True) -> None:
        super().__init__(summary)
        self.summary = summary
        self.retryable = retryable


class OutboundClient:
    """Sends requests only where the address checks allow. Safe to share between threads: each
    send has its own connections and its own deadline.

    Args:
        allow_hosts: exact host names or IP addresses let through although not public.
        resolver: how host names become addresses (the system's resolver by default).
        ssl_context: the TLS trust to verify servers with (the certifi bundle by default).
    """

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        *,
        resolver: Resolver = resolve_host,
        ssl_context: ssl.SSLContext | None = None,
        max_redirects: int = MAX_REDIRECTS,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.allow = AllowList(allow_hosts)
        self._resolve = resolver
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self.max_redirects = max_redirects
        self.max_response_bytes = max_response_bytes

    def check_url(self, url: str, *, field: str = "url", timeout_seconds: float = 5.0) -> str:
        """The URL (normalised) if the server may send to it now: the form, then the host's
        addresses. Raises UrlRefused naming `field` with the reason, for a 400 when it is saved."""
        parsed = parse_url(url, field)
        host = parsed.raw_host.decode("ascii")
        try:
            addresses = self._resolve(host, _port(parsed), timeout_seconds)
        except HostUnresolved as exc:
            raise _refused(str(exc), field) from exc
        self.allow.check(host, addresses, field)
        return str(parsed)

    def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float,
    ) -> OutboundResponse:
        """Send one request, following up to `max_redirects` redirects, all within `timeout_seconds`.

        Raises:
            UrlRefused: the URL, or a redirect's target, may not be sent to (do not retry).
            OutboundError: no answer (see its `retryable`).
        """
        deadline = time.monotonic() + timeout_seconds
        transport = _GuardedTransport(_GuardedBackend(self.allow, self._resolve, deadline), self._ssl_context)
        sent = {**(headers or {}), "Accept-Encoding": "identity"}
        # trust_env off: no proxy from the environment (it would connect instead of the checked address).
        http = httpx.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout_seconds)
        with http:
            request = http.build_request(method, parse_url(url), content=content, headers=sent)
            for hop in range(self.max_redirects + 1):
                try:
                    response = http.send(request, stream=True)
                    try:
                        # httpx builds the redirect's request (the Location joined, 303 a GET without
                        # the body); its URL is checked here, its addresses when it connects.
                        if response.next_request is not None:
                            request = response.next_request
                            parse_url(str(request.url))
                            continue
                        body, truncated = _read_at_most(response, self.max_response_bytes)
                        return OutboundResponse(response.status_code, body, truncated, str(request.url), hop)
                    finally:
                        response.close()
                except httpx.TimeoutException as exc:
                    raise OutboundError(f"timed out (the limit is {timeout_seconds:g} s)") from exc
                except httpx.TransportError as exc:
                    raise OutboundError(_summary(exc)) from exc
        raise OutboundError(f"more than {self.max_redirects} redirects", retryable=False)


def _read_at_most(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _summary(exc: httpx.TransportError) -> str:
    kind = {
        httpx.ConnectError: "could not connect",
        httpx.RemoteProtocolError: "the receiver broke the HTTP protocol",
    }.get(type(exc), "the connection failed")
    detail = str(exc).strip()
    return f"{kind}: {detail}"[:500] if detail else kind


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, checks every address, and connects only to checked ones; every
    stream it opens stops at the send's deadline, however slowly the other side answers."""

    def __init__(self, allow: AllowList, resolve: Resolver, deadline: float) -> None:
        self._allow = allow
        self._resolve = resolve
        self._deadline = deadline
        self._plain = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._resolve(host, port, _within(self._deadline, timeout, httpcore.ConnectTimeout))
        except HostUnresolved as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        self._allow.check(host, addresses)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._plain.connect_tcp(
                    str(address),
                    port,
                    timeout=_within(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")


def _within(deadline: float, timeout: float | None, late: type[httpcore.TimeoutException]) -> float:
    """The timeout of the next network operation: the operation's own, cut to what is left."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise late("the request's time is up")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host (httpcore's default), so SNI and the certificate
        # check are for the name, although the connection went to a checked address.
        upgraded = self._inner.start_tls(
            ssl_context, server_hostname, _within(self._deadline, timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(upgraded, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# httpcore's errors as httpx's (most specific first), as httpx's own transport maps them.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


def _as_httpx_error(exc: Exception) -> Exception:
    for core_type, httpx_type in _ERRORS:
        if isinstance(exc, core_type):
            return httpx_type(str(exc))
    return exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _GuardedTransport(httpx.BaseTransport):
    """httpx over an httpcore pool that connects through the guarded backend (httpx's own
    transport takes no network backend)."""

    def __init__(self, backend: httpcore.NetworkBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            core_response = self._pool.handle_request(core_request)
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        body = core_response.stream
        if not isinstance(body, Iterable):
            raise TypeError("the connection pool answered with an async stream")
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(body),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
