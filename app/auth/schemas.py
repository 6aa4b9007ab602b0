"""API schemas for users, tokens and the caller's identity."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from app.auth.security import Role

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _integral(value: object) -> object:
    # JSON Schema counts 5.0 as the integer 5 (strict mode alone would refuse it); true and "5" stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# For every integer in a request body: the JSON number 5.0 is the integer 5. Put it after any Field
# constraints in the Annotated: before them, pydantic writes `ge`/`le` into the schema, not `minimum`.
JsonInt = BeforeValidator(_integral)


def _has_nul(value: object) -> bool:
    """Whether any string (or key) in a parsed JSON value holds U+0000. Iterative, without
    building paths: it runs over every request body, and a 1,000-point log-batch is 5,000 values."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            if any(isinstance(key, str) and "\x00" in key for key in item):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, BaseModel):  # a part built in code rather than parsed
            pending.extend(item.__dict__.values())
    return False


def _nul_place(value: object, where: str) -> str | None:
    """The dotted place of the first string (or key) holding U+0000, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, BaseModel):
        value = value.__dict__
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        place = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and "\x00" in key:
            return place
        found = _nul_place(item, place)
        if found is not None:
            return found
    return None


class StrictPart(BaseModel):
    """A model inside a request body: refuses unknown fields, so a typo is a 422 rather than silently
    ignored, and takes JSON types as the schema states them: no `true` or `"5"` for an integer, no 5
    for a string."""

    model_config = ConfigDict(extra="forbid", strict=True)


class StrictBody(StrictPart):
    """A whole request body: a StrictPart that also refuses U+0000 anywhere in it."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text or JSON: refuse it here with the field's name, for
        # every string of every body (free-form dicts and nested parts included), not as a 500 from
        # the database. Parts do not check again: the body's check covered them.
        if _has_nul(data):
            raise PydanticCustomError(
                "nul_character",
                "{field} holds a NUL character (U+0000)",
                {"field": _nul_place(data, "") or "the value"},
            )
        return data


class UserCreate(StrictBody):
    username: Username
    role: Annotated[Role, Strict(False)] = Role.viewer
    password: Password | None = Field(default=None, description="Omit to have one generated and returned once.")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    is_active: bool
    created_at: datetime


class UserCreated(UserRead):
    password: str | None = Field(description="The generated password, shown only in this response.")


class UserList(BaseModel):
    users: list[UserRead]


class TokenCreate(StrictBody):
    username: Username
    password: Password | None = Field(
        default=None, description="Log in with a password; omit when an admin mints a token for the user."
    )
    name: TokenName = "default"
    expires_in_days: Annotated[int, Field(ge=1, le=3650), JsonInt] | None = None


class TokenRead(BaseModel):
    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    token: str = Field(description="The secret, shown only in this response; the server keeps a hash.")


class TokenList(BaseModel):
    tokens: list[TokenRead]


class WhoAmI(BaseModel):
    id: int | None
    username: str
    role: Role
