"""Use cases for users and tokens: authentication, role checks, creation and revocation."""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth import repository
from app.auth.passwords import password_problem
from app.auth.security import Role, hash_password, hash_token, new_password, new_token, verify_password
from app.auth.token_cache import forget_tokens_after_commit
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import ApiToken, LoginFailure, User
from app.errors import (
    Forbidden,
    InvalidInput,
    LoginFailed,
    TokenNotFound,
    TooManyLoginAttempts,
    Unauthenticated,
    UserNotFound,
    WeakPassword,
)
from app.names import fold_name
from app.settings import Settings

PREDICT_SCOPE = "predict"

# Who a failed login is audited as: nobody has been authenticated.
_ANONYMOUS = Principal(user_id=None, username="anonymous", role=Role.viewer)


def authenticate_token(session: Session, token_hash: str) -> tuple[Principal, datetime | None]:
    """Who the token acts as, and when the token expires."""
    found = repository.find_token_with_user(session, token_hash)
    if found is None:
        raise Unauthenticated("the token is not valid")
    api_token, user = found
    if api_token.revoked_at is not None:
        raise Unauthenticated("the token has been revoked")
    if api_token.expires_at is not None and api_token.expires_at <= utcnow():
        raise Unauthenticated("the token has expired")
    if not user.is_active:
        raise Unauthenticated("the user is deactivated")
    scoped = frozenset(api_token.deployments or ()) if api_token.scope == PREDICT_SCOPE else None
    principal = Principal(user_id=user.id, username=user.username, role=Role(user.role), deployments=scoped)
    return principal, api_token.expires_at


def require_role(principal: Principal, needed: Role) -> None:
    if principal.predict_only:
        raise Forbidden("this token may only predict on the deployments it names")
    if not principal.role.allows(needed):
        raise Forbidden(f"this needs the {needed.value} role; {principal.username} is {principal.role.value}")


def act_as(session: Session, user_id: int, needed: Role) -> Principal:
    """The user as they stand now, for work started on their behalf while they are away (a
    schedule's tick): Forbidden, saying why, when they are gone, deactivated or below `needed`."""
    user = repository.get_user(session, user_id)
    if user is None:
        raise Forbidden(f"user #{user_id} no longer exists")
    if not user.is_active:
        raise Forbidden(f"user {user.username!r} is deactivated")
    principal = Principal(user_id=user.id, username=user.username, role=Role(user.role))
    if not principal.role.allows(needed):
        raise Forbidden(f"user {user.username!r} is {user.role} now; this needs the {needed.value} role")
    return principal


def require_predict(principal: Principal, deployment: str) -> None:
    """A viewer may predict on any deployment; a predict-only token only on those it names."""
    if principal.deployments is not None:
        if fold_name(deployment) not in principal.deployments:
            raise Forbidden(f"this token may not predict on deployment {deployment!r}", deployment=deployment)
        return
    if not principal.role.allows(Role.viewer):
        raise Forbidden(f"this needs the viewer role; {principal.username} is {principal.role.value}")


def require_feedback(principal: Principal, deployment: str) -> None:
    """Feedback writes: an editor, or a predict-only token naming the deployment (the application
    that predicts is the one that learns the outcome)."""
    if principal.predict_only:
        require_predict(principal, deployment)
    else:
        require_role(principal, Role.editor)


def create_user(
    session: Session, actor: Principal, username: str, role: Role, password: str | None
) -> tuple[User, str | None]:
    if password is not None:
        check_password(password)
    generated = None if password else new_password()
    user = repository.add_user(
        session, User(username=username, role=role.value, password_hash=hash_password(password or generated or ""))
    )
    audit.record(session, actor, "user.create", "user", user.username, {"role": role.value})
    return user, generated


def check_password(password: str) -> None:
    """The password rule, for every password a user gets (creation, the first admin, any change)."""
    problem = password_problem(password)
    if problem is not None:
        raise WeakPassword(f"password: {problem}")


def list_users(session: Session) -> Sequence[User]:
    return repository.list_users(session)


def has_users(session: Session) -> bool:
    return repository.count_users(session) > 0


