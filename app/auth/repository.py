"""SQL for users and tokens."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import ApiToken, LoginFailure, User
from app.errors import UserConflict
from app.names import fold_name


def get_user_by_name(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.folded_username == fold_name(username))).one_or_none()


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def add_user(session: Session, user: User) -> User:
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise UserConflict(f"user {user.username!r}, or one differing only in case, already exists") from exc
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id)).all()


def count_users(session: Session) -> int:
    return len(session.scalars(select(User.id).limit(1)).all())


def add_token(session: Session, token: ApiToken) -> ApiToken:
    session.add(token)
    session.flush()
    return token


def find_token_with_user(session: Session, token_hash: str) -> tuple[ApiToken, User] | None:
    row = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_hash)
    ).one_or_none()
    return (row[0], row[1]) if row else None


def get_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def list_tokens(session: Session, user_id: int | None) -> Sequence[tuple[ApiToken, str]]:
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [(row[0], row[1]) for row in session.execute(query)]


def lock_login_keys(session: Session, keys: Sequence[str]) -> None:
    """Serialise logins that share a username or a client address until the transaction ends, so
    concurrent attempts cannot all pass the rate limit before any failure is counted. SQLite needs
    nothing: its writers hold the one write lock from their first statement."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):  # one order everywhere: two logins never wait on each other
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"shipyard.login:{key}"})


def login_failures_since(
    session: Session, since: datetime, *, username: str | None = None, client_address: str | None = None
) -> tuple[int, datetime | None]:
    """How many failures for the username or the address since `since`, and the oldest of them."""
    query = select(func.count(LoginFailure.id), func.min(LoginFailure.created_at))
    query = query.where(LoginFailure.created_at > since)
    if username is not None:
        query = query.where(LoginFailure.username == username)
    if client_address is not None:
        query = query.where(LoginFailure.client_address == client_address)
    count, oldest = session.execute(query).one()
    return int(count), oldest


def add_login_failure(session: Session, failure: LoginFailure) -> None:
    session.add(failure)
    session.flush()


def delete_login_failures(session: Session, *, before: datetime | None = None, username: str | None = None) -> None:
    statement = delete(LoginFailure)
    if before is not None:
        statement = statement.where(LoginFailure.created_at <= before)
    if username is not None:
        statement = statement.where(LoginFailure.username == username)
    session.execute(statement)
