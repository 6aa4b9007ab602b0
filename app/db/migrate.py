"""Alembic upgrades run by the server and workers at start, and by `shipyard db upgrade`."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from app.db.session import create_db_engine
from app.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Any constant: it only has to be the same in every process that migrates this database.
_PG_MIGRATION_LOCK = 7_420_113
_FIRST_RETRY_SECONDS = 0.5

logger = logging.getLogger("shipyard.db")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@dataclass(frozen=True)
class Upgrade:
    """What an upgrade did: the database (password hidden), its revision before and after, and the
    migrations applied in order, each as ``"<revision> <first line of its docstring>"``."""

    database: str
    before: str | None
    after: str | None
    applied: list[str]

    def describe(self) -> str:
        """Two or three lines for the person who ran `shipyard db upgrade`."""
        if not self.applied:
            return f"{self.database}: already at revision {self.after or 'base'}; nothing to apply."
        lines = [
            f"{self.database}: upgraded from revision {self.before or 'base (empty)'} to {self.after}; applied:",
            *(f"  {migration}" for migration in self.applied),
        ]
        return "\n".join(lines)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_engine(engine: Engine, revision: str = "head") -> Upgrade:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Server and workers may start together; one migrates, the others wait and find head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        before = _current_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = _current_revision(connection)
    return Upgrade(
        database=engine.url.render_as_string(hide_password=True),
        before=before,
        after=after,
        applied=_between(config, before, after),
    )


def _between(config: Config, before: str | None, after: str | None) -> list[str]:
    """The migrations after `before` up to `after`, oldest first (alembic leaves the lower end out)."""
    if after is None or after == before:
        return []
    script = ScriptDirectory.from_config(config)
    steps = list(script.iterate_revisions(after, before or "base"))
    steps.reverse()
    return [f"{step.revision} {' '.join((step.doc or '').split())}".rstrip() for step in steps]


def downgrade_engine(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def retry_until_reachable(action: Callable[[], object], max_delay: float, stop: threading.Event) -> bool:
    """Run `action` until it gets through to the database, waiting longer after each refusal (up
    to `max_delay` seconds); True once it has, False when `stop` is set first. Other errors are
    not the database being away, so they propagate."""
    delay = _FIRST_RETRY_SECONDS
    while not stop.is_set():
        try:
            action()
            return True
        except OperationalError as exc:
            logger.warning("the database is not reachable (%s); retrying in %.1f s", type(exc.orig).__name__, delay)
        if stop.wait(delay):
            break
        delay = min(delay * 2, max_delay)
    return False


def prepare_data_dir(settings: Settings) -> None:
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)


def upgrade_to_head(settings: Settings | None = None) -> Upgrade:
    settings = settings or get_settings()
    prepare_data_dir(settings)
    engine = create_db_engine(settings)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()
