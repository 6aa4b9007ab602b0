"""Every SQL statement of rollouts: the rollout rows, the serving statistics the analysis sums,
and the serving processes' heartbeats."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.db.tables import Deployment, Rollout, ServingReplica, ServingStats
from app.errors import DeploymentConflict, RolloutInProgress

# PostgreSQL's lock_not_available, raised by FOR UPDATE NOWAIT on a row another transaction holds.
_LOCK_NOT_AVAILABLE = "55P03"


def add_rollout(session: Session, rollout: Rollout) -> Rollout:
    try:
        with session.begin_nested():
            session.add(rollout)
            session.flush()
    except IntegrityError as exc:
        raise RolloutInProgress(
            "another rollout of this deployment is in progress; promote, roll back or abort it first"
        ) from exc
    return rollout


def get_rollout(session: Session, rollout_id: int) -> Rollout | None:
    return session.get(Rollout, rollout_id)


def lock_rollout(session: Session, rollout_id: int) -> Rollout | None:
    return session.scalars(select(Rollout).where(Rollout.id == rollout_id).with_for_update()).one_or_none()


def active_rollout(session: Session, deployment_id: int) -> Rollout | None:
    return session.scalars(select(Rollout).where(Rollout.active_deployment_id == deployment_id)).one_or_none()


def lock_active_rollout(session: Session, deployment_id: int) -> Rollout | None:
    return session.scalars(
        select(Rollout).where(Rollout.active_deployment_id == deployment_id).with_for_update()
    ).one_or_none()


def get_deployment(session: Session, deployment_id: int) -> Deployment | None:
    return session.get(Deployment, deployment_id)


def active_rollouts(session: Session, deployment_ids: Sequence[int]) -> Sequence[Rollout]:
    return session.scalars(select(Rollout).where(Rollout.active_deployment_id.in_(list(deployment_ids)))).all()


def latest_rollout(session: Session, deployment_id: int) -> Rollout | None:
    return session.scalars(
        select(Rollout).where(Rollout.deployment_id == deployment_id).order_by(Rollout.id.desc()).limit(1)
    ).one_or_none()


def list_rollouts(session: Session, deployment_id: int, *, before: int | None, limit: int) -> Sequence[Rollout]:
    query = select(Rollout).where(Rollout.deployment_id == deployment_id).order_by(Rollout.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Rollout.id < before)
    return session.scalars(query).all()


def rollout_of_job(session: Session, job_id: str) -> Rollout | None:
    return session.scalars(select(Rollout).where(Rollout.job_id == job_id)).one_or_none()


def lock_deployment(session: Session, deployment_id: int) -> Deployment | None:
    try:
        return session.scalars(
            select(Deployment).where(Deployment.id == deployment_id).with_for_update(nowait=True)
        ).one_or_none()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise DeploymentConflict("another route change of this deployment is in progress") from exc
        raise


def set_job(session: Session, rollout_id: int, job_id: str) -> None:
    session.execute(update(Rollout).where(Rollout.id == rollout_id).values(job_id=job_id))


def add_stats(session: Session, rows: Sequence[ServingStats]) -> None:
    session.add_all(rows)
    session.flush()


def stats_of(session: Session, deployment: str, revision: int, model: str, version: int) -> Sequence[ServingStats]:
    return session.scalars(
        select(ServingStats).where(
            ServingStats.deployment == deployment,
            ServingStats.revision == revision,
            ServingStats.model == model,
            ServingStats.version == version,
        )
    ).all()


def stats_of_revisions(session: Session, deployment: str, revisions: Sequence[int]) -> Sequence[ServingStats]:
    return session.scalars(
        select(ServingStats).where(ServingStats.deployment == deployment, ServingStats.revision.in_(list(revisions)))
    ).all()


def record_replica(session: Session, replica: str, generation: int, now: datetime) -> None:
    result = session.execute(
        update(ServingReplica).where(ServingReplica.replica == replica).values(generation=generation, seen_at=now)
    )
    if not getattr(result, "rowcount", 0):
        try:
            with session.begin_nested():
                session.add(ServingReplica(replica=replica, generation=generation, seen_at=now))
                session.flush()
        except IntegrityError:
            pass  # this process's own row, written by an earlier pass that raced this one


def live_replicas(session: Session, since: datetime) -> Sequence[ServingReplica]:
    return session.scalars(select(ServingReplica).where(ServingReplica.seen_at >= since)).all()


def count_stats(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ServingStats)) or 0)


def latest_states(session: Session) -> list[tuple[str, str]]:
    latest = select(Rollout.deployment_id, func.max(Rollout.id).label("id")).group_by(Rollout.deployment_id).subquery()
    rows = session.execute(
        select(Deployment.name, Rollout.state)
        .join(latest, latest.c.id == Rollout.id)
        .join(Deployment, Deployment.id == Rollout.deployment_id)
        .order_by(Deployment.name)
    )
    return [(str(name), str(state)) for name, state in rows.tuples()]


def delete_replica(session: Session, replica: str) -> None:
    session.execute(delete(ServingReplica).where(ServingReplica.replica == replica))
