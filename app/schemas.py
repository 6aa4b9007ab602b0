"""What every request schema shares: the strict request-body base and the JSON integer rule."""

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _integral(value: object) -> object:
    # JSON Schema counts 5.0 as the integer 5 (strict mode alone would refuse it); true and "5" stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# For every integer in a request body: the JSON number 5.0 is the integer 5. Put it after any Field
# constraints in the Annotated: before them, pydantic writes `ge`/`le` into the schema, not `minimum`.
JsonInt = BeforeValidator(_integral)


class StrictBody(BaseModel):
    """Request bodies (and their parts) refuse unknown fields, so a typo is a 422 rather than
    silently ignored, and take JSON types as the schema states them: no `true` or `"5"` for an
    integer, no 5 for a string. U+0000 anywhere in a body is refused before parsing, by the edge
    middleware (PostgreSQL can neither store nor compare it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
