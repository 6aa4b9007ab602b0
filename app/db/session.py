"""Engine and session factories. Only the request's session dependency and the worker's task
wrapper commit; services and repositories flush."""

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.errors import AppError
from app.settings import Settings


def json_for_column(value: Any) -> str:
    """JSON for a JSON column. NaN and ±Infinity (a diverging loss, an undefined ROC AUC) have no
    JSON literal and Postgres refuses Python's bare tokens, so they are stored as the strings the
    API sends for them ("NaN", "Infinity", "-Infinity") on every database."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_named_non_finite(value), allow_nan=False)


def _named_non_finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _named_non_finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_named_non_finite(item) for item in value]
    return value


def create_db_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=json_for_column,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        _configure_sqlite(engine, settings.sqlite_synchronous)
        return engine
    return create_engine(
        url,
        json_serializer=json_for_column,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so a writer can ask for BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of the setting's three names
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another writer got in between; writers take the write lock up front and wait instead.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class SessionFactory:
    """Sessions for readers and for writers (on SQLite, writers begin IMMEDIATE)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(bind=engine, expire_on_commit=False)
        writer_bind = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
        self._writer = sessionmaker(bind=writer_bind, expire_on_commit=False)

    def __call__(self, *, write: bool = True) -> Session:
        return (self._writer if write else self._reader)()

    @contextmanager
    def begin(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work outside a request: commit on success, roll back on error."""
        with self(write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException as exc:
                # An error marked keep_work (a failed login's record) is answered after its work commits.
                if isinstance(exc, AppError) and exc.keep_work:
                    session.commit()
                else:
                    session.rollback()
                raise
