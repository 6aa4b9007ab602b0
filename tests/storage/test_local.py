"""The local folder backend: confinement to its root, atomic writes, and its own failure modes."""

import io
import os
from pathlib import Path
from typing import Any

import pytest

from app.errors import Conflict, InvalidPath, ServiceUnavailable
from app.storage.local import LocalArtifactStore

BAD_KEYS = [
    "../escape.txt",
    "%2e%2e/escape.txt",
    "%252e%252e%252fescape.txt",
    "sub/../../escape.txt",
    "/tmp/escape.txt",
    "C:\\escape.txt",
    "c:/escape.txt",
    "a\\..\\escape.txt",
    "a%00b",
    "a#b",
    "a?b",
    "a;b",
    "a/./b",
    "a//b",
    "a/",
    "",
]


def all_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if not path.is_dir()]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_write_nothing_anywhere(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    store = LocalArtifactStore(root)

    with pytest.raises(InvalidPath):
        store.put_file(key, io.BytesIO(b"evil"))

    assert list(tmp_path.iterdir()) == [root]
    assert list(root.iterdir()) == []


def test_round_trip_lands_under_the_root(local_root: Path, local_store: LocalArtifactStore) -> None:
    local_store.put_file("runs/1/artifacts/plots/loss curve.png", io.BytesIO(b"png"))

    written = local_root / "runs" / "1" / "artifacts" / "plots" / "loss curve.png"
    assert written.read_bytes() == b"png"
    assert all_files(local_root) == [written]


def test_symlinked_folder_pointing_outside_is_refused(
    tmp_path: Path, local_root: Path, local_store: LocalArtifactStore
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (local_root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidPath):
        local_store.put_file("link/planted.txt", io.BytesIO(b"evil"))
    with pytest.raises(InvalidPath):
        local_store.open_stream("link/secret.txt")
    with pytest.raises(InvalidPath):
        local_store.size("link/secret.txt")
    with pytest.raises(InvalidPath):
        local_store.list_dir("link")
    with pytest.raises(InvalidPath):
        local_store.delete_prefix("link")

    assert sorted(path.name for path in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert local_store.list_dir("") == []


def test_symlinked_file_pointing_outside_is_refused(
    tmp_path: Path, local_root: Path, local_store: LocalArtifactStore
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    (local_root / "passwd").symlink_to(secret)

    with pytest.raises(InvalidPath):
        local_store.open_stream("passwd")
    with pytest.raises(InvalidPath):
        local_store.put_file("passwd", io.BytesIO(b"overwritten"))

    assert secret.read_bytes() == b"secret"


def test_failed_put_leaves_no_file_nor_folder(
    local_root: Path, local_store: LocalArtifactStore, failing_reader: Any
) -> None:
    data = os.urandom(3 * 1024 * 1024)

    with pytest.raises(OSError, match="connection lost"):
        local_store.put_file("runs/1/model.bin", failing_reader(data, fail_after=2 * 1024 * 1024))

    assert list(local_root.iterdir()) == []


def test_failed_put_keeps_folders_it_did_not_create(
    local_root: Path, local_store: LocalArtifactStore, failing_reader: Any
) -> None:
    local_store.put_file("runs/1/kept.txt", io.BytesIO(b"kept"))

    with pytest.raises(OSError, match="connection lost"):
        local_store.put_file("runs/1/new/broken.bin", failing_reader(b"x" * 100, fail_after=10))

    assert all_files(local_root) == [local_root / "runs" / "1" / "kept.txt"]
    assert not (local_root / "runs" / "1" / "new").exists()


def test_put_onto_a_folder_is_a_conflict(local_root: Path, local_store: LocalArtifactStore) -> None:
    local_store.put_file("run/model/model.json", io.BytesIO(b"{}"))

    with pytest.raises(Conflict):
        local_store.put_file("run/model", io.BytesIO(b"file"))
    with pytest.raises(Conflict):
        local_store.put_file("run/model/model.json/inner", io.BytesIO(b"file"))

    assert all_files(local_root) == [local_root / "run" / "model" / "model.json"]


def test_check_fails_without_its_folder(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "missing")

    with pytest.raises(ServiceUnavailable):
        store.check()
