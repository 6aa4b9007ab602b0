"""Postgres restarted under load: the API answers 503 `database_unavailable` during the outage,
never a 500, and once the database is back (pool_pre_ping) every request succeeds and no
acknowledged write is lost. The test runs a private Postgres of its own, never the shared one."""

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, service_missing
from tests.sdk.live_server import LiveServer, running_server

# Debian and Ubuntu keep the server binaries off PATH, one folder per major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
WORKERS = 4
HEALTHY_BEFORE_S = 3.0
OUTAGE_S = 2.5
LOAD_AFTER_S = 5.0
# Requests started this long after Postgres accepts connections again must all succeed.
RECOVERY_GRACE_S = 2.0
REQUEST_TIMEOUT_S = 15.0

pytestmark = pytest.mark.slow


def _find_postgres_bin() -> tuple[str, str] | None:
    """initdb and pg_ctl from one installation: the newest Debian folder first, then PATH."""

    def version(folder: str) -> tuple[int, ...]:
        name = Path(folder).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    for folder in sorted(glob.glob(DEBIAN_BIN_GLOB), key=version, reverse=True):
        initdb, pg_ctl = Path(folder, "initdb"), Path(folder, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return str(initdb), str(pg_ctl)
    initdb_path, pg_ctl_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb_path and pg_ctl_path:
        return initdb_path, pg_ctl_path
    return None


@dataclass
class PrivatePostgres:
    """A throwaway Postgres cluster on 127.0.0.1, run as `postgres` when we are root."""

    initdb: str
    pg_ctl: str
    root: Path
    port: int
    as_postgres: bool

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sockets"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.as_postgres:
            # initdb and postgres refuse to run as root.
            runuser = shutil.which("runuser")
            command = (
                [runuser, "-u", "postgres", "--", *command]
                if runuser
                else ["su", "postgres", "-c", shlex.join(command)]
            )
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}\n{self.log_tail()}"
            )
        return result

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def init(self) -> None:
        self.run(
            self.initdb,
            "-D", str(self.data_dir),
            "-A", "trust",
            "-U", "postgres",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {shlex.quote(str(self.socket_dir))} "
            "-c fsync=off -c max_connections=100"
        )
        self.run(
            self.pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "30", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self.run(self.pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop")

    def kill(self) -> None:
        self.run(self.pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "stop", check=False, timeout=30)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    binaries = _find_postgres_bin()
    if binaries is None:
        service_missing("PostgreSQL binaries (initdb, pg_ctl)", f"not in {DEBIAN_BIN_GLOB} nor on PATH")
        return
    as_postgres = os.geteuid() == 0
    if as_postgres:
        try:
            postgres_user = pwd.getpwnam("postgres")
        except KeyError:
            service_missing("the postgres system user", "running as root and initdb refuses root")
            return
        if not (shutil.which("runuser") or shutil.which("su")):
            service_missing("runuser or su", "needed to run initdb as postgres")
            return
    root = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    # mkdtemp makes the folder 0700; the postgres user has to reach its data dir inside it.
    root.chmod(0o755)
    cluster = PrivatePostgres(binaries[0], binaries[1], root, free_port(), as_postgres)
    try:
        for folder in (cluster.data_dir, cluster.socket_dir):
            folder.mkdir(mode=0o700)
        if as_postgres:
            for path in (cluster.data_dir, cluster.socket_dir):
                os.chown(path, postgres_user.pw_uid, postgres_user.pw_gid)
            cluster.log_file.touch(mode=0o600)
            os.chown(cluster.log_file, postgres_user.pw_uid, postgres_user.pw_gid)
            # pg_ctl runs in this folder, and postgres writes its log here.
            os.chown(root, postgres_user.pw_uid, postgres_user.pw_gid)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server(private_postgres: PrivatePostgres, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server process (`shipyard server`) on the private Postgres."""
    with running_server(tmp_path / "data", database_url=private_postgres.url) as live:
        yield live


@dataclass
class Outcome:
    started: float
    finished: float
    method: str
    status: int
    code: str | None = None
    content_type: str = ""
    step: int | None = None


def _load(
    server: LiveServer, run_id: str, worker: int, stop: threading.Event, outcomes: list[Outcome], errors: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            step = worker * 1_000_000 + sequence
            for method in ("POST", "GET"):
                started = time.monotonic()
                try:
                    if method == "POST":
                        batch = {"metrics": [{"key": "load", "value": float(step), "step": step}]}
                        response = http.post(f"/api/v1/runs/{run_id}/log-batch", json=batch)
                    else:
                        response = http.get(f"/api/v1/runs/{run_id}")
                except httpx.HTTPError as exc:
                    errors.append(f"{method} at {started:.2f}: {type(exc).__name__}: {exc}")
                    continue
                content_type = response.headers.get("content-type", "")
                code = response.json().get("code") if content_type.endswith("json") and response.content else None
                outcomes.append(
                    Outcome(
                        started,
                        time.monotonic(),
                        method,
                        response.status_code,
                        code,
                        content_type,
                        step if method == "POST" else None,
                    )
                )


def test_postgres_restart_under_load(private_postgres: PrivatePostgres, server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        experiment = http.post("/api/v1/experiments", json={"name": "postgres-outage"})
        assert experiment.status_code == 201, experiment.text
        run = http.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={})
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]

    outcomes: list[Outcome] = []
    errors: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_load, args=(server, run_id, worker, stop, outcomes, errors), daemon=True)
        for worker in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(HEALTHY_BEFORE_S)
        down_at = time.monotonic()
        private_postgres.stop("fast")
        time.sleep(OUTAGE_S)
        private_postgres.start()
        up_at = time.monotonic()
        time.sleep(LOAD_AFTER_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
    assert not any(thread.is_alive() for thread in threads), "a load thread hung"

    log = server.log_tail()
    assert server.process.poll() is None, f"the server died:\n{log}"
    assert not errors, f"requests failed at the transport level: {errors[:5]}\n{log}"
    unexpected = [o for o in outcomes if not (200 <= o.status < 300 or o.status == 503)]
    assert not unexpected, f"statuses other than 2xx/503: {unexpected[:5]}\n{log}"

    before = [o for o in outcomes if o.finished < down_at]
    assert before, "no traffic before the outage"
    assert all(200 <= o.status < 300 for o in before), f"failures before the outage:\n{log}"

    unavailable = [o for o in outcomes if o.status == 503]
    assert unavailable, "no 503 during the outage"
    assert all(o.code == "database_unavailable" for o in unavailable), {o.code for o in unavailable}
    assert all(o.content_type.startswith("application/problem+json") for o in unavailable)
    assert all(down_at <= o.finished for o in unavailable), "a 503 before Postgres went down"
    assert {o.method for o in unavailable} == {"POST", "GET"}, "reads and writes both fail cleanly"

    recovered = [o for o in outcomes if o.started >= up_at + RECOVERY_GRACE_S]
    assert len(recovered) >= 20, f"too little traffic after recovery: {len(recovered)}"
    failed_after = [o for o in recovered if not 200 <= o.status < 300]
    assert not failed_after, f"{len(failed_after)} failures after the database came back:\n{log}"

    with httpx.Client(base_url=server.url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        history = http.get(f"/api/v1/runs/{run_id}/metrics/load")
        assert history.status_code == 200, history.text
    stored = {point["step"] for point in history.json()["points"]}
    acknowledged = {o.step for o in outcomes if o.step is not None and o.status == 204}
    assert acknowledged, "no write was acknowledged"
    assert acknowledged <= stored, f"acknowledged writes lost: {sorted(acknowledged - stored)[:10]}"
