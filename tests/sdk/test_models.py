"""`log_model` / `load_model` and the registry methods end to end, over real HTTP against a
`shipyard server` process; the loading side also runs in a fresh Python process."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.datasets import dump_svmlight_file
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import shipyard
from shipyard import errors
from shipyard.models import extract_model_archive, load_model_folder, save_model, sha256_file
from tests.sdk.churn import churn_frame, fitted_pipeline
from tests.sdk.live_server import REPO_ROOT, LiveServer

FRESH_PROCESS_TIMEOUT_SECONDS = 60


class HomeMadeModel(BaseEstimator):
    """A class of the user's own: not on the allow-list, so the registry must refuse it."""

    def fit(self, X: Any, y: Any) -> "HomeMadeModel":
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)


@pytest.fixture
def model_name() -> str:
    return f"churn-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def editor_token(admin_client: shipyard.Client) -> str:
    user = admin_client.create_user(f"ds-{uuid.uuid4().hex[:8]}", role="editor", password="a-long-password")
    secret = admin_client.create_token(user.username, name="notebook").token
    assert secret is not None
    return secret


def load_in_fresh_process(live_server: LiveServer, uri: str, rows: pd.DataFrame, workdir: Path) -> list[Any]:
    """`shipyard.load_model(uri).predict(rows)` in a new interpreter that never saw the estimator."""
    example = workdir / "rows.json"
    example.write_text(rows.to_json(orient="split", index=False))
    script = textwrap.dedent(
        f"""
        import json, sys
        import pandas as pd
        import shipyard
        model = shipyard.load_model({uri!r})
        rows = pd.read_json({str(example)!r}, orient="split")
        print(json.dumps(model.predict(rows).tolist()))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        SHIPYARD_URL=live_server.url,
        SHIPYARD_TOKEN=live_server.token,
        HOME=str(workdir),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=FRESH_PROCESS_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    predictions: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return predictions


def test_log_register_promote_and_load_in_a_fresh_process(
    fluent: shipyard.Client,
    live_server: LiveServer,
    admin_client: shipyard.Client,
    editor_token: str,
    experiment_name: str,
    model_name: str,
    tmp_path: Path,
) -> None:
    features, label = churn_frame()
    pipeline = fitted_pipeline(features, label)
    shipyard.set_tracking(live_server.url, editor_token)
    with shipyard.start_run(experiment_name) as run:
        run.log_metric("accuracy", float((pipeline.predict(features) == label).mean()))
        version = run.log_model(
            pipeline, "model", input_example=features[:5], register_as=model_name, alias="candidate"
        )

    assert version is not None
    assert (version.model, version.version, version.status) == (model_name, 1, "READY")
    assert version.aliases == ["candidate"]
    assert version.source_run_id == run.id
    assert version.flavor == "sklearn"
    assert "accuracy" in version.metrics, "buffered metrics are sent before the version is made"
    assert {f.path for f in version.files} == {"model.json", "model.skops"}
    assert version.signature is not None
    assert [c["name"] for c in version.signature["inputs"]] == ["tenure", "monthly", "plan"]
    assert {a.path for a in admin_client.list_artifacts(run.id, "model")} == {"model/model.json", "model/model.skops"}

    # `production` is the release approval: an editor cannot move it, an admin can.
    with pytest.raises(errors.Forbidden, match="protected"):
        shipyard.get_client().set_alias(model_name, "production", version.version)
    change = admin_client.set_alias(model_name, "production", version.version)
    assert (change.version, change.previous_version) == (1, None)
    assert admin_client.get_model(model_name).aliases == {"candidate": 1, "production": 1}
    assert admin_client.get_model_version(model_name, "production").version == 1

    expected = pipeline.predict(features[:20]).tolist()
    fresh = load_in_fresh_process(live_server, f"models:/{model_name}@production", features[:20], tmp_path)
    assert fresh == expected
    for uri in (f"models:/{model_name}/1", f"{model_name}/1", f"{model_name}@candidate", model_name):
        assert shipyard.load_model(uri).predict(features[:20]).tolist() == expected, uri

    kept = tmp_path / "kept"
    assert shipyard.load_model(f"models:/{model_name}/1", dest=kept).predict(features[:3]).tolist() == expected[:3]
    assert sorted(p.name for p in kept.iterdir()) == ["model.json", "model.skops"]


def test_a_tampered_file_fails_the_hash_check(
    live_server: LiveServer, admin_client: shipyard.Client, experiment_name: str, model_name: str, tmp_path: Path
) -> None:
    features, label = churn_frame(rows=80, seed=1)
    experiment = admin_client.get_or_create_experiment(experiment_name)
    run = admin_client.create_run(experiment.id)
    version = admin_client.log_model(
        run.id, fitted_pipeline(features, label), input_example=features[:5], register_as=model_name
    )
    assert version is not None

    # Someone with access to the bucket swaps bytes of the stored model (same size).
    stored = live_server.data_dir / "artifacts" / "models" / model_name / "1" / "model.skops"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    # The server checks the stored files against their SHA-256 before it serves the zip.
    with pytest.raises(errors.StoredFileCorrupt, match="SHA-256") as refused:
        admin_client.load_model(f"models:/{model_name}/1", dest=tmp_path / "model")
    assert refused.value.problem["file"] == "model.skops"
    assert not (tmp_path / "model").exists(), "nothing is written where a bad download was headed"


def test_refused_and_failed_registrations_say_why(
    admin_client: shipyard.Client, experiment_name: str, model_name: str, tmp_path: Path
) -> None:
    features, label = churn_frame(rows=40, seed=2)
    experiment = admin_client.get_or_create_experiment(experiment_name)
    run = admin_client.create_run(experiment.id)

    with pytest.raises(errors.UntrustedModel) as untrusted:
        admin_client.log_model(
            run.id, HomeMadeModel().fit(features, label), "custom", input_example=features[:5], register_as=model_name
        )
    assert "HomeMadeModel" in untrusted.value.detail
    assert any("HomeMadeModel" in name for name in untrusted.value.problem["untrusted_types"])

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04K\x01.")
    admin_client.log_artifact(run.id, pickled, "pickled")
    with pytest.raises(errors.PickleRefused, match="skops"):
        admin_client.register_model(run.id, model_name, "pickled")

    manifest = tmp_path / "model.json"
    manifest.write_text(json.dumps({"flavor": "sklearn"}))
    admin_client.log_artifact(run.id, manifest, "incomplete")
    with pytest.raises(errors.ModelRegistrationFailed, match="incomplete") as failed:
        admin_client.register_model(run.id, model_name, "incomplete")
    number = failed.value.problem["version"]
    assert admin_client.get_model_version(model_name, number).status == "FAILED"
    with pytest.raises(errors.ModelNotReady, match="FAILED"):
        admin_client.load_model(f"{model_name}/{number}")

    with pytest.raises(errors.AliasNotFound):
        admin_client.load_model(f"{model_name}@nowhere")
    with pytest.raises(ValueError, match="model reference"):
        admin_client.load_model("not a reference")


def test_log_model_without_registering_and_listing(
    admin_client: shipyard.Client, experiment_name: str, model_name: str
) -> None:
    features, label = churn_frame(rows=40, seed=3)
    pipeline = fitted_pipeline(features, label)
    experiment = admin_client.get_or_create_experiment(experiment_name)
    run = admin_client.create_run(experiment.id)

    assert admin_client.log_model(run.id, pipeline, "plain", input_example=features[:5]) is None
    assert {a.path for a in admin_client.list_artifacts(run.id, "plain")} == {"plain/model.json", "plain/model.skops"}
    with pytest.raises(ValueError, match="register_as"):
        admin_client.log_model(run.id, pipeline, input_example=features[:5], alias="candidate")

    admin_client.create_model(model_name, description="churn propensity", tags={"team": "risk"})
    first = admin_client.register_model(run.id, model_name, "plain")
    second = admin_client.register_model(run.id, model_name, "plain", alias="candidate")
    assert [v.version for v in admin_client.list_model_versions(model_name)] == [second.version, first.version]
    assert admin_client.set_alias(model_name, "candidate", first.version).previous_version == second.version
    listed = admin_client.list_models(name_like=model_name)
    assert [m.name for m in listed] == [model_name]
    assert listed[0].tags == {"team": "risk"}
    assert listed[0].aliases == {"candidate": first.version}
    admin_client.delete_alias(model_name, "candidate")
    assert admin_client.get_model(model_name).aliases == {}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../escape.txt": b"x"}, "unsafe path"),
        ({"/etc/passwd": b"x"}, "unsafe path"),
        ({"sub\\..\\..\\x": b"x"}, "unsafe path"),
        ({"model.json": b"{}", "extra.py": b"import os"}, "does not list"),
        ({"model.json": b"{}" * 10}, "bytes"),
        ({}, "lacks model.json"),
    ],
)
def test_unpacking_refuses_what_the_registry_does_not_list(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    archive = tmp_path / "version.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    listed = [{"path": "model.json", "size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()}]
    with pytest.raises(errors.ModelLoadError, match=message):
        extract_model_archive(archive, tmp_path / "files", listed)
    assert not (tmp_path / "escape.txt").exists()


def test_a_pickle_loads_only_when_allowed(
    live_server: LiveServer, admin_client: shipyard.Client, model_name: str, tmp_path: Path
) -> None:
    features, label = churn_frame(rows=40, seed=4)
    pipeline = fitted_pipeline(features, label)
    dumped = tmp_path / "model.joblib"
    joblib.dump(pipeline, dumped)
    admin_client.create_model(model_name)
    # An admin's bare pickle upload (the server is started with SHIPYARD_ALLOW_PICKLE=true).
    uploaded = httpx.post(
        f"{live_server.url}/api/v1/models/{model_name}/versions",
        params={"filename": "model.joblib"},
        content=dumped.read_bytes(),
        headers={"Authorization": f"Bearer {live_server.token}", "Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["flavor"] == "sklearn-pickle"

    with pytest.raises(errors.ModelLoadError, match="allow_pickle"):
        admin_client.load_model(f"{model_name}/1")
    loaded = admin_client.load_model(f"{model_name}/1", allow_pickle=True)
    assert loaded.predict(features).tolist() == pipeline.predict(features).tolist()


def special_zip(archive: Path, members: list[tuple[str, int, bytes]]) -> Path:
    """A zip whose members carry unix modes (links, fifos, devices) next to plain files."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name, mode, data in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data)
    return archive


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("link", stat.S_IFLNK | 0o777, b"/etc/passwd"), "link or a special file"),
        (("fifo", stat.S_IFIFO | 0o644, b""), "link or a special file"),
        (("model.json/x", stat.S_IFREG | 0o644, b"{}"), "also 'model.json/x'"),
        (("zeros", stat.S_IFREG | 0o644, bytes(8 * 1024**2)), "bound"),
    ],
)
def test_unpacking_refuses_links_collisions_and_bombs(
    tmp_path: Path, extra: tuple[str, int, bytes], message: str
) -> None:
    archive = special_zip(tmp_path / "version.zip", [("model.json", stat.S_IFREG | 0o644, b"{}"), extra])
    listed = [
        {"path": "model.json", "size": 2, "sha256": hashlib.sha256(b"{}").hexdigest()},
        {"path": extra[0], "size": len(extra[2]), "sha256": hashlib.sha256(extra[2]).hexdigest()},
    ]
    with pytest.raises(errors.ModelLoadError, match=message):
        extract_model_archive(archive, tmp_path / "files", listed)
    assert not (tmp_path / "files" / extra[0]).exists()


