"""Migration 0006 on both backends: jobs from before it act as editors, and a downgrade keeps
working when two users reused one Idempotency-Key (which 0004's schema cannot hold)."""

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.migrate import downgrade_engine, upgrade_engine
from app.db.session import create_db_engine
from app.settings import Settings

INSERT_JOB = (
    "INSERT INTO job (id, type, spec, status, progress, message, attempts, max_attempts, fencing_token, "
    "cancel_requested, log_tail, idempotency_key, created_by, created_at, updated_at{extra}) VALUES "
    "(:id, 'train', '{{}}', 'queued', 0, '', 0, 3, 0, false, '', :key, :by, CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP{extra_values})"
)


@pytest.fixture(params=["sqlite", "postgres"])
def database_settings(request: pytest.FixtureRequest, tmp_path: Path, postgres_database: Callable[[], str]) -> Settings:
    url = postgres_database() if request.param == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    return Settings(data_dir=tmp_path, database_url=url)


def test_jobs_from_before_0006_act_as_editors_and_shared_keys_survive_a_downgrade(
    database_settings: Settings,
) -> None:
    engine = create_db_engine(database_settings)
    try:
        upgrade_engine(engine, "0004")
        with engine.begin() as connection:
            connection.execute(
                text(INSERT_JOB.format(extra="", extra_values="")), {"id": "a" * 32, "key": "old", "by": "ann"}
            )
        upgrade_engine(engine)
        with engine.begin() as connection:
            role = connection.execute(text("SELECT created_by_role FROM job WHERE id = :id"), {"id": "a" * 32})
            assert role.scalar_one() == "editor"
            for job_id, user in (("b" * 32, "bob"), ("c" * 32, "cy")):
                connection.execute(
                    text(INSERT_JOB.format(extra=", created_by_role", extra_values=", 'editor'")),
                    {"id": job_id, "key": "nightly", "by": user},
                )

        downgrade_engine(engine, "0004")

        with engine.connect() as connection:
            keys = dict(connection.execute(text("SELECT id, idempotency_key FROM job")).tuples().all())
        assert keys == {"a" * 32: "old", "b" * 32: None, "c" * 32: None}
        upgrade_engine(engine)
    finally:
        engine.dispose()
