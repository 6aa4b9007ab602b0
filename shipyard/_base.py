"""The HTTP plumbing `shipyard.Client` and its resource mixins share: requests, problem answers
turned into exceptions, pagination, and streamed downloads."""

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from shipyard.errors import ShipyardError, TransportError, error_for

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# The server's largest page of a listing.
MAX_PAGE_SIZE = 1000
STREAM_CHUNK_BYTES = 1024 * 1024

try:
    SDK_VERSION = metadata.version("shipyard-mlops")
except metadata.PackageNotFoundError:
    SDK_VERSION = "0+unknown"


def segment(value: object) -> str:
    """One URL path segment: nothing the caller passes may add or climb path levels."""
    return quote(str(value), safe="")


def relpath(value: str) -> str:
    """A relative path (artifact path, metric key) kept as several segments."""
    return quote(value.strip("/"), safe="/")


def text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def join_path(directory: str | None, name: str) -> str:
    directory = (directory or "").strip("/")
    return f"{directory}/{name}" if directory else name


def chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(STREAM_CHUNK_BYTES):
        yield chunk


def content_digest(source: Path) -> str:
    """`sha-256=:<base64>:` of the file, the Content-Digest header value (RFC 9530)."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        for chunk in chunks(handle):
            digest.update(chunk)
    return f"sha-256=:{base64.b64encode(digest.digest()).decode()}:"


class ClientBase:
    """What every resource method stands on; `shipyard.Client.__init__` sets the attributes."""

    url: str
    _token: str | None
    _token_source: str | None
    _looked_in: list[str]
    _timeout: httpx.Timeout | None
    _http: httpx.Client

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"shipyard-sdk/{SDK_VERSION}"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        headers.update(extra or {})
        return headers

    def _endpoint(self, path: str, prefix: str = API_PREFIX) -> str:
        return f"{self.url}{prefix}{path}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Iterable[bytes] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefix: str = API_PREFIX,
        explain_401: bool = True,
    ) -> httpx.Response:
        """Send one request; an error answer raises its `ShipyardError` (a 401 says which URL was
        called and which token was sent, unless `explain_401` is off, as for a password login)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method,
                self._endpoint(path, prefix),
                json=json,
                params=query or None,
                content=content,
                headers=self._headers(headers),
                timeout=self._timeout or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach the Shipyard server at {self.url}: {exc}") from exc
        if response.is_error:
            raise self._error(response, explain_401)
        return response

    def _error(self, response: httpx.Response, explain_401: bool = True) -> ShipyardError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"detail": response.text.strip()[:500] or response.reason_phrase}
        if response.status_code == 401 and explain_401:
            body = {**body, "detail": self._explain_401(response, str(body.get("detail") or ""))}
        return error_for(response.status_code, body, response.headers.get("x-request-id"))

    def _explain_401(self, response: httpx.Response, server_says: str) -> str:
        """Which URL refused which token: the two things a newcomer needs to fix a 401."""
        called = str(response.request.url.copy_with(query=None))
        reason = f" ({server_says})" if server_says else ""
        if self._token:
            given = self._token_source in (None, "argument")
            source = "the token given" if given else f"the token from {self._token_source}"
            return f"{called} said 401{reason}: {source} was refused"
        places = ", ".join(self._looked_in) or "nowhere"
        return f"{called} said 401: no token found (looked in {places}); run `shipyard login` or set SHIPYARD_TOKEN"

    def _paginate(
        self, path: str, items_key: str, params: Mapping[str, Any], max_results: int | None, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if max_results is not None and max_results < 1:
            raise ValueError("max_results must be at least 1")
        items: list[dict[str, Any]] = []
        token = page_token
        while True:
            wanted = MAX_PAGE_SIZE if max_results is None else min(max_results - len(items), MAX_PAGE_SIZE)
            data = self._request("GET", path, params={**params, "max_results": wanted, "page_token": token}).json()
            items.extend(data[items_key])
            token = data.get("next_page_token")
            if not token or (max_results is not None and len(items) >= max_results):
                return items, token

    def _download(self, path: str, target: Path) -> Path:
        """Stream ``GET path`` into `target`, which only appears once complete."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._http.stream(
                "GET",
                self._endpoint(path),
                headers=self._headers({"Accept": "*/*"}),
                timeout=self._timeout or httpx.USE_CLIENT_DEFAULT,
            ) as response:
                if response.is_error:
                    response.read()
                    raise self._error(response)
                fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        for chunk in response.iter_bytes(STREAM_CHUNK_BYTES):
                            handle.write(chunk)
                    os.replace(partial, target)
                except BaseException:
                    Path(partial).unlink(missing_ok=True)
                    raise
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach the Shipyard server at {self.url}: {exc}") from exc
        return target

    def _upload(
        self, method: str, path: str, source: Path, content_type: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Send a file as the raw body, streamed from disk, with its SHA-256 declared."""
        # An explicit length keeps httpx from chunked encoding, so the server can refuse early; the
        # Content-Digest (RFC 9530) lets it refuse bytes damaged on the way instead of storing them.
        sent = {
            "Content-Type": content_type,
            "Content-Length": str(source.stat().st_size),
            "Content-Digest": content_digest(source),
            **(headers or {}),
        }
        with source.open("rb") as handle:
            return self._request(method, path, content=chunks(handle), headers=sent)
