"""SQL of the operations checks: a round trip to the metadata database."""

from sqlalchemy import text
from sqlalchemy.orm import Session


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))
