"""The webhook signature, pure so that the SDK's verifier can be tested against it:
``X-Shipyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>``. Signing the
time with the body lets a receiver refuse an old delivery replayed to it."""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Shipyard-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with the secret (UTF-8)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Shipyard-Signature value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={sign(secret, body, timestamp)}"
