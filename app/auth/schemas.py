"""API schemas for users, tokens and the caller's identity."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from app.auth.security import Role
from app.schemas import JsonInt, StrictBody

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


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
