"""Callbacks a use case leaves on its session, run once the outermost transaction has committed
or once it has ended without a commit (rolled back or closed)."""

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

logger = logging.getLogger(__name__)

_ON_COMMIT = "shipyard.after_commit_callbacks"
_ON_ROLLBACK = "shipyard.after_rollback_callbacks"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction commits; dropped if it rolls back."""
    session.info.setdefault(_ON_COMMIT, []).append(callback)


def after_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction ends without a commit; dropped if it commits."""
    session.info.setdefault(_ON_ROLLBACK, []).append(callback)


# SQLAlchemy fires after_commit and after_rollback for SAVEPOINTs too, so the outermost
# transaction is told apart here: nested while a SAVEPOINT commits, parent None at the end.
@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_ON_ROLLBACK, None)
    _run(session.info.pop(_ON_COMMIT, []), "commit")


@event.listens_for(Session, "after_transaction_end")
def _run_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(_ON_COMMIT, None)
    _run(session.info.pop(_ON_ROLLBACK, []), "rollback")


def _run(callbacks: list[Callable[[], None]], when: str) -> None:
    # The transaction is over and its outcome stands; a failing callback is logged, not raised,
    # so it neither hides the outcome from the client nor stops the callbacks after it.
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("a callback after %s failed", when)
