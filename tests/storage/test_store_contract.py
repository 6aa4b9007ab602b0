"""Behaviour every ArtifactStore shares, run against the local folder and S3 (moto) backends."""

import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.errors import ArtifactExists, ArtifactNotFound, InvalidPath
from app.storage.base import ArtifactStore, ObjectInfo

BAD_KEYS = ["../escape", "%2e%2e/escape", "%252e%252e%252fescape", "/etc/passwd", "a//b", "a\\b"]


def put_bytes(store: ArtifactStore, key: str, data: bytes) -> None:
    store.put_file(key, io.BytesIO(data))


def read_all(store: ArtifactStore, key: str) -> bytes:
    return b"".join(store.open_stream(key))


def test_round_trip_streams_in_chunks(store: ArtifactStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    put_bytes(store, "runs/1/artifacts/model/model.skops", data)

    chunks = list(store.open_stream("runs/1/artifacts/model/model.skops", chunk_size=256 * 1024))

    assert b"".join(chunks) == data
    assert len(chunks) > 1
    assert all(len(chunk) <= 256 * 1024 for chunk in chunks)
    assert store.size("runs/1/artifacts/model/model.skops") == len(data)
    assert store.exists("runs/1/artifacts/model/model.skops")


def test_put_replaces_an_existing_object(store: ArtifactStore) -> None:
    put_bytes(store, "a/b.txt", b"first")
    put_bytes(store, "a/b.txt", b"second, longer")

    assert read_all(store, "a/b.txt") == b"second, longer"


def test_put_leaves_the_callers_file_open(store: ArtifactStore) -> None:
    upload = io.BytesIO(b"small")

    store.put_file("small.txt", upload)

    assert not upload.closed


def test_empty_object(store: ArtifactStore) -> None:
    put_bytes(store, "empty.txt", b"")

    assert store.size("empty.txt") == 0
    assert read_all(store, "empty.txt") == b""


def test_missing_object(store: ArtifactStore) -> None:
    put_bytes(store, "folder/present.txt", b"x")

    assert store.size("folder/absent.txt") is None
    assert not store.exists("folder/absent.txt")
    # A "folder" is not an object.
    assert store.size("folder") is None
    assert not store.exists("folder")
    # Raised when the stream is opened, so an HTTP handler can still answer 404.
    with pytest.raises(ArtifactNotFound):
        store.open_stream("folder/absent.txt")
    with pytest.raises(ArtifactNotFound):
        store.open_stream("folder")


def test_list_dir_shows_one_level(store: ArtifactStore) -> None:
    put_bytes(store, "run/metrics.csv", b"12345")
    put_bytes(store, "run/model/model.skops", b"skops")
    put_bytes(store, "run/model/model.json", b"{}")
    put_bytes(store, "run/plots/loss curve.png", b"png")
    put_bytes(store, "run/plots/deep/er.png", b"png")
    put_bytes(store, "run2/other.txt", b"other")

    assert store.list_dir("run") == [
        ObjectInfo(path="metrics.csv", is_dir=False, size=5),
        ObjectInfo(path="model", is_dir=True, size=None),
        ObjectInfo(path="plots", is_dir=True, size=None),
    ]
    assert store.list_dir("run/plots") == [
        ObjectInfo(path="deep", is_dir=True, size=None),
        ObjectInfo(path="loss curve.png", is_dir=False, size=3),
    ]
    assert store.list_dir("") == [
        ObjectInfo(path="run", is_dir=True, size=None),
        ObjectInfo(path="run2", is_dir=True, size=None),
    ]


def test_list_dir_of_nothing_is_empty(store: ArtifactStore) -> None:
    put_bytes(store, "run/file.txt", b"x")

    assert store.list_dir("nothing/here") == []
    assert store.list_dir("run/file.txt") == []


def test_delete_prefix_removes_only_that_folder(store: ArtifactStore) -> None:
    put_bytes(store, "runs/1/a.txt", b"a")
    put_bytes(store, "runs/1/deep/b.txt", b"b")
    put_bytes(store, "runs/10/c.txt", b"c")

    store.delete_prefix("runs/1")

    assert not store.exists("runs/1/a.txt")
    assert not store.exists("runs/1/deep/b.txt")
    assert store.list_dir("runs") == [ObjectInfo(path="10", is_dir=True, size=None)]
    assert read_all(store, "runs/10/c.txt") == b"c"


def test_delete_prefix_of_nothing_is_fine(store: ArtifactStore) -> None:
    store.delete_prefix("never/written")


def test_check_passes(store: ArtifactStore) -> None:
    store.check()


def test_describe_says_where(store: ArtifactStore) -> None:
    assert store.describe()


def test_failed_put_leaves_nothing(store: ArtifactStore, failing_reader: Any) -> None:
    data = os.urandom(512 * 1024)

    with pytest.raises(OSError, match="connection lost"):
        store.put_file("runs/1/broken.bin", failing_reader(data, fail_after=200 * 1024))

    assert not store.exists("runs/1/broken.bin")
    assert store.list_dir("") == []


def test_failed_put_keeps_the_previous_version(store: ArtifactStore, failing_reader: Any) -> None:
    put_bytes(store, "model.bin", b"version one")

    with pytest.raises(OSError, match="connection lost"):
        store.put_file("model.bin", failing_reader(b"version two" * 1000, fail_after=100))

    assert read_all(store, "model.bin") == b"version one"


OPERATIONS: dict[str, Callable[[ArtifactStore, str], object]] = {
    "put_file": lambda store, key: store.put_file(key, io.BytesIO(b"evil")),
    "open_stream": lambda store, key: store.open_stream(key),
    "size": lambda store, key: store.size(key),
    "exists": lambda store, key: store.exists(key),
    "list_dir": lambda store, key: store.list_dir(key),
    "delete_prefix": lambda store, key: store.delete_prefix(key),
    "delete": lambda store, key: store.delete(key),
    "put_file if_absent": lambda store, key: store.put_file(key, io.BytesIO(b"x"), if_absent=True),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_refuses_bad_keys(store: ArtifactStore, operation: str) -> None:
    for key in BAD_KEYS:
        with pytest.raises(InvalidPath):
            OPERATIONS[operation](store, key)

    assert store.list_dir("") == []


def test_delete_prefix_refuses_the_whole_store(store: ArtifactStore) -> None:
    put_bytes(store, "keep.txt", b"x")

    with pytest.raises(InvalidPath):
        store.delete_prefix("")

    assert store.exists("keep.txt")


def test_put_if_absent_refuses_an_existing_object(store: ArtifactStore) -> None:
    put_bytes(store, "runs/1/a.txt", b"first")

    with pytest.raises(ArtifactExists):
        store.put_file("runs/1/a.txt", io.BytesIO(b"second"), if_absent=True)
    store.put_file("runs/1/b.txt", io.BytesIO(b"new"), if_absent=True)

    assert read_all(store, "runs/1/a.txt") == b"first"
    assert read_all(store, "runs/1/b.txt") == b"new"
    assert [entry.path for entry in store.list_dir("runs/1")] == ["a.txt", "b.txt"]


def test_racing_puts_if_absent_leave_exactly_one_winner(store: ArtifactStore) -> None:
    barrier = threading.Barrier(8)

    def attempt(i: int) -> bool:
        barrier.wait()
        try:
            store.put_file("runs/1/race.txt", io.BytesIO(f"writer {i}".encode()), if_absent=True)
        except ArtifactExists:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(attempt, range(8)))

    assert won.count(True) == 1
    assert read_all(store, "runs/1/race.txt") == f"writer {won.index(True)}".encode()


def test_delete_removes_one_object(store: ArtifactStore) -> None:
    put_bytes(store, "runs/1/a.txt", b"a")
    put_bytes(store, "runs/1/b.txt", b"b")

    store.delete("runs/1/a.txt")
    store.delete("runs/1/never-there.txt")

    assert not store.exists("runs/1/a.txt")
    assert read_all(store, "runs/1/b.txt") == b"b"
