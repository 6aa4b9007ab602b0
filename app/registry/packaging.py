"""Moving model folders between the artifact store, zip archives and temporary folders,
with every member path validated and sizes capped (no zip-slip, no zip bomb)."""

import hashlib
import json
import logging
import lzma
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from app.errors import AppError, ArtifactNotFound, InvalidInput, InvalidPath, PayloadTooLarge, StoredFileCorrupt
from app.ml.model_io import MANIFEST_FILE, sha256_file
from app.registry.schemas import VersionFile
from app.storage import ArtifactStore, download_to, join_key, validate_relative_path
from shipyard.model_trust import UnsafeModelFile, check_ratio

MAX_ARCHIVE_MEMBERS = 10_000
logger = logging.getLogger(__name__)


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


def extract_archive(fileobj: BinaryIO, folder: Path, max_bytes: int, *, max_ratio: float, ratio_min_bytes: int) -> None:
    """Unpack a zip of a model folder; a single top-level folder inside it is taken as the root.
    Only regular files are written; links, devices, colliding names and bombs are refused first."""
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
        for member in archive.infolist():
            _check_member(member, max_ratio=max_ratio, ratio_min_bytes=ratio_min_bytes)
        names = [validate_relative_path(m.filename) for m in members]
        roots = {name.split("/", 1)[0] for name in names}
        strip = len(roots) == 1 and all("/" in name for name in names)
        relatives = [name.split("/", 1)[1] if strip else name for name in names]
        _refuse_collisions(relatives)
        for member, relative in zip(members, relatives, strict=True):
            target = folder.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error, lzma.LZMAError) as exc:
                # Encrypted, damaged (bad CRC) or compressed with a method zipfile lacks.
                raise InvalidInput(f"the archive member {member.filename!r} cannot be read: {exc}") from exc


def _check_member(member: zipfile.ZipInfo, *, max_ratio: float, ratio_min_bytes: int) -> None:
    mode = member.external_attr >> 16
    if member.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a device, fifo or socket"
        raise InvalidInput(f"the archive member {member.filename!r} is {kind}; only plain files are accepted")
    try:
        check_ratio(member, "the archive", max_ratio=max_ratio, min_bytes=ratio_min_bytes)
    except UnsafeModelFile as exc:
        raise PayloadTooLarge(str(exc)) from exc


def _refuse_collisions(relatives: list[str]) -> None:
    """Two members that would be one path (a duplicate, or a file `d` and a file `d/x`) are refused."""
    files = set()
    for relative in relatives:
        if relative in files:
            raise InvalidInput(f"the archive holds {relative!r} twice")
        files.add(relative)
    for relative in relatives:
        parts = relative.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in files:
                raise InvalidInput(f"the archive holds a file {parent!r} and also {relative!r} inside it")


def read_manifest_paths(folder: Path) -> None:
    """Validate the paths `model.json` names (model_file, the keys of artifacts) like artifact
    paths, before anything looks them up on disk."""
    path = folder / MANIFEST_FILE
    if path.is_symlink() or not path.is_file():
        return  # no manifest: validation fails the version and says so
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return  # not JSON: validation fails the version and says so
    if not isinstance(raw, dict):
        return
    named = [("model_file", raw.get("model_file"))]
    if isinstance(raw.get("artifacts"), dict):
        named += [(f"artifacts key {key!r}", key) for key in raw["artifacts"]]
    for field, value in named:
        if isinstance(value, str):
            try:
                validate_relative_path(value)
            except InvalidPath as exc:
                raise InvalidPath(f"{MANIFEST_FILE} {field}: {exc.detail}", field=field) from exc


def describe_files(folder: Path) -> list[VersionFile]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        files.append(VersionFile(path=relative, size=path.stat().st_size, sha256=sha256_file(path)))
    return files


def upload_folder(store: ArtifactStore, folder: Path, prefix: str, files: list[VersionFile]) -> list[str]:
    """Store each file under `prefix` and return their keys; when one fails, the ones already
    stored are removed before the error goes on, so a failed upload leaves nothing."""
    stored: list[str] = []
    try:
        for item in files:
            key = join_key(prefix, item.path)
            with folder.joinpath(*item.path.split("/")).open("rb") as handle:
                store.put_file(key, handle)
            stored.append(key)
    except BaseException:
        remove_objects(store, stored)
        raise
    return stored


def remove_objects(store: ArtifactStore, keys: list[str]) -> None:
    """Delete each key, going on past failures: when the store is down the leftovers are logged
    by key, so an operator can remove them."""
    for key in keys:
        try:
            store.delete(key)
        except AppError as exc:
            logger.warning("could not remove %s from the artifact store (%s); it is left behind", key, exc.detail)


def zip_from_store(store: ArtifactStore, prefix: str, files: list[VersionFile]) -> BinaryIO:
    """A zip of the version's files in a temporary file (on disk past a few MB), at position 0.

    Each file's bytes are checked against its recorded size and SHA-256 as they are copied;
    StoredFileCorrupt (nothing is served) when one differs."""
    spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (handed to the caller)
    try:
        with zipfile.ZipFile(spooled, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for item in files:
                key = join_key(prefix, item.path)
                digest, size = hashlib.sha256(), 0
                try:
                    chunks = store.open_stream(key)
                except ArtifactNotFound as exc:
                    logger.error("stored file %s of a READY version is missing", key)
                    raise StoredFileCorrupt(
                        f"the stored copy of {item.path!r} is missing; the version cannot be served until an "
                        "operator restores the file",
                        file=item.path,
                    ) from exc
                with archive.open(item.path, "w", force_zip64=True) as out:
                    for chunk in chunks:
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if size != item.size or digest.hexdigest() != item.sha256:
                    logger.error(
                        "stored file %s is corrupt: %d bytes with SHA-256 %s, registered as %d bytes with %s",
                        key,
                        size,
                        digest.hexdigest(),
                        item.size,
                        item.sha256,
                    )
                    raise StoredFileCorrupt(
                        f"the stored copy of {item.path!r} does not match the SHA-256 registered for it; "
                        "the version cannot be served until an operator restores the file",
                        file=item.path,
                    )
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled  # type: ignore[return-value]
