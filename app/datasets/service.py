"""Dataset use cases: upload a version (converted to Parquet, profiled, content-addressed),
resolve `name@version` references, download, and link runs to the versions they read."""

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.datasets import repository
from app.datasets.schemas import DatasetCreate, DatasetRead, DatasetVersionRead, RunDatasetRead
from app.db.base import utcnow
from app.db.hooks import after_rollback
from app.db.tables import Dataset, DatasetVersion, RunDataset
from app.errors import AppError, DatasetConflict, DatasetNotFound, InvalidInput
from app.ml.errors import SpecError
from app.ml.profiling import csv_to_parquet_chunks, profile_parquet, schema_from_profile
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.storage import ArtifactStore, download_to, join_key
from app.tracking import service as tracking

DATA_FILE = "data.parquet"
logger = logging.getLogger(__name__)


def parse_reference(ref: str) -> tuple[str, str]:
    name, _, version = ref.partition("@")
    return name, version or "latest"


def create_dataset(session: Session, actor: Principal, data: DatasetCreate) -> DatasetRead:
    dataset = repository.add_dataset(session, Dataset(name=data.name, description=data.description))
    if dataset is None:
        raise DatasetConflict(f"a dataset named {data.name!r}, or one differing only in case, already exists")
    audit.record(session, actor, "dataset.create", "dataset", data.name)
    return DatasetRead.model_validate(dataset)


def _get_or_create(session: Session, actor: Principal, name: str) -> Dataset:
    dataset = repository.get_dataset(session, name)
    if dataset is not None:
        return dataset
    created = repository.add_dataset(session, Dataset(name=name))
    if created is None:
        found = repository.get_dataset(session, name)
        assert found is not None
        return found
    audit.record(session, actor, "dataset.create", "dataset", name)
    return created


def _get(session: Session, name: str) -> Dataset:
    dataset = repository.get_dataset(session, name)
    if dataset is None:
        raise DatasetNotFound(f"no dataset named {name!r}")
    return dataset


def get_dataset(session: Session, name: str) -> DatasetRead:
    return DatasetRead.model_validate(_get(session, name))


def list_datasets(session: Session, page_token: str | None, max_results: int) -> tuple[list[DatasetRead], str | None]:
    after_id = int_from_cursor(decode_page_token(page_token), "after_id")
    found, next_token = take_page(
        repository.list_datasets(session, after_id=after_id, limit=max_results + 1),
        max_results,
        lambda d: {"after_id": d.id},
    )
    return [DatasetRead.model_validate(d) for d in found], next_token


def upload_version(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    name: str,
    source: Path,
    *,
    fmt: str,
    size: int,
    sha256: str,
) -> tuple[DatasetVersionRead, bool]:
    """Register the uploaded file at `source` as the next version of `name` (created if new);
    (version, False) when the same bytes were uploaded before.

    The conversion and the profile come first, before `session` runs a statement: its
    transaction (on SQLite, the database's write lock) then lasts as long as the few writes
    and the store upload, not as long as reading a large file."""
    with tempfile.TemporaryDirectory(prefix="shipyard-dataset-") as tmp:
        parquet = Path(tmp) / DATA_FILE
        try:
            if fmt == "csv":
                csv_to_parquet_chunks(source, parquet)
            else:
                parquet = source
            profile = profile_parquet(parquet)
        except SpecError as exc:
            raise InvalidInput(f"the {fmt} upload cannot be read: {exc}", **exc.extra) from exc
        dataset = _get_or_create(session, actor, name)
        existing = repository.version_by_sha(session, dataset.id, sha256)
        if existing is not None:
            return _version_read(dataset, existing), False
        savepoint = session.begin_nested()
        number = repository.next_version_number(session, dataset.id)
        # Identical bytes uploaded at the same moment: the one that got here second reuses the first.
        existing = repository.version_by_sha(session, dataset.id, sha256)
        if existing is not None:
            savepoint.rollback()
            return _version_read(dataset, existing), False
        key = join_key("datasets", dataset.name, str(number), DATA_FILE)
        with parquet.open("rb") as handle:
            store.put_file(key, handle)
        try:
            version = repository.add_version(
                session,
                DatasetVersion(
                    dataset_id=dataset.id,
                    version=number,
                    sha256=sha256,
                    source_format=fmt,
                    storage_key=key,
                    size_bytes=size,
                    rows=int(profile["rows"]),
                    schema=schema_from_profile(profile),
                    profile=profile,
                    created_by=actor.username,
                ),
            )
            savepoint.commit()
            dataset.updated_at = utcnow()
            audit.record(session, actor, "dataset_version.create", "dataset", f"{name}@{number}", {"sha256": sha256})
        except BaseException:
            # Removed while this transaction still holds the version number, so no other upload writes this key.
            _remove_quietly(store, key)
            raise
    # A commit that fails later would leave a file no row points at: it goes with the rollback.
    after_rollback(session, lambda: _remove_quietly(store, key))
    return _version_read(dataset, version), True


