"""Validation of relative artifact paths from outside, and building of storage keys from them.

Checked where a path comes in and again in every store method, so a key can never escape.
"""

import re
import unicodedata
from urllib.parse import unquote

from app.errors import InvalidPath

MAX_PATH_LENGTH = 1024
# Each round peels one layer of percent-encoding; a path still changing after this many
# rounds is deliberately obfuscated, not a file name.
MAX_DECODE_ROUNDS = 5

_FORBIDDEN_CHARACTERS = {
    "\\": "a backslash",
    "#": "'#'",
    "?": "'?'",
    ";": "';'",
}
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def validate_relative_path(raw: str) -> str:
    """Return `raw` percent-decoded until stable, or raise InvalidPath naming what is wrong."""
    path = _decode_until_stable(raw)
    if not path:
        raise InvalidPath("path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"path is longer than {MAX_PATH_LENGTH} characters")
    for char in path:
        if unicodedata.category(char) == "Cc":
            raise InvalidPath(f"path holds a control character (U+{ord(char):04X})")
        if char in _FORBIDDEN_CHARACTERS:
            raise InvalidPath(f"path holds {_FORBIDDEN_CHARACTERS[char]}")
    if path.startswith("/"):
        raise InvalidPath("path must be relative, not start with '/'")
    if _DRIVE_LETTER.match(path):
        raise InvalidPath("path must not start with a drive letter")
    for segment in path.split("/"):
        if segment == "":
            raise InvalidPath("path holds an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise InvalidPath(f"path holds a '{segment}' segment")
    return path


def join_key(*parts: str) -> str:
    """Join server-minted parts (ids, names, validated relative paths) into one storage key."""
    if not parts:
        raise InvalidPath("a storage key needs at least one part")
    return validate_relative_path("/".join(validate_relative_path(part) for part in parts))


def _decode_until_stable(raw: str) -> str:
    current = raw
    for _ in range(MAX_DECODE_ROUNDS):
        try:
            decoded = unquote(current, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidPath("path is not valid UTF-8 once percent-decoded") from exc
        if decoded == current:
            return current
        current = decoded
    raise InvalidPath(f"path is still percent-encoded after {MAX_DECODE_ROUNDS} decodings")
