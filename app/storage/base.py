"""The ArtifactStore protocol every backend implements, and the small value types it returns."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One entry of a listing: `path` is relative to the listed prefix (one segment)."""

    path: str
    is_dir: bool
    size: int | None


class ArtifactStore(Protocol):
    """Keys are relative paths minted by the server; every method re-validates them.

    Errors: InvalidPath for a bad key, ArtifactNotFound for a missing object,
    StorageUnavailable (a ServiceUnavailable: 503 with Retry-After) when the backend cannot be
    reached or fails in a way a retry can cure, InsufficientStorage (507) when it is full.
    """

    def put_file(self, key: str, fileobj: BinaryIO, *, if_absent: bool = False) -> None:
        """Store the whole of `fileobj` (seekable, at position 0) under `key`, replacing it.

        Readers never see a half-written object; on error nothing new is left behind.
        `fileobj` stays open: the caller owns it. With `if_absent`, ArtifactExists when an
        object is at `key`, decided by the backend in the write itself (no check-then-write race).
        """
        ...

    def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Open `key` now (ArtifactNotFound before any byte is sent) and stream it in chunks."""
        ...

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at `key`, or None when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def list_dir(self, prefix: str) -> list[ObjectInfo]:
        """Entries one level below `prefix` ("" is the store root), sorted by path, like `ls`."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object at `key`; none there is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under `prefix/`; nothing there is not an error."""
        ...

    def check(self) -> None:
        """Raise ServiceUnavailable unless the backend answers; used by /readyz."""
        ...

    def describe(self) -> str:
        """Where the artifacts live, for logs; never holds a secret."""
        ...


def download_to(store: ArtifactStore, key: str, path: Path) -> None:
    """Copy one stored object into a local file, chunk by chunk."""
    with path.open("wb") as out:
        for chunk in store.open_stream(key):
            out.write(chunk)
