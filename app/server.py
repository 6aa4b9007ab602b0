"""`shipyard server`: check the settings, take the port, and serve with uvicorn; the app migrates
and creates the first admin once the database answers (see app.ops.startup)."""

import configparser
import errno
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from app.bootstrap import client_url, start_problem
from app.http_deadline import protocol_with_header_deadline
from app.main import create_app
from app.observability import configure_logging
from app.settings import Settings, get_settings

logger = logging.getLogger("shipyard.server")


class BindError(Exception):
    """The server cannot listen where it was told to; the message is one line for the terminal."""


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening address taken before anything else starts, so a port in use stops the server
    before it migrates or creates an admin."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may rebind at once over connections still in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(
                f"port {port} on {host} is already in use (another server?); "
                f"start on a free one with --port N or SHIPYARD_PORT=N"
            ) from exc
        raise BindError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another with --host/--port "
            "or SHIPYARD_HOST/SHIPYARD_PORT"
        ) from exc
    return sock


def share_credentials(settings: Settings, user_file: Path) -> Path | None:
    """Copy the first admin's URL and token into the user's credentials file, so the SDK and CLI
    find this server from any directory; a file already there is left alone. Returns it if written."""
    if user_file.exists():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(settings.credentials_path, encoding="utf-8")
    token = parser.get("default", "token", fallback="")
    if not token:
        return None
    user_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: a file another process wrote meanwhile is kept as it is.
        fd = os.open(user_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"[default]\nurl = {client_url(settings)}\ntoken = {token}\n")
    return user_file


def serve(settings: Settings | None = None) -> None:
    """Run the server until it is stopped; BindError (before any other effect) if the port is taken."""
    settings = settings or get_settings()
    problem = start_problem(settings)
    if problem is not None:
        sys.exit(f"shipyard server: {problem}")
    configure_logging(settings.log_level, settings.log_json)
    sock = bind_socket(settings.host, settings.port)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(
            settings,
            on_first_admin=lambda: print(_share_note(settings, Path.home() / ".shipyard" / "credentials"), flush=True),
        )
        if settings.host not in ("127.0.0.1", "localhost", "::1") and "*" not in settings.allowed_hosts:
            # Reachable from elsewhere, but a request naming any other host is refused with 400.
            logger.warning(
                "listening on %s; serving the hosts %s only", settings.host, ", ".join(settings.allowed_hosts)
            )
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            http=protocol_with_header_deadline(settings.client_timeout_seconds),
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _share_note(settings: Settings, user_file: Path) -> str:
    login = f"`shipyard login {client_url(settings)}` points the SDK and CLI at this server"
    try:
        if share_credentials(settings, user_file):
            return f"The URL and token are also saved in {user_file}, for the SDK and CLI."
    except OSError as exc:
        # A home that cannot be written (a container's) must not stop the server.
        return f"Could not save the token in {user_file} ({exc.strerror or exc}); {login}."
    return f"{user_file} already exists and was left as it is; {login}."
