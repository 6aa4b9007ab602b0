"""Fixtures for the artifact store tests: a moto S3 server on 127.0.0.1 and one store per backend."""

import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.storage.base import ArtifactStore
from app.storage.local import LocalArtifactStore
from app.storage.s3 import S3ArtifactStore
from tests.conftest import S3_REGION

S3_PREFIX = "team/artifacts"


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"shipyard-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_endpoint: str, bucket: str) -> S3ArtifactStore:
    return S3ArtifactStore(bucket=bucket, prefix=S3_PREFIX, endpoint_url=s3_endpoint, region=S3_REGION)


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    root.mkdir()
    return root


@pytest.fixture
def local_store(local_root: Path) -> LocalArtifactStore:
    return LocalArtifactStore(local_root)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    """Each behaviour test runs once per backend."""
    fixture_name = "local_store" if request.param == "local" else "s3_store"
    backend: ArtifactStore = request.getfixturevalue(fixture_name)
    return backend


class FailingReader(io.BytesIO):
    """A seekable binary file that breaks after `fail_after` bytes, like a dropped upload."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self._fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._fail_after - self.tell()
        if remaining <= 0:
            raise OSError("connection lost mid-upload")
        if size is None or size < 0 or size > remaining:
            size = remaining
        return super().read(size)


@pytest.fixture
def failing_reader() -> type[FailingReader]:
    return FailingReader
