"""Every SQL statement for datasets."""

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import Dataset, DatasetVersion, RunDataset
from app.names import fold_name


def get_dataset(session: Session, name: str) -> Dataset | None:
    return session.scalars(select(Dataset).where(Dataset.folded_name == fold_name(name))).one_or_none()


def add_dataset(session: Session, dataset: Dataset) -> Dataset | None:
    """None when a dataset of that name appeared meanwhile."""
    session.add(dataset)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        return None
    return dataset


def list_datasets(session: Session, *, after_id: int | None, limit: int) -> Sequence[Dataset]:
    query = select(Dataset).order_by(Dataset.id).limit(limit)
    if after_id is not None:
        query = query.where(Dataset.id > after_id)
    return session.scalars(query).all()


def next_version_number(session: Session, dataset_id: int) -> int:
    number = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(latest_version=Dataset.latest_version + 1)
        .returning(Dataset.latest_version)
    ).scalar_one()
    return int(number)


def version_by_sha(session: Session, dataset_id: int, sha256: str) -> DatasetVersion | None:
    return session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.sha256 == sha256)
    ).one_or_none()


def get_version(session: Session, dataset_id: int, number: int) -> DatasetVersion | None:
    return session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == number)
    ).one_or_none()


def list_versions(session: Session, dataset_id: int) -> Sequence[DatasetVersion]:
    return session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id).order_by(DatasetVersion.version.desc())
    ).all()


def add_version(session: Session, version: DatasetVersion) -> DatasetVersion:
    session.add(version)
    session.flush()
    return version


def link_run(session: Session, link: RunDataset) -> None:
    if session.get(RunDataset, (link.run_id, link.dataset_name, link.dataset_version)) is None:
        session.add(link)
        session.flush()


def run_links(session: Session, run_id: str, context: str) -> Sequence[RunDataset]:
    return session.scalars(
        select(RunDataset)
        .where(RunDataset.run_id == run_id, RunDataset.context == context)
        .order_by(RunDataset.dataset_name, RunDataset.dataset_version)
    ).all()
