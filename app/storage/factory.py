"""Builds the configured ArtifactStore from settings: an s3:// URI or a local folder."""

import logging
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from app.errors import InvalidPath
from app.settings import Settings
from app.storage.base import ArtifactStore
from app.storage.local import LocalArtifactStore
from app.storage.s3 import S3ArtifactStore

logger = logging.getLogger(__name__)


def create_store(settings: Settings) -> ArtifactStore:
    uri = settings.resolved_artifact_uri
    store: ArtifactStore
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"artifact URI {uri!r} names no bucket (expected s3://bucket/prefix)")
        try:
            store = S3ArtifactStore(
                bucket=bucket,
                prefix=prefix.strip("/"),
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
            )
        except InvalidPath as exc:
            raise ValueError(f"artifact URI {uri!r} has a bad prefix: {exc.detail}") from exc
    elif uri.startswith("file://"):
        store = _local_store(_file_uri_path(uri))
    elif "://" in uri:
        raise ValueError(f"artifact URI {uri!r} is not supported: use s3://bucket/prefix, file:// or a folder")
    else:
        store = _local_store(Path(uri).expanduser())
    logger.info("artifact store: %s", store.describe())
    return store


def _local_store(folder: Path) -> LocalArtifactStore:
    folder.mkdir(parents=True, exist_ok=True)
    return LocalArtifactStore(folder)


def _file_uri_path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"artifact URI {uri!r} names a remote host; file:// must be local")
    if not parts.path:
        raise ValueError(f"artifact URI {uri!r} names no folder")
    return Path(url2pathname(parts.path))
