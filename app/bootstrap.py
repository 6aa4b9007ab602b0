"""First start: create the admin user and a token, and hand them to the person once."""

import logging
import os
from pathlib import Path

from app.auth import repository as auth_repository
from app.auth import service as auth_service
from app.auth.security import Role, new_password
from app.context import Principal
from app.db.session import SessionFactory
from app.settings import Settings

logger = logging.getLogger("shipyard.bootstrap")


def ensure_admin(sessions: SessionFactory, settings: Settings) -> bool:
    """Create the first admin when there are no users; True when it did."""
    with sessions.begin() as session:
        if auth_service.has_users(session):
            return False
        password = settings.admin_password or new_password()
        user, _ = auth_service.create_user(session, Principal.system(), "admin", Role.admin, password)
        token = auth_service.bootstrap_token(
            session, auth_repository.get_user_by_name(session, "admin") or user, "bootstrap"
        )
    url = f"http://{settings.host}:{settings.port}"
    path = write_credentials(settings.credentials_path, url=url, username="admin", password=password, token=token)
    # Printed once, on the console of the person who started the server; never logged.
    print(
        f"\nShipyard created the first admin user.\n  username: admin\n  password: {password}\n"
        f"  token:    {token}\nBoth are saved in {path} (readable only by you).\n",
        flush=True,
    )
    return True


def write_credentials(path: Path, *, url: str, username: str, password: str, token: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"[default]\nurl = {url}\nusername = {username}\npassword = {password}\ntoken = {token}\n")
    os.chmod(path, 0o600)
    return path
