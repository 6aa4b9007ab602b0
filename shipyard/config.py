"""Where the SDK and CLI find the server and the token: arguments, then SHIPYARD_* env, then files."""

import configparser
import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATA_DIR = "shipyard-data"
CREDENTIALS_FILE = "credentials"


def resolve_url(url: str | None = None) -> str:
    """The server's base URL: `url`, else ``SHIPYARD_URL``, else the embedded server's default."""
    return (url or os.environ.get("SHIPYARD_URL") or DEFAULT_URL).rstrip("/")


def credential_files() -> list[Path]:
    """The credentials files looked at, in order: the user's, then the embedded server's."""
    data_dir = Path(os.environ.get("SHIPYARD_DATA_DIR") or DEFAULT_DATA_DIR)
    return [Path.home() / ".shipyard" / CREDENTIALS_FILE, data_dir / CREDENTIALS_FILE]


def read_token(path: Path, profile: str = "default") -> str | None:
    """The ``token`` of `profile` in an INI credentials file, or None if the file or key is missing."""
    # No interpolation: generated passwords in the same file may hold '%'.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    token = parser.get(profile, "token", fallback="").strip()
    return token or None


def resolve_token(token: str | None = None) -> str | None:
    """The API token: `token`, else ``SHIPYARD_TOKEN``, else the first credentials file that has one."""
    if token:
        return token
    if from_env := os.environ.get("SHIPYARD_TOKEN"):
        return from_env
    for path in credential_files():
        if found := read_token(path):
            return found
    return None
