"""The Content-Digest header (RFC 9530) an upload may carry: parsed strictly, checked while spooling."""

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import pytest

from app.errors import DigestMismatch, InvalidContentDigest
from app.storage.upload import content_digest, parse_content_digest, spool_upload

BODY = b"the bytes of an upload"
SHA256 = hashlib.sha256(BODY).hexdigest()
B64 = base64.b64encode(hashlib.sha256(BODY).digest()).decode()


async def stream(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 5):
        yield data[start : start + 5]


@pytest.mark.parametrize(
    "values",
    [
        [f"sha-256=:{B64}:"],
        [f"  sha-256=:{B64}:  "],
        [f"sha-512=:{base64.b64encode(b'x' * 64).decode()}:, sha-256=:{B64}:"],
        ["sha-512=:AAAA:", f"sha-256=:{B64}:"],
        [f"sha-256=:{B64}:;note=1"],
    ],
)
def test_a_sha_256_member_is_read(values: list[str]) -> None:
    assert parse_content_digest(values) == SHA256


def test_no_header_declares_nothing() -> None:
    assert parse_content_digest([]) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (SHA256, "not algorithm=:base64:"),
        (f"sha-256={B64}", "not algorithm=:base64:"),
        (f"SHA-256=:{B64}:", "not algorithm=:base64:"),
        ("sha-256=:not base64!:", "not algorithm=:base64:"),
        ("sha-256=:AAA:", "not valid base64"),
        ("sha-256=:AAAA:", "3 bytes, not 32"),
        ("sha-512=:AAAA:", "no sha-256"),
        ("", "not algorithm=:base64:"),
    ],
)
def test_a_malformed_header_is_refused_naming_it(value: str, message: str) -> None:
    with pytest.raises(InvalidContentDigest, match=message) as caught:
        parse_content_digest([value])

    assert "Content-Digest" in caught.value.detail
    assert (caught.value.status, caught.value.code) == (400, "invalid_content_digest")


def test_the_header_value_round_trips() -> None:
    assert parse_content_digest([content_digest(SHA256)]) == SHA256


def test_spooling_checks_the_declared_digest() -> None:
    with asyncio.run(spool_upload(stream(BODY), 1024, SHA256)) as upload:
        assert upload.file.read() == BODY

    with pytest.raises(DigestMismatch, match="nothing was stored") as caught:
        asyncio.run(spool_upload(stream(BODY + b"!"), 1024, SHA256))
    assert caught.value.extra == {"expected": SHA256, "actual": hashlib.sha256(BODY + b"!").hexdigest()}
