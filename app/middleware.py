"""The HTTP edge as one pure ASGI middleware: request id, allowed hosts, body limits, deadlines and
media type, UTF-8, U+0000 and duplicate-key refusal, access log and Prometheus metrics."""

import asyncio
import codecs
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import jiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import request_id_var
from app.errors import PROBLEM_CONTENT_TYPE, RequestTimeout, problem_body, validation_problem
from app.observability import HttpMetrics
from app.route_methods import routes

logger = logging.getLogger("shipyard.access")

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONVERTOR = re.compile(r"\{(\w+):[^}]+\}")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Routes that take a raw byte stream (any non-JSON type) and enforce the upload cap themselves.
_STREAM_UPLOADS = (
    ("PUT", re.compile(r"^/api/v1/runs/[^/]+/artifacts/.+$")),
    ("POST", re.compile(r"^/api/v1/models/[^/]+/versions$")),
    ("POST", re.compile(r"^/api/v1/datasets/[^/]+/versions$")),
)


def _is_upload(method: str, path: str, content_type: str) -> bool:
    if _is_json(content_type):
        return False
    return any(method == verb and pattern.match(path) for verb, pattern in _STREAM_UPLOADS)


def _nul_query_parameter(scope: Scope) -> str | None:
    """The name of a query parameter holding U+0000, which PostgreSQL can neither store nor compare.
    JSON bodies are checked by _nul_body_path, path parameters by their patterns or the artifact path rules."""
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query:
        return None
    return next(
        (name or "?" for name, value in parse_qsl(query, keep_blank_values=True) if "\x00" in name + value), None
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _nul_body_path(body: bytes) -> list[str | int] | None:
    """Where a JSON body holds U+0000 (which PostgreSQL can neither store nor compare), or None.
    JSON can only spell it as the escape \\u0000, so a body without those bytes is clear at C
    speed; one with them (or with an escaped backslash before "u0000") is parsed and walked."""
    if b"\\u0000" not in body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON, or nested too deep: the app's parser reports that
    return _nul_path(document)


def _nul_path(document: object) -> list[str | int] | None:
    """The path to the first string or key holding U+0000."""
    for value, path in _walk(document):
        if isinstance(value, str) and "\x00" in value:
            return path
        if isinstance(value, dict) and (key := next((k for k in value if "\x00" in k), None)) is not None:
            return [*path, key]
    return None


def _walk(document: object) -> Iterator[tuple[object, list[str | int]]]:
    """Every value of a parsed JSON document with its path, depth first in document order;
    iterative, for any depth."""
    pending: list[tuple[object, list[str | int]]] = [(document, [])]
    while pending:
        value, path = pending.pop()
        yield value, path
        if isinstance(value, dict):
            pending.extend(reversed([(item, [*path, key]) for key, item in value.items()]))
        elif isinstance(value, list):
            pending.extend(reversed([(item, [*path, index]) for index, item in enumerate(value)]))


def _encoding_problem(body: bytes) -> str | None:
    """Why a JSON body is not UTF-8 without a byte order mark (RFC 8259 section 8.1), or None.
    json.loads, which FastAPI parses with, would detect UTF-16 and UTF-32 and read them."""
    if body.startswith(codecs.BOM_UTF8):
        return "it starts with a byte order mark"
    # UTF-16 and UTF-32 spell every ASCII character with NUL bytes, which UTF-8 JSON never holds
    # (a NUL character in a string must be the escape \u0000); their BOMs start with FF FE or FE FF.
    if b"\x00" in body or body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "it is UTF-16 or UTF-32"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte {exc.start} is not UTF-8"
    return None


class _DuplicateKeys(dict[str, Any]):
    """An object that named `key` more than once (json.loads keeps the last value silently)."""

    key: str


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    marked, seen = _DuplicateKeys(document), set()
    for key, _ in pairs:
        if key in seen:
            marked.key = key
            break
        seen.add(key)
    return marked


# Where the edge leaves the JSON body it parsed, for a route that would parse it again (predict).
_PARSED_BODY = "shipyard.parsed_json_body"


def parsed_json_body(scope: Scope) -> Any | None:
    """The request's JSON body as the edge parsed it (with jiter, which reads JSON as json.loads
    does, NaN included), or None when the edge did not parse it."""
    return scope.get(_PARSED_BODY)


def _duplicate_key_path(body: bytes, scope: Scope | None = None) -> list[str | int] | None:
    """Where a JSON object in the body names a key twice, or None. jiter checks for duplicates
    while it parses, in Rust: for a 1,000-metric log-batch about 0.7 ms, against 1.1 ms for the
    json.loads FastAPI parses with and 1.5 ms for json.loads with an object_pairs_hook (timeit,
    idle 2-core machine). Only a body it refuses is parsed again, in Python, to find the place."""
    try:
        document = jiter.from_json(body, catch_duplicate_keys=True)
    except ValueError:
        pass  # a duplicate key, or JSON that jiter reads more strictly than json.loads (lone surrogates)
    else:
        if scope is not None:
            scope[_PARSED_BODY] = document
        return None
    try:
        document = json.loads(body, object_pairs_hook=_mark_duplicates)
    except (ValueError, RecursionError):
        return None  # not JSON, or nested too deep: the app's parser reports that
    for value, path in _walk(document):
        if isinstance(value, _DuplicateKeys):
            return [*path, value.key]
    return None


def _host_name(host: str) -> str | None:
    """The name in a Host header (RFC 9110 section 7.2), lower-cased, without its port; None if
    it is malformed. An IPv6 address keeps its brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            return None
        name, port = host[: end + 1], host[end + 1 :]
    else:
        name, colon, digits = host.partition(":")
        port = colon + digits
    if port and not (port.startswith(":") and port[1:].isdigit()):
        return None
    return name or None


def allowed_host_names(hosts: list[str]) -> frozenset[str] | None:
    """The names a Host header may carry, as `_host_name` spells them; None when `*` allows any."""
    if "*" in hosts:
        return None
    bracketed = (f"[{host}]" if ":" in host and not host.startswith("[") else host for host in hosts)
    return frozenset(host.lower() for host in bracketed)


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        max_json_body_bytes: int,
        max_upload_bytes: int,
        allowed_hosts: list[str],
        client_timeout_seconds: float,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_json_body_bytes = max_json_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.allowed_hosts = allowed_host_names(allowed_hosts)
        self.client_timeout_seconds = client_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        method, path = scope["method"], scope["path"]
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            content_type = headers.get("content-type", "")
            upload = method in _MUTATING and _is_upload(method, path, content_type)
            host_refusal = self._refuse_host(scope, headers)
            refusal = self._refuse(scope, method, headers, content_type, upload)
            nul_parameter = _nul_query_parameter(scope)
            if host_refusal is not None:
                await _send_problem(send_with_id, 400, problem_body(*host_refusal))
            elif nul_parameter is not None:
                await _send_problem(send_with_id, 422, validation_problem([_nul_error(["query", nul_parameter])]))
            elif refusal is not None:
                await _send_problem(send_with_id, refusal[0], problem_body(*refusal))
            elif method not in _MUTATING:
                await self.app(scope, receive, send_with_id)
            elif upload:
                await self.app(scope, self._receive_within(receive), send_with_id)
            else:
                await self._serve_json(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # `{path:path}` -> `{path}`: the label names the parameter, not how it is matched.
            template = _CONVERTOR.sub(r"{\1}", getattr(route, "path", None) or "unmatched")
            self.metrics.observe(method, template, status_holder[0], elapsed)
            logger.info(
                "%s %s %s",
                method,
                template,
                status_holder[0],
                extra={
                    "fields": {
                        "method": method,
                        "route": template,
                        "status": status_holder[0],
                        "duration_ms": round(elapsed * 1000, 2),
                        "request_id": request_id,
                    }
                },
            )
            request_id_var.reset(token)

    def _refuse_host(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str, str] | None:
        # Checked first: a request naming a host this server does not serve (DNS rebinding, a
        # stray proxy) gets nothing else from it.
        if self.allowed_hosts is None:
            return None
        host = headers.get("host", "")
        if _host_name(host) in self.allowed_hosts:
            # Two Host headers (RFC 9110 section 7.2 allows one) could name two hosts to two readers.
            if sum(name == b"host" for name, _ in scope["headers"]) == 1:
                return None
            return 400, "host_not_allowed", "Host not allowed", "the request has more than one Host header"
        detail = f"this server does not serve the host {host!r}" if host else "the request names no Host"
        detail += "; SHIPYARD_ALLOWED_HOSTS lists the hosts it serves"
        return 400, "host_not_allowed", "Host not allowed", detail

    def _receive_within(self, receive: Receive) -> Receive:
        """`receive`, raising RequestTimeout when the client sends no body bytes for the client timeout."""
        timeout = self.client_timeout_seconds

        async def receive_within() -> Message:
            try:
                async with asyncio.timeout(timeout):
                    return await receive()
            except TimeoutError:
                raise RequestTimeout(f"the client sent no body bytes for {timeout:g} s") from None

        return receive_within

    def _refuse(
        self, scope: Scope, method: str, headers: dict[str, str], content_type: str, upload: bool
    ) -> tuple[int, str, str, str] | None:
        if method not in _MUTATING:
            return None
        limit = self.max_upload_bytes if upload else self.max_json_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return 413, "payload_too_large", "Payload too large", f"the body is {length} bytes; the limit is {limit}"
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        # Only where a route takes this method: elsewhere routing answers 404 or 405, which say more.
        if has_body and not upload and not _is_json(content_type) and routes(scope, method):
            sent = content_type or "a body without a Content-Type"
            return 415, "unsupported_media_type", "Unsupported media type", f"this takes application/json, not {sent}"
        return None

    async def _serve_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A JSON body is read whole here (FastAPI would read it whole anyway): its bytes are
        # counted as they arrive, since a chunked body has no Content-Length, and it is checked
        # for U+0000 before anything parses it.
        limit, size, messages = self.max_json_body_bytes, 0, []
        receive_within = self._receive_within(receive)
        while True:
            try:
                message = await receive_within()
            except RequestTimeout as exc:
                await _send_problem(send, 408, exc.problem(), close=True)
                return
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app will see it
            size += len(message.get("body", b""))
            if size > limit:
                detail = f"the body exceeds {limit} bytes"
                await _send_problem(send, 413, problem_body(413, "payload_too_large", "Payload too large", detail))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        # Where no route takes this method on this path, routing's 404 or 405 says more than a body check.
        encoding = _encoding_problem(body)
        if encoding is not None and routes(scope, scope["method"]):
            detail = f"a JSON body is UTF-8 without a byte order mark (RFC 8259); {encoding}"
            await _send_problem(send, 400, problem_body(400, "json_not_utf8", "JSON body not UTF-8", detail))
            return
        nul_path = _nul_body_path(body)
        if nul_path is not None:
            await _send_problem(send, 422, validation_problem([_nul_error(["body", *nul_path])]))
            return
        duplicate_path = _duplicate_key_path(body, scope) if body else None
        if duplicate_path is not None and routes(scope, scope["method"]):
            error = {"loc": ["body", *duplicate_path], "msg": "names this key more than once", "type": "duplicate_key"}
            await _send_problem(send, 422, validation_problem([error]))
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _nul_error(loc: list[str | int]) -> dict[str, Any]:
    return {"loc": loc, "msg": "holds a NUL character (U+0000)", "type": "nul_character"}


async def _send_problem(send: Send, status: int, problem: dict[str, Any], *, close: bool = False) -> None:
    body = json.dumps(problem).encode()
    headers: list[Any] = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        # The rest of the request may never come: the connection cannot carry another one.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
