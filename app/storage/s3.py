"""ArtifactStore on an S3-compatible bucket (AWS or MinIO) through boto3, keys under a prefix."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.errors import ArtifactExists, ArtifactNotFound, ServiceUnavailable, StorageUnavailable
from app.storage.base import DEFAULT_CHUNK_SIZE, ObjectInfo
from app.storage.paths import validate_relative_path

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
# Error codes S3 and S3-compatibles answer when they are overloaded or briefly failing, so a
# retry later can succeed: botocore's throttling list (botocore/retries/standard.py) and S3's 5xx codes.
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
}
_TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=16 * 1024 * 1024,
    max_concurrency=4,
)


class S3ArtifactStore:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, region: str) -> None:
        self._bucket = bucket
        self._prefix = validate_relative_path(prefix) if prefix else ""
        self._endpoint_url = endpoint_url
        self._region = region
        config = Config(
            region_name=region,
            signature_version="s3v4",
            # Only the checksums S3 itself demands: MinIO and other S3-compatibles reject
            # or mishandle the CRC trailers botocore would otherwise add to every request.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # Credentials come from boto3's default chain (environment, profile, instance role).
        self._client: Any = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    def describe(self) -> str:
        where = f"s3://{self._bucket}/{self._prefix}"
        return f"{where} (endpoint {self._endpoint_url or 'AWS'}, region {self._region})"

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise ServiceUnavailable(f"artifact bucket {self._bucket!r}: error {code}") from exc
        except BotoCoreError as exc:
            raise ServiceUnavailable(f"artifact store unreachable: {type(exc).__name__}") from exc

    def put_file(self, key: str, fileobj: BinaryIO, *, if_absent: bool = False) -> None:
        target = self._object_key(key)
        if if_absent:
            # s3transfer does not pass IfNoneMatch on, so a conditional write is one PutObject
            # (S3 takes up to 5 GiB that way); S3 itself refuses it when the key exists.
            with _translated(f"store {key!r}"):
                try:
                    self._client.put_object(Bucket=self._bucket, Key=target, Body=_KeepOpen(fileobj), IfNoneMatch="*")
                except ClientError as exc:
                    if _code(exc) in ("PreconditionFailed", "412"):
                        raise ArtifactExists(f"an object exists at {key!r}") from exc
                    if _code(exc) == "ConditionalRequestConflict":
                        # A concurrent conditional write to the key is in flight; S3's guide
                        # ("How to prevent object overwrites with conditional writes") says retry.
                        raise StorageUnavailable(f"a concurrent write to {key!r} is in progress; retry") from exc
                    raise
            return
        # upload_fileobj streams from the file, in parts past the threshold, and aborts the
        # multipart upload on error, so no partial object becomes visible.
        with _translated(f"store {key!r}"):
            self._client.upload_fileobj(_KeepOpen(fileobj), self._bucket, target, Config=_TRANSFER)

    def open_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        with _translated(f"read {key!r}"):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=self._object_key(key))
            except ClientError as exc:
                if _is_missing(exc):
                    raise ArtifactNotFound(f"no artifact at {key!r}") from exc
                raise
        return _read_chunks(response["Body"], chunk_size, key)

    def size(self, key: str) -> int | None:
        with _translated(f"look up {key!r}"):
            try:
                response = self._client.head_object(Bucket=self._bucket, Key=self._object_key(key))
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
        return int(response["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def list_dir(self, prefix: str) -> list[ObjectInfo]:
        listed = self._folder(prefix) if prefix else self._root_folder()
        entries = []
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated(f"list {prefix!r}"):
            pages = list(paginator.paginate(Bucket=self._bucket, Prefix=listed, Delimiter="/"))
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(listed) :].rstrip("/")
                if name:
                    entries.append(ObjectInfo(path=name, is_dir=True, size=None))
            for item in page.get("Contents", []):
                name = item["Key"][len(listed) :]
                # A key equal to the folder itself is a "folder marker" some tools write.
                if name:
                    entries.append(ObjectInfo(path=name, is_dir=False, size=int(item["Size"])))
        return sorted(entries, key=lambda info: (info.path, info.is_dir))

    def delete(self, key: str) -> None:
        with _translated(f"delete {key!r}"):
            # DeleteObject on a missing key succeeds, as the protocol wants.
            self._client.delete_object(Bucket=self._bucket, Key=self._object_key(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated(f"delete {prefix!r}"):
            self._delete_pages(prefix, paginator.paginate(Bucket=self._bucket, Prefix=self._folder(prefix)))

    def _delete_pages(self, prefix: str, pages: Any) -> None:
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                continue
            # A page holds at most 1000 keys, the most one DeleteObjects call accepts.
            response = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise ServiceUnavailable(
                    f"could not delete {len(errors)} artifacts under {prefix!r}: "
                    f"{first.get('Code', 'unknown')} on {first.get('Key', '?')!r}"
                )

    def _object_key(self, key: str) -> str:
        relative = validate_relative_path(key)
        return f"{self._prefix}/{relative}" if self._prefix else relative

    def _folder(self, prefix: str) -> str:
        # The trailing slash keeps "runs/1" from matching "runs/10".
        return self._object_key(prefix) + "/"

    def _root_folder(self) -> str:
        return f"{self._prefix}/" if self._prefix else ""


class _KeepOpen:
    """Lends a file to s3transfer, which closes it after a single-part upload; the caller owns it."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj

    def read(self, size: int = -1) -> bytes:
        return self._fileobj.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        return self._fileobj.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _read_chunks(body: Any, chunk_size: int, key: str) -> Iterator[bytes]:
    try:
        with _translated(f"read {key!r}"):
            yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn the failures a retry later can cure (no connection, timeouts, 5xx, throttling) into
    StorageUnavailable, a 503 with Retry-After; botocore has already retried by then."""
    try:
        yield
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StorageUnavailable(
            f"the artifact store is unreachable ({type(exc).__name__}); could not {action}"
        ) from exc
    except ClientError as exc:
        if _is_transient(exc):
            raise StorageUnavailable(f"the artifact store answered {_code(exc)}; could not {action}") from exc
        raise
    except S3UploadFailedError as exc:
        # boto3 replaces the ClientError of a transfer with this, keeping it only as the context.
        cause = exc.__context__
        if isinstance(cause, ClientError) and _is_transient(cause):
            raise StorageUnavailable(f"the artifact store answered {_code(cause)}; could not {action}") from exc
        raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _is_transient(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) in _TRANSIENT_CODES or (isinstance(status, int) and (status >= 500 or status == 429))


def _is_missing(exc: ClientError) -> bool:
    return _code(exc) in _MISSING_CODES
