"""After-commit and after-rollback callbacks run once the outermost transaction ends, never
when a SAVEPOINT inside it commits or rolls back."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.db.hooks import after_commit, after_rollback


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Session(create_engine(f"sqlite:///{tmp_path / 'hooks.db'}"))


def test_commit_callbacks_wait_for_the_outermost_commit(session: Session) -> None:
    ran: list[str] = []
    with session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("commit"))
        after_rollback(session, lambda: ran.append("rollback"))
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert ran == []
        savepoint = session.begin_nested()
        savepoint.rollback()
        assert ran == []

        session.commit()

    assert ran == ["commit"]


def test_rollback_callbacks_run_once_the_transaction_is_rolled_back(session: Session) -> None:
    ran: list[str] = []
    with session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("commit"))
        after_rollback(session, lambda: ran.append("rollback"))

        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()

    assert ran == ["rollback"]


def test_a_failing_callback_does_not_stop_the_others(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise OSError("store down")

    with session:
        session.execute(text("SELECT 1"))
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("second"))
        session.commit()

    assert ran == ["second"]
    assert "a callback after commit failed" in caplog.text
