"""Readiness checks of the metadata database and the artifact store."""

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.storage import ArtifactStore

logger = logging.getLogger("shipyard.ready")


def readiness(session: Session, store: ArtifactStore) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
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
