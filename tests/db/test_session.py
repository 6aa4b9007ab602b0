"""SQLite connections: WAL journal, and the synchronous level SHIPYARD_SQLITE_SYNCHRONOUS asks for."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from app.db.session import create_db_engine
from app.settings import Settings

# SQLite reports the level as a number: https://sqlite.org/pragma.html#pragma_synchronous
LEVELS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}


@pytest.mark.parametrize("level", [None, "NORMAL", "FULL", "EXTRA"])
def test_sqlite_synchronous_level_is_the_setting(tmp_path: Path, level: str | None) -> None:
    settings = Settings(data_dir=tmp_path) if level is None else Settings(data_dir=tmp_path, sqlite_synchronous=level)
    engine = create_db_engine(settings)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == LEVELS[level or "NORMAL"]
    finally:
        engine.dispose()


def test_other_synchronous_levels_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        Settings(data_dir=tmp_path, sqlite_synchronous="OFF")  # type: ignore[arg-type]
