"""The one password rule (length, and not a common password) for users, logins' targets and the
first admin; the bundled list of common passwords is in common_passwords.txt beside this module."""

from functools import cache
from importlib.resources import files

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# Values that ship in examples and compose files the world over; refused outright as the admin
# password of a server off the embedded default, whatever their length.
KNOWN_DEFAULT_PASSWORDS = frozenset(
    {"change-me", "changeme", "change_me", "admin", "administrator", "password", "secret", "shipyard", "default"}
)


@cache
def common_passwords() -> frozenset[str]:
    text = files("app.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    if password.casefold() in common_passwords() or password.casefold() in KNOWN_DEFAULT_PASSWORDS:
        return "this password is among the most common passwords; choose another"
    return None


def is_known_default(password: str) -> bool:
    return password.casefold() in KNOWN_DEFAULT_PASSWORDS
