"""HTTP endpoints for tokens, users and the caller's identity."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from app.auth import service
from app.auth.schemas import (
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenRead,
    UserCreate,
    UserCreated,
    UserList,
    UserRead,
    WhoAmI,
)
from app.deps import API_PREFIX, Admin, MaybePrincipal, SessionDep, SettingsDep, Viewer
from app.errors import (
    InvalidInput,
    TokenNotFound,
    TooManyLoginAttempts,
    Unauthenticated,
    UserConflict,
    UserNotFound,
    WeakPassword,
    error_responses,
)

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


@router.post(
    "/auth/tokens",
    summary="Log in, or mint a token for a user",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses=error_responses(Unauthenticated, UserNotFound, TooManyLoginAttempts, InvalidInput),
    # The token is optional here (a password logs in without one): `{}` makes it so in the schema.
    openapi_extra={"security": [{}]},
)
def create_token(
    body: TokenCreate, request: Request, session: SessionDep, settings: SettingsDep, actor: MaybePrincipal
) -> TokenCreated:
    """Log in with a password for a token, or (admin) mint a token for any user, optionally
    predict-only (`scope: predict` with the `deployments` it may predict on). Failed logins
    are limited per username and per client address: past the limit, 429 with Retry-After."""
    token, secret = service.issue_token(
        session,
        actor,
        username=body.username,
        password=body.password,
        name=body.name,
        expires_in_days=body.expires_in_days,
        client_address=request.client.host if request.client else "unknown",
        settings=settings,
        predict_on=body.deployments,
    )
    return TokenCreated(
        id=token.id,
        name=token.name,
        username=body.username,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        scope=token.scope or "full",
        deployments=token.deployments,
        token=secret,
    )


@router.get(
    "/auth/tokens", summary="List API tokens", response_model=TokenList, responses=error_responses(UserNotFound)
)
def list_tokens(
    session: SessionDep, _: Admin, username: Annotated[str | None, Query(max_length=64)] = None
) -> TokenList:
    rows = service.list_tokens(session, username)
    return TokenList(
        tokens=[
            TokenRead(
                id=t.id,
                name=t.name,
                username=name,
                prefix=t.prefix,
                created_at=t.created_at,
                expires_at=t.expires_at,
                revoked_at=t.revoked_at,
                scope=t.scope or "full",
                deployments=t.deployments,
            )
            for t, name in rows
        ]
    )


@router.delete(
    "/auth/tokens/{token_id}",
    summary="Revoke an API token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(TokenNotFound),
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="A token id (a whole number from 1).")],
    session: SessionDep,
    actor: Admin,
) -> None:
    service.revoke_token(session, actor, token_id)


@router.get("/auth/whoami", summary="Who the token belongs to", response_model=WhoAmI, responses=error_responses())
def whoami(actor: Viewer) -> WhoAmI:
    return WhoAmI(id=actor.user_id, username=actor.username, role=actor.role)


@router.post(
    "/users",
    summary="Create a user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserCreated,
    responses=error_responses(UserConflict, WeakPassword),
)
def create_user(body: UserCreate, session: SessionDep, actor: Admin) -> UserCreated:
    user, generated = service.create_user(session, actor, body.username, body.role, body.password)
    return UserCreated(**UserRead.model_validate(user).model_dump(), password=generated)


@router.get("/users", summary="List users", response_model=UserList, responses=error_responses())
def list_users(session: SessionDep, _: Admin) -> UserList:
    return UserList(users=[UserRead.model_validate(u) for u in service.list_users(session)])
