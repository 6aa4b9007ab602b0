"""Spooling of an HTTP upload stream to a temporary file, with its size and SHA-256, under a cap,
checked against the digest the client declared (RFC 9530 Content-Digest)."""

import asyncio
import base64
import binascii
import hashlib
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from app.errors import DigestMismatch, InvalidContentDigest, PayloadTooLarge

SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
# One member of the Content-Digest dictionary (RFC 9530 §2, RFC 8941 §3.2): a lowercase key and a
# byte sequence `:<base64>:`, parameters after `;` allowed and ignored.
_DIGEST_MEMBER = re.compile(r"^([a-z*][a-z0-9_.*-]*)=:([A-Za-z0-9+/=]*):(;.*)?$")


def parse_content_digest(values: list[str]) -> str | None:
    """The SHA-256 (hex) the client declared in `Content-Digest: sha-256=:<base64>:`, or None
    when it sent no such header. InvalidContentDigest, naming the header, when it is malformed
    or holds no sha-256 (the one algorithm checked here; RFC 9530 lets a server choose)."""
    if not values:
        return None
    declared: dict[str, str] = {}
    for member in ",".join(values).split(","):
        match = _DIGEST_MEMBER.match(member.strip())
        if match is None:
            raise InvalidContentDigest(
                f"the Content-Digest header member {member.strip()[:80]!r} is not algorithm=:base64: (RFC 9530)"
            )
        declared[match.group(1)] = match.group(2)
    if "sha-256" not in declared:
        raise InvalidContentDigest(
            f"the Content-Digest header holds {', '.join(sorted(declared))} but no sha-256, the algorithm checked here"
        )
    try:
        raw = base64.b64decode(declared["sha-256"], validate=True)
    except binascii.Error as exc:
        raise InvalidContentDigest("the Content-Digest header's sha-256 value is not valid base64") from exc
    if len(raw) != hashlib.sha256().digest_size:
        raise InvalidContentDigest(f"the Content-Digest header's sha-256 value is {len(raw)} bytes, not 32")
    return raw.hex()


def content_digest(sha256_hex: str) -> str:
    """The Content-Digest header value for a SHA-256 given in hex."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def check_digest(actual_sha256: str, declared_sha256: str | None) -> None:
    if declared_sha256 is not None and actual_sha256 != declared_sha256:
        raise DigestMismatch(
            f"the body's SHA-256 is {actual_sha256}, not the {declared_sha256} its Content-Digest header declares; "
            "nothing was stored",
            expected=declared_sha256,
            actual=actual_sha256,
        )


@dataclass
class SpooledUpload:
    """An upload held in `file` (at position 0); close it, or use it as a context manager."""

    file: BinaryIO
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "SpooledUpload":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def spool_upload(
    chunks: AsyncIterator[bytes], max_bytes: int, declared_sha256: str | None = None
) -> SpooledUpload:
    """Read `chunks` to the end; raise PayloadTooLarge as soon as they pass `max_bytes`, and
    DigestMismatch at the end when their SHA-256 is not `declared_sha256` (when given)."""
    # Not a `with` block: the file outlives this call, handed to the caller who closes it.
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, mode="w+b")  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0

    def absorb(chunk: bytes) -> None:
        digest.update(chunk)
        spooled.write(chunk)

    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"upload is larger than the limit of {max_bytes} bytes")
            if size > SPOOL_MEMORY_BYTES:
                # Past the spool threshold the write hits the disk; keep it off the event loop.
                await asyncio.to_thread(absorb, chunk)
            else:
                absorb(chunk)
        check_digest(digest.hexdigest(), declared_sha256)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    # SpooledTemporaryFile offers the whole binary file interface but is not typed as BinaryIO.
    return SpooledUpload(file=cast(BinaryIO, spooled), size=size, sha256=digest.hexdigest())


async def save_upload(
    chunks: AsyncIterator[bytes], max_bytes: int, path: Path, declared_sha256: str | None = None
) -> tuple[int, str]:
    """Stream `chunks` into the file at `path` (for tools that need a path, like a CSV reader);
    return (size, SHA-256). PayloadTooLarge as soon as the stream passes `max_bytes`,
    DigestMismatch when the SHA-256 is not `declared_sha256` (the caller removes `path`)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"upload is larger than the limit of {max_bytes} bytes")
            digest.update(chunk)
            await asyncio.to_thread(out.write, chunk)
    check_digest(digest.hexdigest(), declared_sha256)
    return size, digest.hexdigest()
