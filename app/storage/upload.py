"""Spooling of an HTTP upload stream to a temporary file, with its size and SHA-256, under a cap."""

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from app.errors import PayloadTooLarge

SPOOL_MEMORY_BYTES = 8 * 1024 * 1024


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


async def spool_upload(chunks: AsyncIterator[bytes], max_bytes: int) -> SpooledUpload:
    """Read `chunks` to the end; raise PayloadTooLarge as soon as they pass `max_bytes`."""
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
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    # SpooledTemporaryFile offers the whole binary file interface but is not typed as BinaryIO.
    return SpooledUpload(file=cast(BinaryIO, spooled), size=size, sha256=digest.hexdigest())


async def save_upload(chunks: AsyncIterator[bytes], max_bytes: int, path: Path) -> tuple[int, str]:
    """Stream `chunks` into the file at `path` (for tools that need a path, like a CSV reader);
    return (size, SHA-256). PayloadTooLarge as soon as the stream passes `max_bytes`."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"upload is larger than the limit of {max_bytes} bytes")
            digest.update(chunk)
            await asyncio.to_thread(out.write, chunk)
    return size, digest.hexdigest()
