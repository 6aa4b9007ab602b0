"""Checking Shipyard's webhook signatures in a receiver (standard library only):

    if not shipyard.webhooks.verify_signature(secret, request_body, request.headers["X-Shipyard-Signature"]):
        return 401

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>``."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Shipyard-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """Whether `header` is a Shipyard signature of `body` made with `secret` within
    `tolerance_seconds` of now (an older one may be a replay).

    Args:
        secret: the webhook's secret, as configured on the server.
        body: the request body exactly as received (the raw bytes, before any JSON parsing).
        header: the X-Shipyard-Signature header's value.
        tolerance_seconds: how far the signature's time may be from this machine's clock.

    Returns:
        True for a valid signature; False for a wrong one, an old one or a malformed header
        (never an exception).
    """
    timestamp, signatures = _parse(header)
    if timestamp is None or not signatures or abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    # Any v1 may match: a header may carry several while a secret is being rotated.
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def _parse(header: object) -> tuple[int | None, list[str]]:
    if not isinstance(header, str):
        return None, []
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value.isascii():
            signatures.append(value.lower())
    return timestamp, signatures
