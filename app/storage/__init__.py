"""Artifact storage: the ArtifactStore protocol, local and S3 backends, and key validation."""

from app.storage.base import DEFAULT_CHUNK_SIZE, ArtifactStore, ObjectInfo, download_to
from app.storage.factory import create_store
from app.storage.paths import join_key, validate_relative_path

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ArtifactStore",
    "ObjectInfo",
    "download_to",
    "create_store",
    "join_key",
    "validate_relative_path",
]
