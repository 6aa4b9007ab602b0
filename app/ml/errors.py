"""SpecError: bad input to the ML code (a spec, a gate, a data file) that the caller answers
with a 400 or a failed job whose message says exactly what to fix."""

from typing import Any


class SpecError(ValueError):
    """`field` names the offending input (e.g. "params.depth") when there is one; `extra`
    carries machine-readable details such as the allowed names or the line of a corrupt file."""

    def __init__(self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra: dict[str, Any] = extra or {}

    def __str__(self) -> str:
        return self.message
