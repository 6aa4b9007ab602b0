"""Storage failures a retry can cure are StorageUnavailable (503), a full disk InsufficientStorage
(507), on real faults: a closed port, a stopped S3 server, an S3 endpoint answering 5xx or SlowDown,
a file-size limit from the kernel."""

import io
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from app.errors import ArtifactNotFound, StorageUnavailable
from app.storage.s3 import S3ArtifactStore
from tests.conftest import S3_REGION, free_port

OPERATIONS: dict[str, Callable[[S3ArtifactStore], object]] = {
    "put_file": lambda store: store.put_file("runs/1/a.bin", io.BytesIO(b"x")),
    "put_file if_absent": lambda store: store.put_file("runs/1/a.bin", io.BytesIO(b"x"), if_absent=True),
    "open_stream": lambda store: store.open_stream("runs/1/a.bin"),
    "size": lambda store: store.size("runs/1/a.bin"),
    "exists": lambda store: store.exists("runs/1/a.bin"),
    "list_dir": lambda store: store.list_dir("runs/1"),
    "delete": lambda store: store.delete("runs/1/a.bin"),
    "delete_prefix": lambda store: store.delete_prefix("runs/1"),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_s3_call_to_a_closed_port_is_storage_unavailable(s3_endpoint: str, operation: str) -> None:
    store = S3ArtifactStore("bucket", "team", f"http://127.0.0.1:{free_port()}", S3_REGION)

    with pytest.raises(StorageUnavailable, match="unreachable"):
        OPERATIONS[operation](store)


def test_a_stopped_s3_server_is_storage_unavailable_and_the_store_recovers(s3_endpoint: str) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    store = S3ArtifactStore("outage", "", f"http://127.0.0.1:{port}", S3_REGION)
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=S3_REGION).create_bucket(
            Bucket="outage"
        )
        store.put_file("first.bin", io.BytesIO(b"first"))
        server.stop()

        with pytest.raises(StorageUnavailable):
            store.put_file("second.bin", io.BytesIO(b"second"))
        with pytest.raises(StorageUnavailable):
            b"".join(store.open_stream("first.bin"))
    finally:
        server.stop()


class _FailingS3(BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with one error, as an overloaded S3 does."""

    status = 503
    code = "SlowDown"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = f"<Error><Code>{self.code}</Code><Message>injected</Message></Error>".encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_endpoint(request: pytest.FixtureRequest, s3_endpoint: str) -> Iterator[str]:
    status, code = request.param
    handler = type("Handler", (_FailingS3,), {"status": status, "code": code})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("failing_endpoint", [(503, "SlowDown")], indirect=True)
@pytest.mark.parametrize("operation", ["put_file", "put_file if_absent", "open_stream", "size", "list_dir", "delete"])
def test_every_s3_call_slowed_down_is_storage_unavailable(failing_endpoint: str, operation: str) -> None:
    store = S3ArtifactStore("bucket", "", failing_endpoint, S3_REGION)

    with pytest.raises(StorageUnavailable, match="SlowDown|503"):
        OPERATIONS[operation](store)


@pytest.mark.parametrize(
    "failing_endpoint",
    [(500, "InternalError"), (503, "ServiceUnavailable"), (400, "Throttling"), (429, "TooManyRequests")],
    indirect=True,
)
def test_s3_5xx_and_throttling_answers_are_storage_unavailable(failing_endpoint: str) -> None:
    store = S3ArtifactStore("bucket", "", failing_endpoint, S3_REGION)

    with pytest.raises(StorageUnavailable):
        store.list_dir("runs")


@pytest.mark.parametrize("failing_endpoint", [(403, "AccessDenied")], indirect=True)
def test_a_refusal_no_retry_cures_is_not_an_outage(failing_endpoint: str) -> None:
    store = S3ArtifactStore("bucket", "", failing_endpoint, S3_REGION)

    with pytest.raises(ClientError, match="AccessDenied"):
        store.list_dir("runs")


def test_a_missing_object_stays_not_found(s3_store: S3ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound):
        s3_store.open_stream("runs/1/none.bin")


def test_a_local_store_out_of_room_is_insufficient_storage(tmp_path: Path) -> None:
    # The kernel's file-size limit fails the write with EFBIG, as a full disk fails it with ENOSPC;
    # a child process, so the limit binds nothing else of the test run.
    script = textwrap.dedent(
        f"""
        import io, resource, signal
        from pathlib import Path
        from app.errors import InsufficientStorage
        from app.storage.local import LocalArtifactStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        store = LocalArtifactStore(Path({str(tmp_path)!r}))
        try:
            store.put_file("runs/1/big.bin", io.BytesIO(b"x" * 256 * 1024))
        except InsufficientStorage as exc:
            print(exc.status, exc.code)
        print(sorted(p.name for p in Path({str(tmp_path)!r}).rglob("*")))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert result.stdout.splitlines() == ["507 insufficient_storage", "[]"]


@pytest.mark.parametrize("failing_endpoint", [(409, "ConditionalRequestConflict")], indirect=True)
def test_a_conflicting_conditional_write_is_to_be_retried(failing_endpoint: str) -> None:
    store = S3ArtifactStore("bucket", "", failing_endpoint, S3_REGION)

    with pytest.raises(StorageUnavailable, match="concurrent write"):
        store.put_file("runs/1/a.bin", io.BytesIO(b"x"), if_absent=True)
