"""Spooling an async upload stream to a temporary file under a size cap."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from app.errors import PayloadTooLarge
from app.storage.upload import SPOOL_MEMORY_BYTES, SpooledUpload, spool_upload


async def stream(data: bytes, chunk_size: int, pulled: list[int] | None = None) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_size):
        if pulled is not None:
            pulled.append(start)
        yield data[start : start + chunk_size]


def spool(data: bytes, max_bytes: int, chunk_size: int = 64 * 1024) -> SpooledUpload:
    return asyncio.run(spool_upload(stream(data, chunk_size), max_bytes))


@pytest.mark.parametrize("length", [0, 1000, SPOOL_MEMORY_BYTES + 3 * 1024 * 1024])
def test_spools_with_size_and_sha256(length: int) -> None:
    data = os.urandom(length)

    with spool(data, max_bytes=64 * 1024 * 1024, chunk_size=1024 * 1024) as upload:
        assert upload.size == length
        assert upload.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.file.tell() == 0
        assert upload.file.read() == data

    assert upload.file.closed


def test_exactly_the_limit_is_accepted() -> None:
    with spool(b"x" * 1000, max_bytes=1000, chunk_size=300) as upload:
        assert upload.size == 1000


def test_over_the_limit_stops_reading_at_once() -> None:
    pulled: list[int] = []

    async def run() -> None:
        await spool_upload(stream(b"x" * 10_000, 1000, pulled), max_bytes=2500)

    with pytest.raises(PayloadTooLarge) as caught:
        asyncio.run(run())

    assert caught.value.status == 413
    # The third chunk crosses the limit; nothing after it is read.
    assert len(pulled) == 3
