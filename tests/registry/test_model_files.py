"""Model files that could act are refused through HTTP, on SQLite and Postgres, local folder and S3:
untrusted functions, manifest paths that leave the model, unlisted or pickled files, hostile archives."""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import pickle
import stat
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.datasets import dump_svmlight_file
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from tests.registry.conftest import trained_pipeline, write_model_folder, zip_folder
from tests.registry.test_router import logged_run, new_model, register

PAYLOAD = {"harmless": "but a pickle all the same"}


def add_listed(folder: Path, relative: str, data: bytes) -> Path:
    """Write `relative` into the model folder and list it, with its hash, in model.json."""
    target = folder.joinpath(*relative.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["artifacts"][relative] = hashlib.sha256(data).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tarred(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload_zip(client: TestClient, headers: dict[str, str], name: str, body: bytes) -> httpx.Response:
    return client.post(
        f"/api/v1/models/{name}/versions", content=body, headers={**headers, "Content-Type": "application/zip"}
    )


def latest_version(client: TestClient, headers: dict[str, str], name: str) -> int:
    return int(client.get(f"/api/v1/models/{name}", headers=headers).json()["latest_version"])


# ---- item 1: exact types, no arbitrary functions ---------------------------------------------


@pytest.mark.parametrize(
    ("func", "kw_args", "named"),
    [
        (dump_svmlight_file, {"f": "written-by-the-model.svm"}, "dump_svmlight_file"),
        (np.load, {"file": "some.npy"}, "numpy.load"),
        (np.fromfile, {"file": "some.bin"}, "numpy.fromfile"),
        (np.savetxt, {"fname": "written-by-the-model.txt"}, "numpy.savetxt"),
        # A ufunc skops trusts by default, but not one a model needs: still refused.
        (np.frexp, None, "numpy.frexp"),
    ],
)
def test_a_function_off_the_list_is_refused_and_named(
    registry: TestClient,
    reg_editor: dict[str, str],
    tmp_path: Path,
    func: Callable[..., Any],
    kw_args: dict[str, Any] | None,
    named: str,
) -> None:
    pipeline = make_pipeline(FunctionTransformer(func=func, kw_args=kw_args), StandardScaler())
    folder = write_model_folder(tmp_path / "hostile", pipeline)
    name = new_model(registry, reg_editor)

    for response in (
        register(registry, reg_editor, name, logged_run(registry, reg_editor, folder)),
        upload_zip(registry, reg_editor, name, zip_folder(folder)),
    ):
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["code"] == "untrusted_model"
        assert any(named in refused for refused in problem["untrusted_types"]), problem
        assert named.rsplit(".", 1)[-1] in problem["detail"]
    assert latest_version(registry, reg_editor, name) == 0


def test_a_listed_pure_function_is_trusted(registry: TestClient, reg_editor: dict[str, str], tmp_path: Path) -> None:
    pipeline = make_pipeline(FunctionTransformer(func=np.log1p, inverse_func=np.expm1), StandardScaler())
    folder = write_model_folder(tmp_path / "log1p", pipeline)
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, zip_folder(folder))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "READY"


# ---- item 2: paths inside model.json stay inside the model -----------------------------------


@pytest.fixture
def outside_skops() -> Iterator[Path]:
    """A loadable skops file just outside the server's temporary model folder (its parent)."""
    path = Path(tempfile.gettempdir()) / f"outside-{uuid.uuid4().hex[:10]}.skops"
    sio.dump(trained_pipeline(), path)
    yield path
    path.unlink(missing_ok=True)


def test_a_model_file_outside_the_folder_is_refused_alike_whether_it_exists_or_not(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, outside_skops: Path
) -> None:
    name = new_model(registry, reg_editor)
    absent = outside_skops.with_name(f"absent-{uuid.uuid4().hex[:10]}.skops")
    problems = {}
    for label, model_file in (
        ("absolute, present", str(outside_skops)),
        ("absolute, absent", str(absent)),
        ("dotdot, present", f"../{outside_skops.name}"),
        ("dotdot, absent", f"../{absent.name}"),
    ):
        folder = write_model_folder(tmp_path / label.replace(", ", "-"), trained_pipeline())
        manifest = json.loads((folder / "model.json").read_text())
        manifest["model_file"] = model_file
        manifest["artifacts"][model_file] = hashlib.sha256(outside_skops.read_bytes()).hexdigest()
        (folder / "model.json").write_text(json.dumps(manifest))
        for via, response in (
            ("run", register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))),
            ("zip", upload_zip(registry, reg_editor, name, zip_folder(folder))),
        ):
            assert response.status_code == 400, (label, via, response.text)
            problem = response.json()
            assert problem["code"] == "invalid_path"
            assert "model.json" in problem["detail"]
            assert outside_skops.name not in problem["detail"]
            assert absent.name not in problem["detail"]
            problems[(label, via)] = problem
    # What exists on the server's disk makes no difference to the answer.
    for via in ("run", "zip"):
        assert problems[("absolute, present", via)] == problems[("absolute, absent", via)]
        assert problems[("dotdot, present", via)] == problems[("dotdot, absent", via)]
    assert latest_version(registry, reg_editor, name) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"model_file": "other.skops"},  # a file the manifest does not list
        {"model_file": "sub//model.skops"},
        {"artifacts": {"../model.skops": "0" * 64}},
        {"artifacts": {"%2e%2e/model.skops": "0" * 64}},
    ],
)
def test_manifest_paths_must_be_listed_plain_relative_paths(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, overrides: dict[str, Any]
) -> None:
    folder = write_model_folder(tmp_path / "paths", trained_pipeline(), manifest_overrides=overrides)
    name = new_model(registry, reg_editor)
    response = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_path"
    assert "model.json" in response.json()["detail"]


