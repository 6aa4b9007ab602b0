"""Choosing and building the artifact store from settings."""

from pathlib import Path

import pytest

from app.settings import Settings
from app.storage import create_store
from app.storage.local import LocalArtifactStore
from app.storage.s3 import S3ArtifactStore


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Building an S3 client resolves credentials; keep that local and quick.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "SHIPYARDFAKEKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shipyard-fake-secret-key")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_default_is_a_folder_in_the_data_dir(tmp_path: Path) -> None:
    store = create_store(Settings(data_dir=tmp_path / "data", artifact_uri=None))

    assert isinstance(store, LocalArtifactStore)
    assert (tmp_path / "data" / "artifacts").is_dir()
    store.check()


def test_plain_path(tmp_path: Path) -> None:
    store = create_store(Settings(artifact_uri=str(tmp_path / "plain" / "artifacts")))

    assert isinstance(store, LocalArtifactStore)
    assert (tmp_path / "plain" / "artifacts").is_dir()


def test_file_uri(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    store = create_store(Settings(artifact_uri=folder.as_uri()))

    assert isinstance(store, LocalArtifactStore)
    assert folder.is_dir()


def test_s3_uri_with_prefix() -> None:
    settings = Settings(
        artifact_uri="s3://shipyard-artifacts/prod/team/",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_region="eu-west-1",
    )

    store = create_store(settings)

    assert isinstance(store, S3ArtifactStore)
    description = store.describe()
    assert "s3://shipyard-artifacts/prod/team" in description
    assert "http://127.0.0.1:9000" in description
    assert "eu-west-1" in description
    assert "shipyard-fake-secret-key" not in description


def test_s3_uri_without_prefix() -> None:
    store = create_store(Settings(artifact_uri="s3://shipyard-artifacts"))

    assert isinstance(store, S3ArtifactStore)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/../escape", "bad prefix"),
        ("gs://bucket/prefix", "not supported"),
        ("file://remote-host/srv/artifacts", "remote host"),
    ],
)
def test_bad_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_store(Settings(artifact_uri=uri))
