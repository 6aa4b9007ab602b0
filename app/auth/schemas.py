"""API schemas for users, tokens and the caller's identity."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.auth.security import Role
from app.registry.schemas import ModelName
from app.schemas import JsonInt, StrictBody

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
# A new password's length is in the schema (so clients see it); the common-password half of the
# rule is the service's (app.auth.passwords), which also holds the first admin to both.
NewPassword = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class UserCreate(StrictBody):
    username: Username
    role: Annotated[Role, Strict(False)] = Role.viewer
    password: NewPassword | None = Field(
        default=None,
        description=f"Omit to have one generated and returned once; at least {MIN_PASSWORD_LENGTH} characters, "
        "and not among the most common passwords.",
    )


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
    # Said in the schema too: a predict token names its deployments and takes no password (an
    # admin mints it); any other token names none.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "properties": {"scope": {"const": "predict"}},
                    "required": ["scope", "deployments"],
                    "not": {"required": ["password"]},
                },
                {"properties": {"scope": {"const": "full"}}, "not": {"required": ["deployments"]}},
            ]
        }
    )

    username: Username
    password: Password | None = Field(
        default=None, description="Log in with a password; omit when an admin mints a token for the user."
    )
    name: TokenName = "default"
    expires_in_days: Annotated[int, Field(ge=1, le=3650), JsonInt] | None = None
    scope: Literal["full", "predict"] = Field(
        default="full",
        description="`predict`: the token may only predict (and read V2 metadata) on `deployments`; admin only.",
    )
    deployments: Annotated[list[ModelName], Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = Field(
        default=None, description="The deployments a `predict` token may predict on (exact names, case-folded)."
    )

    @model_validator(mode="after")
    def _scope_names_deployments(self) -> Self:
        if (self.scope == "predict") != (self.deployments is not None):
            raise ValueError("a predict-scoped token names its deployments, and only such a token does")
        return self


class TokenRead(BaseModel):
    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    scope: str = Field(default="full", description="`full` (the user's role) or `predict`.")
    deployments: list[str] | None = Field(default=None, description="What a `predict` token may predict on.")
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    scope: str = Field(default="full", description="`full` (the user's role) or `predict`.")
    deployments: list[str] | None = Field(default=None, description="What a `predict` token may predict on.")
    token: str = Field(description="The secret, shown only in this response; the server keeps a hash.")


class TokenList(BaseModel):
    tokens: list[TokenRead]


class WhoAmI(BaseModel):
    id: int | None
    username: str
    role: Role