# ---- item 3: a model folder holds only what its manifest lists --------------------------------


def test_an_unlisted_file_is_refused_and_a_listed_plain_one_is_kept(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    name = new_model(registry, reg_editor)
    unlisted = write_model_folder(tmp_path / "unlisted", trained_pipeline())
    (unlisted / "notes" / "extra.txt").parent.mkdir()
    (unlisted / "notes" / "extra.txt").write_text("not in the manifest")
    for response in (
        register(registry, reg_editor, name, logged_run(registry, reg_editor, unlisted)),
        upload_zip(registry, reg_editor, name, zip_folder(unlisted)),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_input"
        assert "notes/extra.txt" in response.json()["detail"]
    assert latest_version(registry, reg_editor, name) == 0

    listed = write_model_folder(tmp_path / "listed", trained_pipeline())
    add_listed(listed, "README.md", b"# Churn model\n\nIntended use: scoring.\n")
    add_listed(listed, "features.json", json.dumps({"features": ["age", "plan"]}).encode())
    add_listed(listed, "columns.csv", b"age,plan\n30,basic\n")
    response = upload_zip(registry, reg_editor, name, zip_folder(listed))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "READY"
    assert {f["path"] for f in response.json()["files"]} == {
        "model.json",
        "model.skops",
        "README.md",
        "features.json",
        "columns.csv",
    }


PICKLED = {
    "protocol 0": pickle.dumps(PAYLOAD, protocol=0),
    "protocol 1": pickle.dumps(PAYLOAD, protocol=1),
    "protocol 5": pickle.dumps(PAYLOAD, protocol=5),
    "gzip": gzip.compress(pickle.dumps(PAYLOAD, protocol=4)),
    "bz2": bz2.compress(pickle.dumps(PAYLOAD, protocol=0)),
    "xz": lzma.compress(pickle.dumps(PAYLOAD, protocol=1)),
    "in a zip": zipped({"inner/state.bin": pickle.dumps(PAYLOAD, protocol=2)}),
    "in a tar in a gzip": gzip.compress(tarred({"state.dat": pickle.dumps(PAYLOAD, protocol=0)})),
    "in a zip in a zip": zipped({"inner.zip": zipped({"state": pickle.dumps(PAYLOAD, protocol=1)})}),
}


@pytest.mark.parametrize("kind", list(PICKLED))
def test_a_listed_file_holding_a_pickle_is_refused(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, kind: str
) -> None:
    folder = add_listed(write_model_folder(tmp_path / "m", trained_pipeline()), "data/state.dat", PICKLED[kind])
    name = new_model(registry, reg_editor)
    for response in (
        register(registry, reg_editor, name, logged_run(registry, reg_editor, folder)),
        upload_zip(registry, reg_editor, name, zip_folder(folder)),
    ):
        assert response.status_code == 400, (kind, response.text)
        assert response.json()["code"] == "pickle_refused"
        assert "data/state.dat" in response.json()["detail"]
    assert latest_version(registry, reg_editor, name) == 0


def rewrite_skops(folder: Path, extra: dict[str, bytes]) -> Path:
    """Add members to the folder's model.skops (as a hostile skops file would hold them), relisted."""
    path = folder / "model.skops"
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in extra.items():
            archive.writestr(name, data)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["artifacts"]["model.skops"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    "member", ["0123456789.bin", "payload.pkl", "4242.npy"], ids=["bytes member", "pkl member", "npy member"]
)
def test_a_pickle_inside_the_skops_archive_is_refused(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, member: str
) -> None:
    folder = rewrite_skops(
        write_model_folder(tmp_path / "m", trained_pipeline()), {member: pickle.dumps(PAYLOAD, protocol=0)}
    )
    name = new_model(registry, reg_editor)
    response = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("pickle_refused", "untrusted_model")
    assert "model.skops" in response.json()["detail"]
    assert latest_version(registry, reg_editor, name) == 0


def test_a_high_ratio_member_of_the_skops_file_is_413(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    folder = rewrite_skops(write_model_folder(tmp_path / "m", trained_pipeline()), {"9999.bin": bytes(8 * 1024**2)})
    name = new_model(registry, reg_editor)
    response = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert "9999.bin" in response.json()["detail"]


def archive_with(folder: Path, extra: Callable[[zipfile.ZipFile], None]) -> bytes:
    """The zip of a valid model folder, plus whatever `extra` adds to it."""
    buffer = io.BytesIO(zip_folder(folder))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        extra(archive)
    return buffer.getvalue()


def special_member(name: str, mode: int, data: bytes = b"") -> Callable[[zipfile.ZipFile], None]:
    def add(archive: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo(name)
        info.create_system = 3  # unix, so the mode bits are read
        info.external_attr = mode << 16
        archive.writestr(info, data)

    return add


@pytest.mark.parametrize(
    ("member", "mode", "data"),
    [
        ("link-to-passwd", stat.S_IFLNK | 0o777, b"/etc/passwd"),
        ("model.skops.link", stat.S_IFLNK | 0o777, b"../../outside.skops"),
        ("a-fifo", stat.S_IFIFO | 0o644, b""),
        ("a-device", stat.S_IFCHR | 0o644, b""),
        ("a-block-device", stat.S_IFBLK | 0o644, b""),
    ],
)
def test_archive_links_and_special_members_are_refused(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path, member: str, mode: int, data: bytes
) -> None:
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, archive_with(model_folder, special_member(member, mode, data)))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"
    assert member in response.json()["detail"]
    assert latest_version(registry, reg_editor, name) == 0


@pytest.mark.parametrize(
    ("first", "second"), [("d", "d/x"), ("d/x", "d"), ("notes/a", "notes/a/b/c"), ("readme", "readme")]
)
def test_colliding_members_are_400_not_500(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path, first: str, second: str
) -> None:
    def add(archive: zipfile.ZipFile) -> None:
        archive.writestr(first, b"one")
        archive.writestr(second, b"two")

    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, archive_with(model_folder, add))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"
    assert first in response.json()["detail"]


def test_a_high_ratio_member_is_413_before_it_is_inflated(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    body = archive_with(model_folder, lambda archive: archive.writestr("zeros.bin", bytes(16 * 1024**2)))
    assert len(body) < 1024**2  # what is sent is small; what it would inflate to is not
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, body)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert "zeros.bin" in response.json()["detail"]


def test_a_large_but_plainly_compressed_listed_file_is_accepted(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    # 5 MB of random bytes compress barely at all: above the size bound, far below the ratio bound.
    data = np.random.default_rng(0).bytes(5 * 1024**2)
    folder = add_listed(write_model_folder(tmp_path / "m", trained_pipeline()), "embeddings.raw", data)
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, zip_folder(folder))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "READY"


def patched_member(body: bytes, name: str, *, flags: int | None = None, method: int | None = None) -> bytes:
    """`body` with the central directory entry of `name` claiming other flags or compression method."""
    data = bytearray(body)
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        length = int.from_bytes(data[entry + 28 : entry + 30], "little")
        if data[entry + 46 : entry + 46 + length] == name.encode():
            break
        entry = data.find(b"PK\x01\x02", entry + 4)
    assert entry >= 0, name
    if flags is not None:
        data[entry + 8 : entry + 10] = flags.to_bytes(2, "little")
    if method is not None:
        data[entry + 10 : entry + 12] = method.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize("damage", ["encrypted", "unknown compression", "bad crc"])
def test_an_unreadable_member_is_400_not_500(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path, damage: str
) -> None:
    notes = b"some notes to read"
    body = archive_with(model_folder, lambda archive: archive.writestr(zipfile.ZipInfo("notes.txt"), notes))
    if damage == "encrypted":
        body = patched_member(body, "notes.txt", flags=0x1)
    elif damage == "unknown compression":
        body = patched_member(body, "notes.txt", method=99)
    else:
        assert notes in body
        body = body.replace(notes, b"SOME notes to read")
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_input"
    assert "notes.txt" in response.json()["detail"]


def test_a_skops_file_with_a_bottomless_schema_fails_instead_of_crashing(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    folder = write_model_folder(tmp_path / "m", trained_pipeline())
    with zipfile.ZipFile(folder / "model.skops", "w") as archive:
        archive.writestr("schema.json", "[" * 100_000 + "]" * 100_000)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["artifacts"]["model.skops"] = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    name = new_model(registry, reg_editor)
    response = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "FAILED"
    assert "model.skops" in response.json()["status_message"]


def test_a_forest_whose_tree_points_outside_its_nodes_is_refused(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    model = trained_pipeline()
    forest = model.steps[-1][1]
    cls, args, state = forest.estimators_[0].tree_.__reduce__()
    state["nodes"]["left_child"][0] = 10**6  # prediction would read far past the node array
    crafted = cls(*args)
    crafted.__setstate__(state)
    forest.estimators_[0].tree_ = crafted
    folder = write_model_folder(tmp_path / "m", model)
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, zip_folder(folder))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "untrusted_model"
    assert "malformed tree" in response.json()["detail"]
    assert latest_version(registry, reg_editor, name) == 0


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bz2", "xz"])
def test_a_compressed_bomb_among_the_listed_files_is_413(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, compress: Callable[[bytes], bytes]
) -> None:
    bomb = compress(bytes(32 * 1024**2))
    assert len(bomb) < 256 * 1024
    folder = add_listed(write_model_folder(tmp_path / "m", trained_pipeline()), "data/zeros.gz", bomb)
    name = new_model(registry, reg_editor)
    response = upload_zip(registry, reg_editor, name, zip_folder(folder))
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert "data/zeros.gz" in response.json()["detail"]
