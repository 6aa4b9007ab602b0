"""Shared helpers for Shipyard's benchmarks: servers, throwaway databases, venvs and stats.

Everything here talks only to 127.0.0.1 and cleans up what it starts; the benchmarks
import it as ``bench._common`` (run them from the repo root or by path, see README.md).
"""

from __future__ import annotations

import configparser
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LOOPBACK = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{LOOPBACK}:5432/postgres"
# Environment the server subprocesses and timing scripts get on top of ours: no proxy may
# ever see loopback traffic, and no SDK should phone home.
QUIET_ENV = {
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


class BenchError(RuntimeError):
    """A benchmark could not run (a server would not start, a request failed)."""


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- HTTP -----------------------------------------------------------------------------


def http_client(base_url: str, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client for a loopback server.

    ``verify=False`` because no TLS is ever spoken here, and the default certificate
    bundle costs ~25 ms to load per client, which would swamp fresh-connection timings;
    ``trust_env=False`` so no proxy from the environment sees the traffic.
    """
    return httpx.Client(base_url=base_url, headers=headers or {}, timeout=120.0, verify=False, trust_env=False)


def check(response: httpx.Response, what: str) -> httpx.Response:
    """Raise with the server's body when a benchmark request fails: a silent 4xx would
    make a server look fast."""
    if response.is_error:
        raise BenchError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    return response


# --- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment without settings that would steer a server or SDK elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHIPYARD_", "MLFLOW_"))
        and key.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
    }
    env.update(QUIET_ENV)
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A server subprocess in its own process group, with its output in a log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    headers: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None  # its throwaway Postgres database, if any

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the group (servers fork workers), then SIGKILL whatever is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers may outlive a parent that exited on its own.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    health_path: str,
    log_path: Path,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 180.0,
) -> Server:
    """Start ``argv`` and wait until ``GET health_path`` answers 200, or fail with its log."""
    log_file = log_path.open("wb")
    try:
        process = subprocess.Popen(
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log_file.close()
    server = Server(name=name, url=f"http://{LOOPBACK}:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    with http_client(server.url) as client:
        while True:
            if process.poll() is not None:
                raise BenchError(f"{name} exited with {process.returncode} on start:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(health_path, timeout=2.0).status_code == 200:
                    return server
            if time.monotonic() > deadline:
                server.stop()
                raise BenchError(f"{name} not healthy after {timeout:.0f}s:\n{server.log_tail()}")
            time.sleep(0.2)


def read_token(credentials: Path, timeout: float = 30.0) -> str:
    """The admin token the Shipyard server writes on its first start."""
    deadline = time.monotonic() + timeout
    while not credentials.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"{credentials} was not written")
        time.sleep(0.1)
    parser = configparser.ConfigParser()
    parser.read(credentials)
    token = parser.get("default", "token", fallback="").strip()
    if not token:
        raise BenchError(f"no token under [default] in {credentials}")
    return token


def repo_env() -> dict[str, str]:
    """Import ``shipyard`` from this checkout whatever the venv's install says: an editable
    install made before a package gained its ``__init__`` maps it as a bare namespace."""
    return {"PYTHONPATH": str(REPO_ROOT)}


def shipyard_python() -> str:
    """The interpreter that has Shipyard installed: the repo venv's, else ours."""
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def shipyard_server_argv(port: int, data_dir: Path) -> list[str]:
    launcher = REPO_ROOT / ".venv" / "bin" / "shipyard"
    prefix = [str(launcher)] if launcher.exists() else [sys.executable, "-m", "shipyard.cli.main"]
    return [*prefix, "server", "--port", str(port), "--data-dir", str(data_dir)]


def start_shipyard(workdir: Path, database_url: str | None, settings: dict[str, str] | None = None) -> Server:
    """A Shipyard server on a free port with a fresh data dir; ``database_url`` None = SQLite;
    ``settings`` are extra ``SHIPYARD_*`` variables (default log level WARNING: no access log)."""
    port = free_port()
    data_dir = workdir / "shipyard-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = {"SHIPYARD_LOG_LEVEL": "WARNING", **(settings or {}), **repo_env()}
    # Its first start shares the admin token in ~/.shipyard/credentials: not the user's home.
    extra["HOME"] = str(workdir / "home")
    if database_url:
        extra["SHIPYARD_DATABASE_URL"] = database_url
    server = start_server(
        "shipyard",
        shipyard_server_argv(port, data_dir),
        port=port,
        health_path="/healthz",
        log_path=workdir / "shipyard.log",
        env=child_env(extra),
        cwd=workdir,
    )
    try:
        server.headers = {"Authorization": f"Bearer {read_token(data_dir / 'credentials')}"}
    except BaseException:
        server.stop()
        raise
    return server


# --- server CPU -------------------------------------------------------------------------


class ServerCpu:
    """CPU seconds (user + system) used so far by a server's processes (its process group, found
    once: uvicorn and any worker it runs), read from /proc; steadier than wall time on a busy
    machine. A database server's own processes are not counted. None where /proc is missing."""

    def __init__(self, server: Server) -> None:
        self._stats: list[Path] = []
        pgid = server.process.pid  # started with start_new_session: its own process group
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    self._stats.append(stat)
            except (OSError, IndexError, ValueError):
                continue

    def seconds(self) -> float | None:
        if not self._stats:
            return None
        total = 0
        for stat in self._stats:
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that ended
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


# --- venvs for peers ------------------------------------------------------------------


def ensure_venv(name: str, requirements: Sequence[str], probe: str) -> Path:
    """``bench/.venv-<name>`` with ``requirements`` installed; returns its python.

    ``probe`` is a Python snippet that succeeds when the venv is usable, so an
    interrupted install is repaired on the next run instead of trusted.
    """
    venv = BENCH_DIR / f".venv-{name}"
    python = venv / "bin" / "python"
    if python.exists() and _probe(python, probe):
        return python
    log(f"creating {venv.relative_to(REPO_ROOT)} with {' '.join(requirements)} (once; takes a while)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not _probe(python, probe):
        raise BenchError(f"{venv} is still unusable after installing {requirements}")
    return python


# The MLflow venv both peers run in (tracking: ``mlflow server``; serving: ``mlflow models serve``).
MLFLOW_REQUIREMENTS = ("mlflow>=3", "psycopg2-binary")


def mlflow_python() -> Path:
    """``bench/.venv-mlflow``'s python, created on first use."""
    return ensure_venv("mlflow", MLFLOW_REQUIREMENTS, "import mlflow, psycopg2; assert int(mlflow.__version__[0]) >= 3")


def _probe(python: Path, snippet: str) -> bool:
    result = subprocess.run([str(python), "-c", snippet], capture_output=True, timeout=120, check=False)
    return result.returncode == 0


def run_json_script(
    python: str,
    script: Path,
    args: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
) -> object:
    """Run a helper script that prints one JSON document as its last stdout line."""
    result = subprocess.run(
        [python, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(env),
        cwd=REPO_ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"{script.name} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchError(f"{script.name} printed nothing:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


# --- Postgres -------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(prefix: str = "bench") -> Iterator[str]:
    """Create ``<prefix>_<random>`` on the local Postgres; yield its URL; drop it after.

    The drop uses ``WITH (FORCE)`` so a server that died holding connections cannot leave
    the database behind.
    """
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{LOOPBACK}:5432/{name}"
    finally:
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning the rest
            log(f"could not drop database {name}: {exc}")


def analyze_database(url: str) -> None:
    """Refresh the planner's statistics, as autovacuum would after a burst of inserts."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("ANALYZE")


def postgres_setting(name: str) -> str:
    """A setting of the local server, e.g. ``autovacuum`` ("on"/"off")."""
    if name not in {"autovacuum", "fsync", "synchronous_commit"}:
        raise ValueError(f"not a setting the bench reads: {name}")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(f"SHOW {name}").fetchone()
    return str(row[0]) if row else "?"


def postgres_autovacuum() -> str:
    """The local server's ``autovacuum`` setting ("on"/"off")."""
    return postgres_setting("autovacuum")


def sqlite_journal_mode(path: Path) -> str:
    """The journal mode a SQLite file is in (WAL is a property of the file; reading it changes nothing)."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        row = conn.execute("PRAGMA journal_mode").fetchone()
    return str(row[0]) if row else "?"


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as path:
        yield Path(path)


# --- statistics -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Latencies:
    """Per-operation durations in seconds."""

    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.samples)

    def summary_ms(self) -> dict[str, float]:
        return {
            "n": len(self.samples),
            "p50_ms": percentile(self.samples, 50) * 1000,
            "p95_ms": percentile(self.samples, 95) * 1000,
            "mean_ms": (statistics.fmean(self.samples) * 1000) if self.samples else math.nan,
        }
