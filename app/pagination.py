"""Opaque cursor tokens for paginated lists."""

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from app.errors import InvalidInput

T = TypeVar("T")


def encode_page_token(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def decode_page_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError) as exc:
        raise InvalidInput("page_token is not a token this server issued", field="page_token") from exc
    if not isinstance(cursor, dict):
        raise InvalidInput("page_token is not a token this server issued", field="page_token")
    return cursor


def int_from_cursor(cursor: dict[str, Any] | None, key: str) -> int | None:
    if cursor is None:
        return None
    value = cursor.get(key)
    # Cursors hold ids (32-bit columns) and offsets: anything larger was not issued here.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**31 - 1:
        raise InvalidInput("page_token is not a token this server issued", field="page_token")
    return value


def take_page(rows: Sequence[T], max_results: int, cursor: Callable[[T], dict[str, Any]]) -> tuple[list[T], str | None]:
    """A page from rows fetched with limit max_results + 1: the extra row only says that there
    is a next page, whose token is the cursor of the page's last row."""
    page = list(rows[:max_results])
    return page, encode_page_token(cursor(page[-1])) if len(rows) > max_results else None
