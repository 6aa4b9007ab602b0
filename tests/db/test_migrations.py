"""Alembic owns the schema: empty -> head -> base -> head works on both backends, and head
matches the ORM tables exactly."""

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db.base import Base
from app.db.migrate import downgrade_engine, upgrade_engine
from app.db.session import create_db_engine
from app.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_settings(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database: Callable[[], str]
) -> Settings:
    url = postgres_database() if request.param == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    return Settings(data_dir=tmp_path, database_url=url)


def test_upgrade_downgrade_upgrade(empty_database_settings: Settings) -> None:
    engine = create_db_engine(empty_database_settings)
    try:
        assert inspect(engine).get_table_names() == []
        upgrade_engine(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"experiment", "run", "metric", "latest_metric", "param", "run_tag", "user", "api_token"} <= tables
        downgrade_engine(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_engine(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"the models differ from the migrations: {diff}"
    finally:
        engine.dispose()
