"""Run artifacts: the server mints every key (`runs/<id>/artifacts/<relpath>`) and streams bytes."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.errors import ArtifactNotFound
from app.storage import ArtifactStore, join_key, validate_relative_path
from app.storage.upload import SpooledUpload
from app.tracking import service
from app.tracking.schemas import ArtifactInfo, ArtifactList, ArtifactStored


def artifact_key(run_id: str, path: str) -> str:
    return join_key("runs", run_id, "artifacts", validate_relative_path(path))


def store_artifact(
    session: Session, store: ArtifactStore, actor: Principal, run_id: str, path: str, upload: SpooledUpload
) -> ArtifactStored:
    clean = validate_relative_path(path)
    key = join_key("runs", run_id, "artifacts", clean)
    service.ensure_run_exists(session, run_id)
    store.put_file(key, upload.file)
    audit.record(session, actor, "run.artifact.put", "run", run_id, {"path": clean, "size": upload.size})
    return ArtifactStored(path=clean, size=upload.size, sha256=upload.sha256)


def open_artifact(session: Session, store: ArtifactStore, run_id: str, path: str) -> tuple[Iterator[bytes], int]:
    key = artifact_key(run_id, path)
    service.ensure_run_exists(session, run_id)
    size = store.size(key)
    if size is None:
        raise ArtifactNotFound(f"run {run_id} has no artifact {path!r}")
    return store.open_stream(key), size


def list_artifacts(session: Session, store: ArtifactStore, run_id: str, path: str | None) -> ArtifactList:
    service.ensure_run_exists(session, run_id)
    root = validate_relative_path(path) if path else ""
    prefix = join_key("runs", run_id, "artifacts", root) if root else join_key("runs", run_id, "artifacts")
    entries = store.list_dir(prefix)
    return ArtifactList(
        root=root,
        files=[
            ArtifactInfo(path=f"{root}/{entry.path}" if root else entry.path, is_dir=entry.is_dir, size=entry.size)
            for entry in entries
        ],
    )
