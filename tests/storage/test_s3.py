"""The S3 backend against a real S3 API (moto server): keys under the prefix, multipart, check()."""

import io
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.errors import ServiceUnavailable
from app.storage.s3 import S3ArtifactStore

REGION = "us-east-1"


def bucket_keys(s3_client: Any, bucket: str) -> list[str]:
    response = s3_client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


def test_keys_live_under_the_prefix(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, "team/artifacts", s3_endpoint, REGION)

    store.put_file("runs/1/model.json", io.BytesIO(b"{}"))

    assert bucket_keys(s3_client, bucket) == ["team/artifacts/runs/1/model.json"]


def test_empty_prefix_uses_the_bucket_root(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, "", s3_endpoint, REGION)

    store.put_file("runs/1/model.json", io.BytesIO(b"{}"))

    assert bucket_keys(s3_client, bucket) == ["runs/1/model.json"]
    assert [entry.path for entry in store.list_dir("")] == ["runs"]


def test_stores_do_not_see_outside_their_prefix(s3_endpoint: str, bucket: str) -> None:
    ours = S3ArtifactStore(bucket, "team-a", s3_endpoint, REGION)
    theirs = S3ArtifactStore(bucket, "team-ab", s3_endpoint, REGION)
    theirs.put_file("runs/1/x.txt", io.BytesIO(b"x"))

    assert ours.list_dir("") == []
    assert not ours.exists("runs/1/x.txt")


def test_multipart_round_trip(s3_store: S3ArtifactStore, s3_client: Any, bucket: str) -> None:
    data = os.urandom(20 * 1024 * 1024 + 5)

    s3_store.put_file("models/big.bin", io.BytesIO(data))

    head = s3_client.head_object(Bucket=bucket, Key="team/artifacts/models/big.bin")
    assert "-" in head["ETag"], "expected a multipart upload"
    chunks = list(s3_store.open_stream("models/big.bin", chunk_size=4 * 1024 * 1024))
    assert b"".join(chunks) == data
    assert len(chunks) >= 5
    assert s3_store.size("models/big.bin") == len(data)


def test_failed_multipart_upload_leaves_nothing(
    s3_store: S3ArtifactStore, s3_client: Any, bucket: str, failing_reader: Any
) -> None:
    data = os.urandom(40 * 1024 * 1024)

    with pytest.raises(OSError, match="connection lost"):
        s3_store.put_file("models/big.bin", failing_reader(data, fail_after=20 * 1024 * 1024))

    assert bucket_keys(s3_client, bucket) == []
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.slow
def test_list_dir_paginates(s3_store: S3ArtifactStore, s3_client: Any, bucket: str) -> None:
    def put(index: int) -> None:
        s3_client.put_object(Bucket=bucket, Key=f"team/artifacts/many/f{index:04d}", Body=b"x")

    # Past 1000 keys, so both the listing and the deletion take a second page.
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(1005)))

    entries = s3_store.list_dir("many")

    assert len(entries) == 1005
    assert entries[0].path == "f0000"
    s3_store.delete_prefix("many")
    assert bucket_keys(s3_client, bucket) == []


def test_list_dir_skips_folder_markers(s3_store: S3ArtifactStore, s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="team/artifacts/run/", Body=b"")
    s3_store.put_file("run/a.txt", io.BytesIO(b"a"))

    assert [entry.path for entry in s3_store.list_dir("run")] == ["a.txt"]


def test_check_fails_for_a_missing_bucket(s3_endpoint: str) -> None:
    store = S3ArtifactStore("shipyard-no-such-bucket", "", s3_endpoint, REGION)

    with pytest.raises(ServiceUnavailable, match="shipyard-no-such-bucket"):
        store.check()


def test_check_fails_when_nothing_answers(s3_endpoint: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    store = S3ArtifactStore("bucket", "", f"http://127.0.0.1:{closed_port}", REGION)

    with pytest.raises(ServiceUnavailable, match="unreachable"):
        store.check()


def test_describe_holds_no_secret(s3_store: S3ArtifactStore) -> None:
    description = s3_store.describe()

    assert "team/artifacts" in description
    assert os.environ["AWS_ACCESS_KEY_ID"] not in description
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in description
