"""Alembic owns the schema: empty -> head -> base -> head works on both backends, and head
matches the ORM tables exactly."""

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.db.base import Base
from app.db.migrate import downgrade_engine, upgrade_engine
from app.db.session import SessionFactory, create_db_engine
from app.settings import Settings
from app.tracking import repository


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
        assert {"experiment", "run", "metric_chunk", "latest_metric", "param", "run_tag", "user", "api_token"} <= tables
        downgrade_engine(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_engine(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"the models differ from the migrations: {diff}"
    finally:
        engine.dispose()


def test_points_logged_before_chunks_are_moved_over_in_order_and_back(empty_database_settings: Settings) -> None:
    engine = create_db_engine(empty_database_settings)
    run_id = "a" * 32
    # (step, value, timestamp) logged out of order, with a tie on step 1 kept in logged order.
    logged = [(2, 0.2, 10), (1, 0.1, 10), (1, 0.15, 10), (0, 0.0, 10), (3, 0.3, 9)]
    try:
        upgrade_engine(engine, "0003")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO experiment (id, name, description, tags, lifecycle_stage, created_at, updated_at) "
                    "VALUES (1, 'e', '', '{}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO run (id, experiment_id, name, status, start_time, username, lifecycle_stage, "
                    "created_at) VALUES (:id, 1, 'r', 'RUNNING', 0, 'u', 'active', CURRENT_TIMESTAMP)"
                ),
                {"id": run_id},
            )
            connection.execute(
                text("INSERT INTO metric (run_id, key, value, step, timestamp) VALUES (:r, 'm', :v, :s, :t)"),
                [{"r": run_id, "v": v, "s": s, "t": t} for s, v, t in logged],
            )
        upgrade_engine(engine)
        with SessionFactory(engine)(write=False) as session:
            assert repository.metric_history(session, run_id, "m") == [
                (0, 0.0, 10),
                (1, 0.1, 10),
                (1, 0.15, 10),
                (2, 0.2, 10),
                (3, 0.3, 9),
            ]
        downgrade_engine(engine, "0003")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT step, value, timestamp FROM metric ORDER BY step, timestamp, id"))
            assert [tuple(row) for row in rows] == [
                (0, 0.0, 10),
                (1, 0.1, 10),
                (1, 0.15, 10),
                (2, 0.2, 10),
                (3, 0.3, 9),
            ]
    finally:
        engine.dispose()


def _insert_experiments(engine: Engine, *names: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiment (name, description, tags, lifecycle_stage, created_at, updated_at) "
                "VALUES (:name, '', '{}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            [{"name": name} for name in names],
        )


def test_names_are_backfilled_in_their_folded_form(empty_database_settings: Settings) -> None:
    engine = create_db_engine(empty_database_settings)
    try:
        upgrade_engine(engine, "0004")
        _insert_experiments(engine, "Churn\u00a0Model ", "ｆｒａｕｄ")
        with engine.begin() as connection:
            connection.execute(
                text(
                    'INSERT INTO "user" (username, role, is_active, created_at) '
                    "VALUES ('Ops.Admin', 'admin', true, CURRENT_TIMESTAMP)"
                )
            )
        upgrade_engine(engine)
        with engine.connect() as connection:
            experiments = connection.execute(text("SELECT name, folded_name FROM experiment ORDER BY id")).all()
            users = connection.execute(text('SELECT username, folded_username FROM "user"')).all()
        assert [tuple(row) for row in experiments] == [("Churn\u00a0Model ", "churn model"), ("ｆｒａｕｄ", "fraud")]
        assert [tuple(row) for row in users] == [("Ops.Admin", "ops.admin")]
        downgrade_engine(engine, "0004")
        assert "folded_name" not in {column["name"] for column in inspect(engine).get_columns("experiment")}
    finally:
        engine.dispose()


def test_names_that_fold_alike_stop_the_upgrade_and_change_nothing(empty_database_settings: Settings) -> None:
    engine = create_db_engine(empty_database_settings)
    try:
        upgrade_engine(engine, "0004")
        _insert_experiments(engine, "churn", "Churn ")
        with pytest.raises(RuntimeError, match="'churn' and 'Churn ' differ only in case"):
            upgrade_engine(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0004"
        assert "folded_name" not in {column["name"] for column in inspect(engine).get_columns("experiment")}
        with engine.begin() as connection:
            connection.execute(text("UPDATE experiment SET name = 'churn-2' WHERE name = 'Churn '"))
        upgrade_engine(engine)
    finally:
        engine.dispose()


def test_a_nan_latest_value_goes_back_where_the_old_schema_can_hold_it(empty_database_settings: Settings) -> None:
    engine = create_db_engine(empty_database_settings)
    try:
        upgrade_engine(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO experiment (id, name, folded_name, description, tags, lifecycle_stage, created_at, "
                    "updated_at) VALUES (1, 'e', 'e', '', '{}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO run (id, experiment_id, name, status, start_time, username, lifecycle_stage, "
                    "created_at) VALUES (:id, 1, 'r', 'RUNNING', 0, 'u', 'active', CURRENT_TIMESTAMP)"
                ),
                {"id": "b" * 32},
            )
            connection.execute(
                text(
                    "INSERT INTO latest_metric (run_id, key, value, step, timestamp) VALUES "
                    "(:r, 'nan', NULL, 0, 0), (:r, 'one', 1.0, 0, 0)"
                ),
                {"r": "b" * 32},
            )
        downgrade_engine(engine, "0007")
        with engine.connect() as connection:
            rows = {key: value for key, value in connection.execute(text("SELECT key, value FROM latest_metric"))}
        if engine.dialect.name == "postgresql":
            assert rows.keys() == {"nan", "one"}
            assert rows["nan"] != rows["nan"]  # NaN
        else:
            assert rows == {"one": 1.0}  # SQLite has no NaN; the history keeps the point
        upgrade_engine(engine)
    finally:
        engine.dispose()
