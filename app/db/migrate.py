"""Alembic upgrades run by the server and workers at start, and by `shipyard db upgrade`."""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
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


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Server and workers may start together; one migrates, the others wait and find head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade_engine(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def retry_until_reachable(action: Callable[[], None], max_delay: float, stop: threading.Event) -> bool:
    """Run `action` until it gets through to the database, waiting longer after each refusal (up
    to `max_delay` seconds); True once it has, False when `stop` is set first. Other errors are
    not the database being away, so they propagate."""
    delay = _FIRST_RETRY_SECONDS
    while not stop.is_set():
        try:
            action()
            return True
        except OperationalError as exc:
            logger.warning(
                "the database is not reachable (%s); retrying in %.1f s", type(exc.orig).__name__, delay
            )
        if stop.wait(delay):
            break
        delay = min(delay * 2, max_delay)
    return False


def prepare_data_dir(settings: Settings) -> None:
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)


def upgrade_to_head(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    prepare_data_dir(settings)
    engine = create_db_engine(settings)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