def _remove_quietly(store: ArtifactStore, key: str) -> None:
    try:
        store.delete(key)
    except AppError as exc:
        logger.warning("could not remove %s from the artifact store (%s); it is left behind", key, exc.detail)


def resolve(session: Session, ref: str) -> tuple[Dataset, DatasetVersion]:
    name, version = parse_reference(ref)
    dataset = _get(session, name)
    if version == "latest":
        if dataset.latest_version == 0:
            raise DatasetNotFound(f"dataset {name!r} has no versions yet")
        found = repository.get_version(session, dataset.id, dataset.latest_version)
    elif version.isdigit():
        found = repository.get_version(session, dataset.id, int(version))
    else:
        raise InvalidInput(f"{ref!r} is not a dataset reference like name@3 or name@latest", field="dataset")
    if found is None:
        raise DatasetNotFound(f"dataset {name!r} has no version {version}")
    return dataset, found


def get_version(session: Session, ref: str) -> DatasetVersionRead:
    return _version_read(*resolve(session, ref))


def list_versions(session: Session, name: str) -> list[DatasetVersionRead]:
    dataset = _get(session, name)
    return [_version_read(dataset, v) for v in repository.list_versions(session, dataset.id)]


def open_version(session: Session, store: ArtifactStore, ref: str) -> tuple[Iterator[bytes], int, str]:
    dataset, version = resolve(session, ref)
    size = store.size(version.storage_key) or 0
    return store.open_stream(version.storage_key), size, f"{dataset.name}-{version.version}.parquet"


def load_frame(store: ArtifactStore, version: DatasetVersion) -> pd.DataFrame:
    """The version as a DataFrame (for jobs), read from a temporary copy of its Parquet file."""
    with tempfile.TemporaryDirectory(prefix="shipyard-dataset-") as tmp:
        path = Path(tmp) / DATA_FILE
        download_to(store, version.storage_key, path)
        return pd.read_parquet(path)


def read_batches(
    store: ArtifactStore, version: DatasetVersion, columns: Sequence[str], batch_rows: int
) -> Iterator[pd.DataFrame]:
    """The version's `columns` (those it has) in DataFrames of at most `batch_rows` rows, read
    from a temporary copy of its Parquet file: the memory held is one batch's, whatever its size."""
    with tempfile.TemporaryDirectory(prefix="shipyard-dataset-") as tmp:
        path = Path(tmp) / DATA_FILE
        download_to(store, version.storage_key, path)
        parquet = pq.ParquetFile(path)
        present = set(parquet.schema_arrow.names)
        wanted = [c for c in columns if c in present]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
            yield batch.to_pandas()


def link_run(session: Session, actor: Principal, run_id: str, ref: str, context: str) -> RunDatasetRead:
    tracking.ensure_run_exists(session, run_id)
    dataset, version = resolve(session, ref)
    return link_version(session, actor, run_id, dataset, version, context)


def link_version(
    session: Session, actor: Principal, run_id: str, dataset: Dataset, version: DatasetVersion, context: str
) -> RunDatasetRead:
    """Record that an existing run used this dataset version (link_run, for callers that hold both)."""
    repository.link_run(
        session,
        RunDataset(
            run_id=run_id,
            dataset_name=dataset.name,
            dataset_version=version.version,
            digest=version.sha256,
            context=context,
        ),
    )
    audit.record(session, actor, "run.use_dataset", "run", run_id, {"dataset": f"{dataset.name}@{version.version}"})
    return RunDatasetRead(
        run_id=run_id, dataset=dataset.name, version=version.version, digest=version.sha256, context=context
    )


def trained_on(session: Session, run_id: str) -> tuple[Dataset, DatasetVersion] | None:
    """The dataset version a run trained on (its `training` link), if it has one and it still exists."""
    for link in repository.run_links(session, run_id, "training"):
        dataset = repository.get_dataset(session, link.dataset_name)
        version = repository.get_version(session, dataset.id, link.dataset_version) if dataset else None
        if dataset is not None and version is not None:
            return dataset, version
    return None


def _version_read(dataset: Dataset, version: DatasetVersion) -> DatasetVersionRead:
    return DatasetVersionRead(
        dataset=dataset.name,
        version=version.version,
        reference=f"{dataset.name}@{version.version}",
        sha256=version.sha256,
        source_format=version.source_format,
        size_bytes=version.size_bytes,
        rows=version.rows,
        columns=version.schema,
        profile=version.profile,
        created_by=version.created_by,
        created_at=version.created_at,
    )
