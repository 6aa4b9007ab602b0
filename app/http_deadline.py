"""uvicorn's HTTP protocol with a deadline on request headers: a client that has not finished
sending them within the client timeout gets a 408 and the connection is closed."""

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from app.errors import PROBLEM_CONTENT_TYPE, problem_body

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _FastestProtocol
except ImportError:  # httptools is optional in uvicorn; h11 is always there
    _FastestProtocol = H11Protocol  # type: ignore[assignment,misc]


class _HeaderDeadline:
    """Mixed into uvicorn's protocols, which time only an idle keep-alive connection: without
    this a client that connects and trickles header bytes holds its connection for ever.

    The deadline runs from the connection (or the first byte of a following request on it) to
    the end of the request's headers, which is when uvicorn starts a new request cycle."""

    header_timeout_seconds: float = 30.0
    # Set by uvicorn's protocols.
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_deadline()
        cycle = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle:
            self._disarm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self._headers_timed_out)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_timed_out(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        detail = f"the request headers did not arrive within {self.header_timeout_seconds:g} s"
        body = json.dumps(problem_body(408, "request_timeout", "Request timeout", detail)).encode()
        # Written raw: the parser is in the middle of the headers and no request cycle exists.
        head = (
            "HTTP/1.1 408 Request Timeout\r\n"
            f"content-type: {PROBLEM_CONTENT_TYPE}\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def protocol_with_header_deadline(timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's fastest available HTTP protocol, with the header deadline."""
    return type(
        "HeaderDeadlineProtocol",
        (_HeaderDeadline, _FastestProtocol),
        {"header_timeout_seconds": timeout_seconds},
    )
