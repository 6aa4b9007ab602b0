"""Moving model folders between the artifact store, zip archives and temporary folders,
with every member path validated and sizes capped (no zip-slip, no zip bomb)."""

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from app.errors import ArtifactNotFound, InvalidInput, PayloadTooLarge
from app.ml.model_io import sha256_file
from app.registry.schemas import VersionFile
from app.storage import ArtifactStore, download_to, join_key, validate_relative_path

MAX_ARCHIVE_MEMBERS = 10_000


def walk_store(store: ArtifactStore, prefix: str, relative: str = "") -> Iterator[str]:
    """Every file path below `prefix`, relative to it."""
    for entry in store.list_dir(join_key(prefix, relative) if relative else prefix):
        path = f"{relative}/{entry.path}" if relative else entry.path
        if entry.is_dir:
            yield from walk_store(store, prefix, path)
        else:
            yield path


def download_prefix(store: ArtifactStore, prefix: str, folder: Path) -> None:
    paths = sorted(walk_store(store, prefix))
    if not paths:
        raise ArtifactNotFound(f"no files under {prefix!r}")
    for relative in paths:
        target = folder.joinpath(*validate_relative_path(relative).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        download_to(store, join_key(prefix, relative), target)


def extract_archive(fileobj: BinaryIO, folder: Path, max_bytes: int) -> None:
    """Unpack a zip of a model folder; a single top-level folder inside it is taken as the root."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise InvalidInput("the body is not a zip archive of a model folder") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise InvalidInput("the archive is empty")
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise InvalidInput(f"the archive holds more than {MAX_ARCHIVE_MEMBERS} files")
        if sum(m.file_size for m in members) > max_bytes:
            raise PayloadTooLarge(f"the archive unpacks to more than {max_bytes} bytes")
        names = [validate_relative_path(m.filename) for m in members]
        roots = {name.split("/", 1)[0] for name in names}
        strip = len(roots) == 1 and all("/" in name for name in names)
        for member, name in zip(members, names, strict=True):
            relative = name.split("/", 1)[1] if strip else name
            target = folder.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)


def describe_files(folder: Path) -> list[VersionFile]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        files.append(VersionFile(path=relative, size=path.stat().st_size, sha256=sha256_file(path)))
    return files


def upload_folder(store: ArtifactStore, folder: Path, prefix: str, files: list[VersionFile]) -> None:
    for item in files:
        with folder.joinpath(*item.path.split("/")).open("rb") as handle:
            store.put_file(join_key(prefix, item.path), handle)


def zip_from_store(store: ArtifactStore, prefix: str, files: list[VersionFile]) -> BinaryIO:
    """A zip of the version's files in a temporary file (on disk past a few MB), at position 0."""
    spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (handed to the caller)
    with zipfile.ZipFile(spooled, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in files:
            with archive.open(item.path, "w", force_zip64=True) as out:
                for chunk in store.open_stream(join_key(prefix, item.path)):
                    out.write(chunk)
    spooled.seek(0)
    return spooled  # type: ignore[return-value]
