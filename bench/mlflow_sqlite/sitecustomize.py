"""SQLite pragmas for ``mlflow server`` in the tracking benchmark, loaded through PYTHONPATH.

MLflow sets no journal mode nor synchronous level on SQLite (its sessions set only foreign_keys,
busy_timeout and case_sensitive_like), so to run both servers with the same durability the bench
sets them on every new SQLite connection, from ``BENCH_SQLITE_JOURNAL`` and
``BENCH_SQLITE_SYNCHRONOUS``, with SQLAlchemy's documented "connect" event on every Engine.
"""

import os
import sys

_JOURNAL = os.environ.get("BENCH_SQLITE_JOURNAL", "")
_SYNCHRONOUS = os.environ.get("BENCH_SQLITE_SYNCHRONOUS", "")

if _JOURNAL in {"WAL", "DELETE"} and _SYNCHRONOUS in {"NORMAL", "FULL"}:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _set_pragmas(dbapi_connection: object, _record: object) -> None:
        if type(dbapi_connection).__module__ != "sqlite3":
            return
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"PRAGMA journal_mode={_JOURNAL}")
        cursor.execute(f"PRAGMA synchronous={_SYNCHRONOUS}")
        cursor.close()

    print(f"bench: SQLite journal_mode={_JOURNAL} synchronous={_SYNCHRONOUS} on connect", file=sys.stderr)