def listed_files(folder: Path) -> list[dict[str, Any]]:
    return [
        {"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def test_loading_refuses_functions_off_the_shared_list(tmp_path: Path) -> None:
    features, label = churn_frame(rows=40, seed=5)
    folder = tmp_path / "model"
    save_model(fitted_pipeline(features, label), folder, features[:5])
    assert load_model_folder(folder, listed_files(folder)).predict(features[:3]) is not None

    hostile = make_pipeline(FunctionTransformer(func=dump_svmlight_file, kw_args={"f": str(tmp_path / "w")}))
    sio.dump(hostile, folder / "model.skops")
    with pytest.raises(errors.ModelLoadError, match="dump_svmlight_file"):
        load_model_folder(folder, listed_files(folder))
    sio.dump(make_pipeline(FunctionTransformer(func=np.frexp)), folder / "model.skops")
    with pytest.raises(errors.ModelLoadError, match="numpy.frexp"):
        load_model_folder(folder, listed_files(folder))
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("model_file", ["/etc/hostname", "../outside.skops", "other.skops"])
def test_loading_refuses_a_model_file_outside_the_version(tmp_path: Path, model_file: str) -> None:
    features, label = churn_frame(rows=40, seed=6)
    folder = tmp_path / "model"
    save_model(fitted_pipeline(features, label), folder, features[:5])
    save_model(fitted_pipeline(features, label), tmp_path / "elsewhere", features[:5])
    (tmp_path / "outside.skops").write_bytes((tmp_path / "elsewhere" / "model.skops").read_bytes())
    manifest = json.loads((folder / "model.json").read_text())
    manifest["model_file"] = model_file
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(errors.ModelLoadError, match="model_file"):
        load_model_folder(folder, listed_files(folder))
