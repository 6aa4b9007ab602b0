"""Fixtures for the artifact store tests: a moto S3 server on 127.0.0.1 and one store per backend."""

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.storage.base import ArtifactStore
from app.storage.local import LocalArtifactStore
from app.storage.s3 import S3ArtifactStore

S3_REGION = "us-east-1"
S3_PREFIX = "team/artifacts"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto) over HTTP, with fake credentials in boto3's default chain."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "SHIPYARDFAKEKEYID")
        env.setenv("AWS_SECRET_ACCESS_KEY", "shipyard-fake-secret-key")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        # A developer's own AWS config or a proxy must not leak into these requests.
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=S3_REGION)


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
