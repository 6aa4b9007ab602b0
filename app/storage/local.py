"""ArtifactStore on a local folder: the embedded default. Keys map to files under the root."""

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.errors import (
    ArtifactExists,
    ArtifactNotFound,
    Conflict,
    InsufficientStorage,
    InvalidPath,
    ServiceUnavailable,
    StorageUnavailable,
)
from app.storage.base import DEFAULT_CHUNK_SIZE, ObjectInfo
from app.storage.paths import validate_relative_path

# In-progress uploads live next to their destination under this name and are never listed.
_PARTIAL_PREFIX = ".shipyard-upload-"
_PARTIAL_SUFFIX = ".part"
# A full disk or quota is the store's state, not the request's: 507, as WebDAV answers it (RFC 4918 §11.5).
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# The folder cannot be written at all (read-only remount, failing disk): an outage, 503.
_UNAVAILABLE = {errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ESTALE}


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def describe(self) -> str:
        return f"local folder {self._root}"

    def check(self) -> None:
        if not self._root.is_dir():
            raise ServiceUnavailable(f"artifact folder {self._root} does not exist")
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise ServiceUnavailable(f"artifact folder {self._root} is not writable")

    def put_file(self, key: str, fileobj: BinaryIO, *, if_absent: bool = False) -> None:
        destination = self._path(key)
        with _translated(key):
            created, fd, partial_name = _open_partial(destination, key)
        partial = Path(partial_name)
        try:
            with _translated(key):
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(fileobj, out, DEFAULT_CHUNK_SIZE)
                    out.flush()
                    os.fsync(out.fileno())
                if if_absent:
                    # link() creates the name only if it is free, in one step: no check-then-write race.
                    os.link(partial, destination)
                    partial.unlink()
                else:
                    os.replace(partial, destination)
        except FileExistsError as exc:
            _discard(partial, created)
            raise ArtifactExists(f"an object exists at {key!r}") from exc
        except IsADirectoryError as exc:
            _discard(partial, created)
            raise Conflict(f"artifact path {key!r} is a folder") from exc
        except BaseException:
            _discard(partial, created)
            raise

    def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        path = self._path(key)
        try:
            # Opened here, not in the generator, so a missing file fails before streaming starts.
            with _translated(key):
                handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ArtifactNotFound(f"no artifact at {key!r}") from exc
        return _read_chunks(handle, chunk_size)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_dir(self, prefix: str) -> list[ObjectInfo]:
        folder = self._path(prefix) if prefix else self._root
        if not folder.is_dir():
            return []
        entries = []
        for entry in folder.iterdir():
            if _is_partial(entry.name) or not self._inside_root(entry.resolve()):
                continue
            if entry.is_dir():
                entries.append(ObjectInfo(path=entry.name, is_dir=True, size=None))
            elif entry.is_file():
                entries.append(ObjectInfo(path=entry.name, is_dir=False, size=entry.stat().st_size))
        return sorted(entries, key=lambda info: (info.path, info.is_dir))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _translated(key):
            if path.is_file():
                path.unlink(missing_ok=True)
                self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove `folder` and its parents while they are empty, as S3 has no empty folders."""
        while folder != self._root and self._inside_root(folder):
            try:
                folder.rmdir()
            except OSError:
                # Not empty (or just refilled by an upload): everything above stays too.
                return
            folder = folder.parent

    def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix)
        with _translated(prefix):
            if folder.is_dir():
                shutil.rmtree(folder)

    def _path(self, key: str) -> Path:
        """The file for `key`, refused unless it resolves (symlinks followed) inside the root."""
        relative = validate_relative_path(key)
        resolved = self._root.joinpath(*relative.split("/")).resolve()
        if resolved == self._root or not self._inside_root(resolved):
            raise InvalidPath(f"path {key!r} leads outside the artifact store")
        return resolved

    def _inside_root(self, resolved: Path) -> bool:
        return resolved.is_relative_to(self._root)


@contextmanager
def _translated(key: str) -> Iterator[None]:
    """A full disk is a 507 and an unwritable folder a 503, naming the key; other OSErrors stay bugs."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise InsufficientStorage(f"the artifact store has no room for {key!r} ({os.strerror(exc.errno)})") from exc
        if exc.errno in _UNAVAILABLE:
            raise StorageUnavailable(f"the artifact store cannot write {key!r} ({os.strerror(exc.errno)})") from exc
        raise


def _read_chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _open_partial(destination: Path, key: str) -> tuple[list[Path], int, str]:
    """Create the folders `destination` needs and a partial file beside it: (folders created, fd, name)."""
    # A delete prunes folders as they empty, so one can vanish between its creation and this file.
    for _ in range(3):
        created = _make_parents(destination.parent, key)
        try:
            fd, name = tempfile.mkstemp(dir=destination.parent, prefix=_PARTIAL_PREFIX, suffix=_PARTIAL_SUFFIX)
        except FileNotFoundError:
            continue
        return created, fd, name
    raise StorageUnavailable(f"the folder for {key!r} kept disappearing while it was written")


def _make_parents(folder: Path, key: str) -> list[Path]:
    """Create `folder` and its missing parents; return those created, deepest last."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    if not current.is_dir():
        raise Conflict(f"artifact path {key!r} runs through a file")
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            # A concurrent upload made it; it is not ours to remove.
            continue
        created.append(path)
    return created


def _discard(partial: Path, created: list[Path]) -> None:
    partial.unlink(missing_ok=True)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            # Not empty: another upload has used it meanwhile.
            return


def _is_partial(name: str) -> bool:
    return name.startswith(_PARTIAL_PREFIX) and name.endswith(_PARTIAL_SUFFIX)
