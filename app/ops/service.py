"""Readiness checks of the metadata database and the artifact store."""

import logging

from sqlalchemy.orm import Session

from app.ops import repository
from app.storage import ArtifactStore

logger = logging.getLogger("shipyard.ready")


def readiness(session: Session, store: ArtifactStore, *, database_prepared: bool) -> dict[str, str]:
    """Each dependency's state; the database is "starting" while it answers but its migrations or
    first admin are not done yet."""
    checks: dict[str, str] = {}
    try:
        repository.ping(session)
        checks["database"] = "ok" if database_prepared else "starting"
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("database not ready: %s", exc)
        checks["database"] = "unavailable"
    try:
        store.check()
        checks["artifact_store"] = "ok"
    except Exception as exc:
        logger.warning("artifact store not ready: %s", exc)
        checks["artifact_store"] = "unavailable"
    return checks
