"""Where the SDK and CLI find the server and the token: arguments, then SHIPYARD_* env, then the
credentials files (``~/.shipyard/credentials``, then the embedded server's), and how `login` writes one."""

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATA_DIR = "shipyard-data"
CREDENTIALS_FILE = "credentials"
URL_ENV = "SHIPYARD_URL"
TOKEN_ENV = "SHIPYARD_TOKEN"
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Credentials:
    """What one credentials file holds for a profile (any part may be missing)."""

    url: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Resolved:
    """The server URL and token a client uses, and where each came from (quoted in a 401's message).

    `token_source` is ``"argument"``, ``SHIPYARD_TOKEN`` or a file's path; None when no token was
    found, and then `looked_in` lists every place searched."""

    url: str
    token: str | None
    token_source: str | None
    looked_in: list[str] = field(default_factory=list)


def user_credentials_path() -> Path:
    """The user's own file, written by `shipyard login` and by the embedded server's first start."""
    return Path.home() / ".shipyard" / CREDENTIALS_FILE


def credential_files() -> list[Path]:
    """The credentials files looked at, in order: the user's, then the embedded server's."""
    data_dir = Path(os.environ.get("SHIPYARD_DATA_DIR") or DEFAULT_DATA_DIR)
    return [user_credentials_path(), data_dir / CREDENTIALS_FILE]


def read_credentials(path: Path, profile: str = DEFAULT_PROFILE) -> Credentials:
    """The ``url`` and ``token`` of `profile` in an INI credentials file; empty if the file or keys are missing.

    Files written before the URL was stored hold only a token; they still read."""
    # No interpolation: generated passwords in the same file may hold '%'.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return Credentials()
    url = parser.get(profile, "url", fallback="").strip().rstrip("/")
    token = parser.get(profile, "token", fallback="").strip()
    return Credentials(url=url or None, token=token or None)


def read_token(path: Path, profile: str = DEFAULT_PROFILE) -> str | None:
    """The ``token`` of `profile` in an INI credentials file, or None if the file or key is missing."""
    return read_credentials(path, profile).token


def resolve(url: str | None = None, token: str | None = None) -> Resolved:
    """The URL and token to use: explicit arguments, then ``SHIPYARD_URL`` / ``SHIPYARD_TOKEN``, then
    the first credentials file with a token, whose URL comes along with it.

    With no URL given, the file the token came from names the server; a token given otherwise takes
    the URL of the first file that has one; else ``http://127.0.0.1:8000``."""
    explicit_url = url or os.environ.get(URL_ENV)
    looked_in = [TOKEN_ENV]
    if token:
        found_token, source = token, "argument"
    elif from_env := os.environ.get(TOKEN_ENV):
        found_token, source = from_env, TOKEN_ENV
    else:
        found_token, source = None, None
    file_url: str | None = None
    for path in credential_files():
        looked_in.append(str(path))
        stored = read_credentials(path)
        if found_token is None and stored.token:
            found_token, source, file_url = stored.token, str(path), stored.url
            break
        if file_url is None and found_token is not None and stored.url:
            file_url = stored.url
    chosen_url = (explicit_url or file_url or DEFAULT_URL).rstrip("/")
    return Resolved(url=chosen_url, token=found_token, token_source=source, looked_in=looked_in)


def resolve_url(url: str | None = None) -> str:
    """The server's base URL: `url`, else ``SHIPYARD_URL``, else a credentials file's, else the default."""
    return resolve(url).url


def resolve_token(token: str | None = None) -> str | None:
    """The API token: `token`, else ``SHIPYARD_TOKEN``, else the first credentials file that has one."""
    return resolve(token=token).token


def write_credentials(path: Path, url: str, token: str, profile: str = DEFAULT_PROFILE) -> Path:
    """Store `url` and `token` under `profile` in `path` (mode 0600), keeping its other keys and profiles."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error):
        parser = configparser.ConfigParser(interpolation=None)
    if not parser.has_section(profile):
        parser.add_section(profile)
    parser.set(profile, "url", url.rstrip("/"))
    parser.set(profile, "token", token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written beside the old file and moved over it: a crash never leaves half a file, and the
    # token is never readable by others, not even for a moment.
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            parser.write(handle)
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
