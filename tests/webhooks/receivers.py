"""Real HTTP receivers on 127.0.0.1, each in a thread, answering as a test scripts them: a status,
a redirect, never, byte by byte, or with a body that does not end."""

import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[["_Handler"], None]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    # Scripted answers, one per request in order; then `otherwise` for every request after them.
    answers: deque[Answer] = field(default_factory=deque)
    otherwise: Answer | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    # Bytes of a body the endless answer managed to write before the client went away.
    endless_bytes_sent: int = 0
    # The server name TLS clients asked for (SNI).
    server_names: list[str] = field(default_factory=list)

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def next_answer(self) -> Answer:
        if self.answers:
            return self.answers.popleft()
        return self.otherwise or status(200, b"ok")


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.receiver.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
        self.receiver.next_answer()(self)

    do_POST = do_GET = do_PUT = _handle


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: _Handler) -> None:
        handler.send_response(code)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def redirect(location: str, code: int = 307) -> Answer:
    return status(code, headers={"Location": location})


def hang(handler: _Handler) -> None:
    """Read the request and never answer (until the receiver stops)."""
    handler.receiver.stopping.wait(60)
    handler.close_connection = True


def drip(handler: _Handler) -> None:
    """Answer one byte at a time, each sooner than any read timeout, for ever (until it stops)."""
    line = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100_000
    for byte in line:
        if handler.receiver.stopping.wait(0.05):
            break
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            break
    handler.close_connection = True


def endless(handler: _Handler) -> None:
    """A 200 that declares a gigabyte and writes until the client hangs up."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(1024**3))
    handler.end_headers()
    chunk = b"x" * 65536
    while not handler.receiver.stopping.is_set():
        try:
            handler.wfile.write(chunk)
            handler.wfile.flush()
        except OSError:
            break
        handler.receiver.endless_bytes_sent += len(chunk)
    handler.close_connection = True


@contextmanager
def receiver(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver listening on `host` (a free port) until the block ends; with `tls`, over HTTPS."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    scheme = "https" if tls else "http"
    state = Receiver(url=f"{scheme}://{host}:{server.server_address[1]}")
    if tls is not None:

        def remember_name(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext) -> None:
            state.server_names.append(name or "")

        tls.sni_callback = remember_name
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    handler = type("Handler", (_Handler,), {"receiver": state})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
