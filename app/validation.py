"""Pydantic's validation errors as one human sentence each ("field `estimater` is not a known field;
did you mean `estimator`?"), for 422 details, job specs and the CLI."""

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

# The sentences of the first few errors make the detail; the `errors` list has them all.
DETAIL_ERRORS = 3
_SHOWN_INPUT_CHARS = 60
_QUOTED = re.compile(r"'([^']*)'")
_WHERE = {"path": "path parameter", "query": "query parameter", "header": "header", "cookie": "cookie"}
# The patterns the API uses for ids and names, in words; any other pattern is quoted as it is.
PATTERN_WORDS = {
    r"^[0-9a-f]{32}$": "an id of 32 lowercase hex characters, as the server gave it",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$": (
        "a name of 1 to 128 letters, digits, `_`, `.` or `-` that starts with a letter or digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$": (
        "a name of 1 to 256 letters, digits, `_`, `.` or `-` that starts with a letter or digit"
    ),
    r"^[a-z0-9_-]*[a-z_-][a-z0-9_-]*$": "an alias of lowercase letters, digits, `_` or `-`, not only digits",
    r"^(latest|[0-9]{1,9})$": "a version number or `latest`",
    r"^([0-9]{1,9}|latest|[a-z0-9_-]{1,64})$": "a version number, an alias or `latest`",
}


def location(loc: Sequence[Any]) -> str:
    """Where an error is, in words: ``field `spec.estimator```, ``path parameter `job_id```, or ``the body``."""
    parts = [str(part) for part in loc]
    if parts and parts[0] in _WHERE and len(parts) > 1:
        return f"{_WHERE[parts[0]]} `{'.'.join(parts[1:])}`"
    if parts and parts[0] == "body":
        parts = parts[1:]
    return f"field `{'.'.join(parts)}`" if parts else "the body"


def _shown(value: Any) -> str | None:
    """A short quote of what the client sent, for scalars only (never a whole body)."""
    if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
        return None
    text = repr(value)
    return text if len(text) <= _SHOWN_INPUT_CHARS else f"{text[: _SHOWN_INPUT_CHARS - 4]}...'"


def _lower_first(message: str) -> str:
    """ "Input should be…" reads "input should be…" after a colon; an acronym ("URL") stays."""
    first = message.split(" ", 1)[0]
    return message if len(first) > 1 and first.isupper() else message[:1].lower() + message[1:]


def _did_you_mean(value: str, choices: Iterable[str], quote: str) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"; did you mean {quote}{close[0]}{quote}?" if close else ""


def sentence(error: Mapping[str, Any], allowed: Sequence[str] | None = None, expects: str | None = None) -> str:
    """One sentence for one pydantic error (its ``loc``, ``type``, ``msg`` and, when present, ``input``
    and ``ctx``). `allowed` lists the field names valid where the error is (a typo gets a suggestion);
    `expects` says in words what a parameter must be (its OpenAPI description)."""
    loc = list(error.get("loc", ()))
    where = location(loc)
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    given = _shown(error.get("input"))
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        if not allowed:
            return f"{where} is not a known field"
        hint = _did_you_mean(name, allowed, "`") or f" (known: {', '.join(sorted(allowed))})"
        return f"{where} is not a known field{hint}"
    if kind in ("literal_error", "enum") and isinstance(error.get("input"), str):
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = _did_you_mean(error["input"], choices, "'") or (f"; expected {ctx['expected']}" if choices else "")
        return f"{where}: unknown value {given}{hint}"
    words = PATTERN_WORDS.get(str(ctx.get("pattern"))) if kind == "string_pattern_mismatch" else None
    if words or (expects and loc and loc[0] == "path"):
        got = f"; got {given}" if given is not None else ""
        return f"{where} must be {words or _lower_first(str(expects).rstrip('.'))}{got}"
    if kind == "json_invalid":
        reason = ctx.get("error")
        return f"the body is not valid JSON ({reason})" if reason else f"the body is not valid JSON: {error.get('msg')}"
    message = _lower_first(str(error.get("msg", "invalid value")))
    return f"{where}: {message}" + (f"; got {given}" if given is not None and kind != "string_too_long" else "")


def detail(sentences: Sequence[str]) -> str:
    """The problem's ``detail``: the first sentences joined, and how many more the ``errors`` list has."""
    if not sentences:
        return "invalid request"
    shown = "; ".join(sentences[:DETAIL_ERRORS])
    more = len(sentences) - DETAIL_ERRORS
    return f"{shown} (and {more} more in `errors`)" if more > 0 else shown


def fields_at(model: type[BaseModel] | None, loc: Sequence[Any]) -> list[str] | None:
    """The field names of the model found by following `loc` from `model` (through optional,
    list and dict fields), or None when the path leaves the models."""
    current: Any = model
    for part in loc:
        found = _model_in(current)
        if found is not None and isinstance(part, str) and part in found.model_fields:
            current = found.model_fields[part].annotation
            continue
        # A list index or a dict key: go on with the element's type.
        current = _element(current)
        if current is None:
            return None
    found = _model_in(current)
    return [field.alias or name for name, field in found.model_fields.items()] if found else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model `annotation` is, or holds as `X | None`."""
    for candidate in (annotation, *_union_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _element(annotation: Any) -> Any:
    """The value type of list[X], dict[K, X] (or either `| None`), else None."""
    for candidate in (annotation, *_union_args(annotation)):
        if typing.get_origin(candidate) in (list, dict) and typing.get_args(candidate):
            return typing.get_args(candidate)[-1]
    return None


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return ()
