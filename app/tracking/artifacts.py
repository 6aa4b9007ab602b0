"""Run artifacts: the server mints every key (`runs/<id>/artifacts/<relpath>`) and streams bytes."""

from collections.abc import Iterator

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.errors import ArtifactExists, ArtifactNotFound, InvalidInput
from app.storage import ArtifactStore, join_key, validate_relative_path
from app.storage.upload import SpooledUpload
from app.tracking import service
from app.tracking.schemas import ArtifactInfo, ArtifactList, ArtifactStored


def artifact_key(run_id: str, path: str) -> str:
    return join_key("runs", run_id, "artifacts", validate_relative_path(path))


def parse_if_none_match(value: str | None) -> bool:
    """True for `If-None-Match: *` (write only if absent); artifacts carry no ETags to match."""
    if value is None:
        return False
    if value.strip() != "*":
        raise InvalidInput(
            "If-None-Match on an artifact upload can only be '*' (refuse to overwrite)", field="If-None-Match"
        )
    return True


def check_writable(store: ArtifactStore, run_id: str, path: str, *, if_absent: bool) -> None:
    """Refuse a bad path, and an existing artifact under `if_absent`, before the body is read."""
    key = artifact_key(run_id, path)
    if if_absent and store.exists(key):
        raise _exists(run_id, path)


def store_artifact(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    run_id: str,
    path: str,
    upload: SpooledUpload,
    *,
    if_absent: bool = False,
) -> ArtifactStored:
    clean = validate_relative_path(path)
    key = join_key("runs", run_id, "artifacts", clean)
    service.ensure_run_exists(session, run_id)
    # Audited first, so the write is the last step and a failure before it leaves nothing stored.
    audit.record(session, actor, "run.artifact.put", "run", run_id, {"path": clean, "size": upload.size})
    try:
        # The backend decides `if_absent` in the write itself, so two racing uploads cannot both win.
        store.put_file(key, upload.file, if_absent=if_absent)
    except ArtifactExists as exc:
        raise _exists(run_id, clean) from exc
    return ArtifactStored(path=clean, size=upload.size, sha256=upload.sha256)


def _exists(run_id: str, path: str) -> ArtifactExists:
    return ArtifactExists(f"run {run_id} already has an artifact at {path!r} (If-None-Match: *)", path=path)


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