def issue_token(
    session: Session,
    actor: Principal | None,
    *,
    username: str,
    password: str | None,
    name: str,
    expires_in_days: int | None,
    client_address: str,
    settings: Settings,
    predict_on: Sequence[str] | None = None,
) -> tuple[ApiToken, str]:
    """A token for `username`: by password (login), or minted by an admin for any user. With
    `predict_on` (admin only), a predict-only token for those deployments and nothing else."""
    if password is not None:
        if predict_on is not None:
            raise InvalidInput("a predict-only token is minted by an admin for a user, without a password")
        user = _log_in(session, settings, username, password, client_address)
        actor = Principal(user_id=user.id, username=user.username, role=Role(user.role))
        return _mint(session, actor, user, name, expires_in_days)
    if actor is None:
        raise Unauthenticated("log in with a password, or send an admin token to mint one for a user")
    require_role(actor, Role.admin)
    found = repository.get_user_by_name(session, username)
    if found is None:
        raise UserNotFound(f"no user named {username!r}")
    return _mint(session, actor, found, name, expires_in_days, predict_on)


def _log_in(session: Session, settings: Settings, username: str, password: str, client_address: str) -> User:
    """The user whose password this is, within the rate limit on failures per username and per
    client address (a sliding window, in the database so that every server process counts them)."""
    repository.lock_login_keys(session, [f"user:{username}", f"address:{client_address}"])
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    limits = (
        ("this username", settings.login_max_failures_per_user, {"username": username}),
        ("this client address", settings.login_max_failures_per_address, {"client_address": client_address}),
    )
    for what, limit, key in limits:
        count, oldest = repository.login_failures_since(session, now - window, **key)
        if count >= limit and oldest is not None:
            retry_after = max(1, math.ceil((oldest + window - now).total_seconds()))
            detail = {"client_address": client_address, "locked": what, "retry_after": retry_after}
            audit.record(session, _ANONYMOUS, "auth.login_locked", "user", username, detail)
            raise TooManyLoginAttempts(
                f"too many failed logins for {what}; retry in {retry_after} s", retry_after=retry_after
            )
    user = repository.get_user_by_name(session, username)
    # Verified even for an unknown or deactivated user, so the answer takes as long either way.
    matches = verify_password(user.password_hash if user else None, password)
    if user is None or not user.is_active or not matches:
        repository.delete_login_failures(session, before=now - window)
        repository.add_login_failure(session, LoginFailure(username=username, client_address=client_address))
        audit.record(session, _ANONYMOUS, "auth.login_failed", "user", username, {"client_address": client_address})
        raise LoginFailed("wrong username or password")
    repository.delete_login_failures(session, username=username)
    return user


def bootstrap_token(session: Session, user: User, name: str) -> str:
    _, secret = _mint(session, Principal.system(), user, name, None)
    return secret


def _mint(
    session: Session,
    actor: Principal,
    user: User,
    name: str,
    expires_in_days: int | None,
    predict_on: Sequence[str] | None = None,
) -> tuple[ApiToken, str]:
    secret = new_token()
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    # Kept folded, as deployments are looked up: the check is then an exact set membership.
    folded = sorted({fold_name(d) for d in predict_on}) if predict_on is not None else None
    token = repository.add_token(
        session,
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_token(secret),
            prefix=secret[:10],
            expires_at=expires_at,
            scope=PREDICT_SCOPE if folded is not None else None,
            deployments=folded,
        ),
    )
    detail: dict[str, object] = {"user": user.username, "name": name}
    if folded is not None:
        detail.update(scope=PREDICT_SCOPE, deployments=folded)
    audit.record(session, actor, "token.create", "token", token.id, detail)
    return token, secret


def list_tokens(session: Session, username: str | None) -> Sequence[tuple[ApiToken, str]]:
    user_id = None
    if username is not None:
        user = repository.get_user_by_name(session, username)
        if user is None:
            raise UserNotFound(f"no user named {username!r}")
        user_id = user.id
    return repository.list_tokens(session, user_id)


def revoke_token(session: Session, actor: Principal, token_id: int) -> None:
    token = repository.get_token(session, token_id)
    if token is None:
        raise TokenNotFound(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        forget_tokens_after_commit(session)
    audit.record(session, actor, "token.revoke", "token", token_id)
