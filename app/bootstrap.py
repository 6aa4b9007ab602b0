"""First start: check the admin password setting, create the admin user and a token, and hand
them to the person once (on the terminal and in a private file, never in the logs)."""

import logging
import os
import sys
from pathlib import Path

from app.auth import repository as auth_repository
from app.auth import service as auth_service
from app.auth.passwords import is_known_default, password_problem
from app.auth.security import Role, new_password
from app.context import Principal
from app.db.session import SessionFactory
from app.settings import Settings

logger = logging.getLogger("shipyard.bootstrap")
# Addresses that mean "every interface": a client on this machine reaches them on loopback.
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def client_url(settings: Settings) -> str:
    """The URL a client on this machine uses to reach the server."""
    host = "127.0.0.1" if settings.host in _ANY_ADDRESS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def start_problem(settings: Settings) -> str | None:
    """Why the server or a worker must not start with these settings, in one line; None if it may."""
    if settings.admin_password is None:
        return None
    password = settings.admin_password.get_secret_value()
    if not settings.embedded and is_known_default(password):
        return (
            "SHIPYARD_ADMIN_PASSWORD is a known default password; a server on Postgres, S3 or a broker "
            "needs one of your own"
        )
    problem = password_problem(password)
    if problem is not None:
        return f"SHIPYARD_ADMIN_PASSWORD is refused: {problem}"
    return None


def ensure_admin(sessions: SessionFactory, settings: Settings) -> bool:
    """Create the first admin when there are no users; True when it did."""
    configured = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = configured or new_password()
    with sessions.begin() as session:
        if auth_service.has_users(session):
            return False
        user, _ = auth_service.create_user(session, Principal.system(), "admin", Role.admin, password)
        token = auth_service.bootstrap_token(
            session, auth_repository.get_user_by_name(session, "admin") or user, "bootstrap"
        )
    path = write_credentials(
        settings.credentials_path, url=client_url(settings), username="admin", password=password, token=token
    )
    if sys.stderr.isatty():
        # The person who started the server sees it once; a log collector never does.
        shown = "(the one in SHIPYARD_ADMIN_PASSWORD)" if configured else password
        print(
            f"\nShipyard created the first admin user.\n  username: admin\n  password: {shown}\n"
            f"  token:    {token}\nBoth are saved in {path} (readable only by you).\n",
            file=sys.stderr,
            flush=True,
        )
    else:
        logger.warning("created the first admin user 'admin'; its password and a token are in %s", path)
    return True


def write_credentials(path: Path, *, url: str, username: str, password: str, token: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"[default]\nurl = {url}\nusername = {username}\npassword = {password}\ntoken = {token}\n")
    os.chmod(path, 0o600)
    return path
