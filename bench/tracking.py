"""Tracking benchmark: Shipyard's REST API against ``mlflow server`` on the same workload.

Creates runs, ingests metric points with log-batch, reads a long metric history, searches
runs with a filter, and times one ``log_metric`` through each SDK, on SQLite and Postgres,
with persistent and fresh connections. See bench/README.md for how to run it and read it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from rich.console import Console
from rich.table import Table

# Run as a script (python bench/tracking.py) the repo root is not on sys.path; make the
# absolute import below work both that way and as ``python -m bench.tracking``.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH_DIR,
    LOOPBACK,
    BenchError,
    Latencies,
    Server,
    ServerCpu,
    analyze_database,
    check,
    child_env,
    free_port,
    http_client,
    log,
    mlflow_python,
    postgres_autovacuum,
    postgres_setting,
    repo_env,
    run_json_script,
    shipyard_python,
    sqlite_journal_mode,
    start_server,
    start_shipyard,
    temp_dir,
    throwaway_database,
)

T = TypeVar("T")

SEARCH_FILTER = "metrics.acc > 0.5 and params.model = 'rf'"
MODELS = ("rf", "lr", "gb")
INGEST_KEYS = ("loss", *(f"acc_{i}" for i in range(1, 10)))
INGEST_RUNS = 4
BATCH_LIMIT = 1000  # metrics per log-batch request, the limit of both servers
HISTORY_KEY = "hist"
SDK_SCRIPT = BENCH_DIR / "sdk_call_timing.py"
PHASES = ("runs", "ingest", "history", "search", "sdk")


@dataclass(frozen=True)
class Config:
    runs: int
    points: int
    history_points: int
    history_reads: int
    searches: int
    sdk_calls: int
    seed: int
    max_minutes: float
    analyze: bool = False
    sdk_loop: int = 100_000
    access_log: str = "on"  # "on" | "off", alike on both servers
    sqlite_durability: str = "normal"  # "normal" | "full" (alike on both) | "shipped" (each one's defaults)
    mlflow_async_buffering: int = 0  # MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS; 0 = unset (MLflow's default)
    phases: tuple[str, ...] = ("runs", "ingest", "history", "search", "sdk")  # which phases run, of PHASES


# SQLite durability per --sqlite-durability: Shipyard's synchronous setting (its journal is always
# WAL), and the (journal, synchronous) that bench/mlflow_sqlite/sitecustomize.py sets on MLflow's
# connections. MLflow itself sets neither (mlflow/store/db/utils.py sets only foreign_keys,
# busy_timeout and case_sensitive_like), so "shipped" runs it on SQLite's defaults: a rollback
# journal (DELETE) and synchronous FULL.
SHIPYARD_SQLITE_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL", "shipped": "NORMAL"}
MLFLOW_SQLITE_PRAGMAS = {"normal": ("WAL", "NORMAL"), "full": ("WAL", "FULL"), "shipped": None}
MLFLOW_SQLITE_SHIM = BENCH_DIR / "mlflow_sqlite"


# --- connections ----------------------------------------------------------------------


class Deadline:
    """Keeps the whole invocation bounded in time, whatever the sizes asked for."""

    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise BenchError("the bench ran past --max-minutes; stopping")


class Connector:
    """Hands out clients for one server in one connection mode.

    persistent: one ``httpx.Client`` (kept-alive TCP connection) for a whole phase, what a
    notebook's SDK session sees. fresh: a new client, hence a new TCP connection, per
    request; the client is built before the clock starts and closed after it stops, so
    the time is connect + request + response, not the client's own construction.
    """

    def __init__(self, server: Server, mode: str, deadline: Deadline) -> None:
        self.server = server
        self.mode = mode
        self.deadline = deadline
        self._client: httpx.Client | None = None

    def new_client(self) -> httpx.Client:
        return http_client(self.server.url, self.server.headers)

    @contextlib.contextmanager
    def phase(self) -> Iterator[None]:
        if self.mode == "persistent":
            self._client = self.new_client()
        try:
            yield
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def timed(self, call: Callable[..., T], *args: Any) -> tuple[T, float]:
        """``call(client, *args)`` and its duration in seconds."""
        self.deadline.check()
        if self._client is not None:
            start = time.perf_counter()
            result = call(self._client, *args)
            return result, time.perf_counter() - start
        with self.new_client() as client:
            start = time.perf_counter()
            result = call(client, *args)
            return result, time.perf_counter() - start


# --- the two REST APIs ----------------------------------------------------------------

Point = tuple[str, float, int, int]  # key, value, step, timestamp ms


class TrackingAPI(Protocol):
    """The workload's operations, each one HTTP request (history: all pages)."""

    name: str

    def create_experiment(self, client: httpx.Client, name: str) -> str: ...

    def create_run(self, client: httpx.Client, experiment_id: str, name: str) -> str: ...

    def create_run_with_data(
        self,
        client: httpx.Client,
        experiment_id: str,
        name: str,
        metrics: Sequence[Point],
        params: Sequence[tuple[str, str]],
    ) -> str:
        """A run with its first params and metrics, the way this server's own client makes one."""
        ...

    def batch_body(self, run_id: str, metrics: Sequence[Point], params: Sequence[tuple[str, str]]) -> bytes: ...

    def log_batch(self, client: httpx.Client, run_id: str, body: bytes) -> None: ...

    def history(self, client: httpx.Client, run_id: str, key: str) -> int: ...

    def search(
        self, client: httpx.Client, experiment_id: str, max_results: int, page_token: str | None
    ) -> tuple[int, str | None]: ...


JSON_HEADERS = {"Content-Type": "application/json"}


class ShipyardAPI:
    name = "shipyard"

    def create_experiment(self, client: httpx.Client, name: str) -> str:
        response = check(client.post("/api/v1/experiments", json={"name": name}), "experiment")
        return str(response.json()["id"])

    def create_run(self, client: httpx.Client, experiment_id: str, name: str) -> str:
        response = client.post(f"/api/v1/experiments/{experiment_id}/runs", json={"name": name})
        return str(check(response, "create run").json()["id"])

    def create_run_with_data(
        self,
        client: httpx.Client,
        experiment_id: str,
        name: str,
        metrics: Sequence[Point],
        params: Sequence[tuple[str, str]],
    ) -> str:
        # One request: the create takes the run's first params and metrics (what the SDK's start_run sends).
        body = {
            "name": name,
            "params": dict(params),
            "metrics": [{"key": k, "value": v, "step": s, "timestamp": t} for k, v, s, t in metrics],
        }
        response = client.post(f"/api/v1/experiments/{experiment_id}/runs", json=body)
        return str(check(response, "create run with data").json()["id"])

    def batch_body(self, run_id: str, metrics: Sequence[Point], params: Sequence[tuple[str, str]]) -> bytes:
        body = {
            "metrics": [{"key": k, "value": v, "step": s, "timestamp": t} for k, v, s, t in metrics],
            "params": [{"key": k, "value": v} for k, v in params],
        }
        return json.dumps(body).encode()

    def log_batch(self, client: httpx.Client, run_id: str, body: bytes) -> None:
        response = client.post(f"/api/v1/runs/{run_id}/log-batch", content=body, headers=JSON_HEADERS)
        check(response, "log-batch")

    def history(self, client: httpx.Client, run_id: str, key: str) -> int:
        count = 0
        params: dict[str, str] = {}
        while True:
            response = check(client.get(f"/api/v1/runs/{run_id}/metrics/{key}", params=params), "metric history")
            page = response.json()
            count += len(page["points"])
            token = page.get("next_page_token")
            if not token:
                return count
            params = {"page_token": token}

    def search(
        self, client: httpx.Client, experiment_id: str, max_results: int, page_token: str | None
    ) -> tuple[int, str | None]:
        body: dict[str, Any] = {
            "experiment_ids": [int(experiment_id)],
            "filter": SEARCH_FILTER,
            "max_results": max_results,
        }
        if page_token:
            body["page_token"] = page_token
        page = check(client.post("/api/v1/runs/search", json=body), "search").json()
        return len(page["runs"]), page.get("next_page_token") or None


class MlflowAPI:
    """MLflow's REST API 2.0, as its own SDK calls it."""

    name = "mlflow"
    prefix = "/api/2.0/mlflow"

    def create_experiment(self, client: httpx.Client, name: str) -> str:
        response = client.post(f"{self.prefix}/experiments/create", json={"name": name})
        return str(check(response, "experiment").json()["experiment_id"])

    def create_run(self, client: httpx.Client, experiment_id: str, name: str) -> str:
        body = {"experiment_id": experiment_id, "run_name": name, "start_time": int(time.time() * 1000)}
        response = check(client.post(f"{self.prefix}/runs/create", json=body), "create run")
        return str(response.json()["run"]["info"]["run_id"])

    def create_run_with_data(
        self,
        client: httpx.Client,
        experiment_id: str,
        name: str,
        metrics: Sequence[Point],
        params: Sequence[tuple[str, str]],
    ) -> str:
        # Two requests: MLflow's runs/create takes tags but no params or metrics, so its client
        # (mlflow.start_run + log_params/log_metrics, or log_batch) sends them after.
        run_id = self.create_run(client, experiment_id, name)
        self.log_batch(client, run_id, self.batch_body(run_id, metrics, params))
        return run_id

    def batch_body(self, run_id: str, metrics: Sequence[Point], params: Sequence[tuple[str, str]]) -> bytes:
        body = {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "step": s, "timestamp": t} for k, v, s, t in metrics],
            "params": [{"key": k, "value": v} for k, v in params],
        }
        return json.dumps(body).encode()

    def log_batch(self, client: httpx.Client, run_id: str, body: bytes) -> None:
        response = client.post(f"{self.prefix}/runs/log-batch", content=body, headers=JSON_HEADERS)
        check(response, "log-batch")

    def history(self, client: httpx.Client, run_id: str, key: str) -> int:
        # Without max_results MLflow answers in one page today; follow tokens anyway so a
        # paginating version would still be timed on the full history.
        count = 0
        params = {"run_id": run_id, "metric_key": key}
        while True:
            response = check(client.get(f"{self.prefix}/metrics/get-history", params=params), "metric history")
            page = response.json()
            count += len(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                return count
            params = {"run_id": run_id, "metric_key": key, "page_token": token}

    def search(
        self, client: httpx.Client, experiment_id: str, max_results: int, page_token: str | None
    ) -> tuple[int, str | None]:
        body: dict[str, Any] = {
            "experiment_ids": [experiment_id],
            "filter": SEARCH_FILTER,
            "max_results": max_results,
        }
        if page_token:
            body["page_token"] = page_token
        page = check(client.post(f"{self.prefix}/runs/search", json=body), "search").json()
        return len(page.get("runs", [])), page.get("next_page_token") or None


# --- servers --------------------------------------------------------------------------


def start_mlflow(workdir: Path, database_url: str | None, cfg: Config) -> Server:
    """``mlflow server`` with one uvicorn worker, like Shipyard's one process."""
    python = mlflow_python()
    port = free_port()
    if database_url:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; MLflow's venv has psycopg2.
        store = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    else:
        store = f"sqlite:///{workdir / 'mlflow.db'}"
    env: dict[str, str] = {}
    pragmas = MLFLOW_SQLITE_PRAGMAS[cfg.sqlite_durability]
    if pragmas is not None and not database_url:
        env = {"PYTHONPATH": str(MLFLOW_SQLITE_SHIM), "BENCH_SQLITE_JOURNAL": pragmas[0]}
        env["BENCH_SQLITE_SYNCHRONOUS"] = pragmas[1]
    argv = [
        str(python.parent / "mlflow"),
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--backend-store-uri",
        store,
        "--default-artifact-root",
        (workdir / "artifacts").as_uri(),
        "--workers",
        "1",
    ]
    if cfg.access_log == "off":
        # MLflow's uvicorn logs every request to stdout by default (its uvicorn_log_config.yaml).
        argv += ["--uvicorn-opts", "--no-access-log"]
    return start_server(
        "mlflow",
        argv,
        port=port,
        health_path="/health",
        log_path=workdir / "mlflow.log",
        env=child_env(env),
        cwd=workdir,
    )


def shipyard_settings(cfg: Config) -> dict[str, str]:
    # Shipyard's access log is its `shipyard.access` logger at INFO (uvicorn's own is off).
    return {
        "SHIPYARD_LOG_LEVEL": "INFO" if cfg.access_log == "on" else "WARNING",
        "SHIPYARD_SQLITE_SYNCHRONOUS": SHIPYARD_SQLITE_SYNCHRONOUS[cfg.sqlite_durability],
    }


@contextlib.contextmanager
def running_server(kind: str, backend: str, cfg: Config) -> Iterator[tuple[Server, Path]]:
    """A fresh server with its own temp dir and, on Postgres, its own database; and its SQLite file."""
    with temp_dir(f"bench-{kind}-") as workdir, contextlib.ExitStack() as stack:
        database_url = stack.enter_context(throwaway_database()) if backend == "postgres" else None
        log(f"starting {kind} on {backend}")
        if kind == "shipyard":
            server = start_shipyard(workdir, database_url, shipyard_settings(cfg))
            sqlite_file = workdir / "shipyard-data" / "shipyard.db"
        else:
            server = start_mlflow(workdir, database_url, cfg)
            sqlite_file = workdir / "mlflow.db"
        server.database_url = database_url
        try:
            yield server, sqlite_file
        finally:
            server.stop()


def durability(kind: str, backend: str, cfg: Config, sqlite_file: Path) -> str:
    """What a commit survives on this server, as configured and (the journal) read back from its file."""
    if backend != "sqlite":
        # Both servers use the same local Postgres and neither changes these per session.
        fsync, commit = postgres_setting("fsync"), postgres_setting("synchronous_commit")
        return f"Postgres fsync={fsync}, synchronous_commit={commit} (the local server's)"
    journal = sqlite_journal_mode(sqlite_file)
    if kind == "shipyard":
        synchronous = SHIPYARD_SQLITE_SYNCHRONOUS[cfg.sqlite_durability]
    elif (pragmas := MLFLOW_SQLITE_PRAGMAS[cfg.sqlite_durability]) is not None:
        synchronous = f"{pragmas[1]} (set on connect by bench/mlflow_sqlite)"
    else:
        synchronous = "FULL (SQLite's default; MLflow sets none)"
    return f"SQLite journal_mode={journal}, synchronous={synchronous}"


# --- phases ---------------------------------------------------------------------------


@dataclass
class Side:
    """One server's state and results within a cell."""

    api: TrackingAPI
    conn: Connector
    results: dict[str, Any] = field(default_factory=dict)
    runs_experiment: str = ""

    def setup_client(self) -> httpx.Client:
        """Untimed setup always reuses one connection."""
        return self.conn.new_client()


def now_ms() -> int:
    return int(time.time() * 1000)


def phase_runs(side: Side, cfg: Config, tag: str) -> None:
    """Create runs with param ``model`` and metric ``acc``, so the searches later filter real data,
    in two ways taken in turns (so drift on the machine hits both alike):

    - ``runs``: as each server's client creates a run with its first data: Shipyard's create takes
      them (one request), MLflow's does not (create, then log-batch);
    - ``runs_two_requests``: create, then log-batch, on both (in an experiment of its own).

    Both requests of a pair count in the run's time."""
    with side.setup_client() as client:
        side.runs_experiment = side.api.create_experiment(client, f"bench-runs-{tag}")
        pairs_experiment = side.api.create_experiment(client, f"bench-runs-pairs-{tag}")
    rng = random.Random(cfg.seed)
    latencies, pair_latencies = Latencies(), Latencies()
    # The server's CPU seconds in each way's requests (summed from readings around them: the
    # clock ticks at 10 ms, but over thousands of runs the sums are sound).
    server_cpu, cpu_used, pair_cpu_used = ServerCpu(side.conn.server), 0.0, 0.0
    expected = 0
    with side.conn.phase():
        for i in range(cfg.runs):
            model, acc = MODELS[i % len(MODELS)], rng.random()
            expected += model == "rf" and acc > 0.5
            metrics, params = [("acc", acc, 0, now_ms())], [("model", model)]
            before = server_cpu.seconds()
            _, seconds = side.conn.timed(
                side.api.create_run_with_data, side.runs_experiment, f"run-{i}", metrics, params
            )
            between = server_cpu.seconds()
            latencies.add(seconds)
            run_id, t_create = side.conn.timed(side.api.create_run, pairs_experiment, f"pair-{i}")
            body = side.api.batch_body(run_id, metrics, params)
            _, t_log = side.conn.timed(side.api.log_batch, run_id, body)
            after = server_cpu.seconds()
            pair_latencies.add(t_create + t_log)
            if before is not None and between is not None and after is not None:
                cpu_used += between - before
                pair_cpu_used += after - between

    def cpu_ms_per_run(used: float) -> dict[str, float]:
        return {"server_cpu_ms": used / cfg.runs * 1000} if server_cpu.seconds() is not None else {}

    side.results["runs"] = {
        "runs": cfg.runs,
        "runs_per_s": cfg.runs / latencies.total,
        **latencies.summary_ms(),
        **cpu_ms_per_run(cpu_used),
    }
    side.results["runs_two_requests"] = {
        "runs": cfg.runs,
        "runs_per_s": cfg.runs / pair_latencies.total,
        **pair_latencies.summary_ms(),
        **cpu_ms_per_run(pair_cpu_used),
    }
    side.results["search_expected"] = expected


def ingest_requests(cfg: Config) -> list[tuple[int, list[Point]]]:
    """(run index, points) per request: up to 1,000 points over INGEST_KEYS, steps rising
    per run so no point overwrites another."""
    rng = random.Random(cfg.seed + 1)
    next_step = [0] * INGEST_RUNS
    requests: list[tuple[int, list[Point]]] = []
    remaining = cfg.points
    index = 0
    ts = now_ms()
    while remaining > 0:
        size = min(BATCH_LIMIT, remaining)
        run = index % INGEST_RUNS
        base = next_step[run]
        points = [
            (INGEST_KEYS[j % len(INGEST_KEYS)], rng.random(), base + j // len(INGEST_KEYS), ts) for j in range(size)
        ]
        next_step[run] = base + math.ceil(size / len(INGEST_KEYS))
        requests.append((run, points))
        remaining -= size
        index += 1
    return requests


def phase_ingest(side: Side, cfg: Config, tag: str, plan: list[tuple[int, list[Point]]]) -> None:
    with side.setup_client() as client:
        experiment = side.api.create_experiment(client, f"bench-ingest-{tag}")
        run_ids = [side.api.create_run(client, experiment, f"ingest-{i}") for i in range(INGEST_RUNS)]
    # Bodies are encoded before the clock starts: the comparison is of servers.
    bodies = [(run_ids[run], side.api.batch_body(run_ids[run], points, [])) for run, points in plan]
    latencies = Latencies()
    with side.conn.phase():
        for run_id, body in bodies:
            _, seconds = side.conn.timed(side.api.log_batch, run_id, body)
            latencies.add(seconds)
    side.results["ingest"] = {
        "requests": len(bodies),
        "points": cfg.points,
        "points_per_s": cfg.points / latencies.total,
        **latencies.summary_ms(),
    }


def phase_history(side: Side, cfg: Config, tag: str) -> None:
    """Log a long metric untimed, then time full reads of it (one warm-up read first)."""
    rng = random.Random(cfg.seed + 2)
    with side.setup_client() as client:
        experiment = side.api.create_experiment(client, f"bench-history-{tag}")
        run_id = side.api.create_run(client, experiment, "history")
        ts = now_ms()
        for start in range(0, cfg.history_points, BATCH_LIMIT):
            stop = min(start + BATCH_LIMIT, cfg.history_points)
            points = [(HISTORY_KEY, rng.random(), step, ts) for step in range(start, stop)]
            side.api.log_batch(client, run_id, side.api.batch_body(run_id, points, []))
        warm = side.api.history(client, run_id, HISTORY_KEY)
    if warm != cfg.history_points:
        raise BenchError(f"{side.api.name} history returned {warm} of {cfg.history_points} points")
    latencies = Latencies()
    with side.conn.phase():
        for _ in range(cfg.history_reads):
            count, seconds = side.conn.timed(side.api.history, run_id, HISTORY_KEY)
            if count != cfg.history_points:
                raise BenchError(f"{side.api.name} history returned {count} points")
            latencies.add(seconds)
    side.results["history"] = {"points": cfg.history_points, **latencies.summary_ms()}


def phase_search(side: Side, cfg: Config) -> None:
    """Time first pages of 100; count every match untimed, to check both servers agree
    with what was logged."""
    experiment = side.runs_experiment
    if cfg.analyze and side.conn.server.database_url:
        # Without autovacuum, tables filled since the server started keep the statistics
        # of empty tables and the planner may pick nested loops that rescan an index per
        # row; --analyze gives both servers what autovacuum would have done by now.
        analyze_database(side.conn.server.database_url)
    with side.setup_client() as client:
        matched, token = side.api.search(client, experiment, 1000, None)
        while token:
            more, token = side.api.search(client, experiment, 1000, token)
            matched += more
        side.api.search(client, experiment, 100, None)  # warm-up
    latencies = Latencies()
    first_page = 0
    with side.conn.phase():
        for _ in range(cfg.searches):
            (first_page, _), seconds = side.conn.timed(side.api.search, experiment, 100, None)
            latencies.add(seconds)
    expected = side.results.get("search_expected")
    if matched != expected:
        raise BenchError(f"{side.api.name} search matched {matched} runs, expected {expected}")
    side.results["search"] = {
        "over_runs": cfg.runs,
        "matched": matched,
        "first_page": first_page,
        **latencies.summary_ms(),
    }


def phase_sdk(side: Side, cfg: Config) -> None:
    """SDK logging, timed in a separate process that has the SDK: single calls, and (Shipyard,
    and MLflow with asynchronous logging) a whole ``--sdk-loop`` loop up to its final flush.
    MLflow runs twice: synchronous logging (its default, one request per call), then asynchronous."""
    if side.api.name == "shipyard":
        python = shipyard_python()
        token = side.conn.server.headers["Authorization"].removeprefix("Bearer ")
        probe = run_probe(python, "import shipyard; shipyard.set_tracking; shipyard.start_run")
        if not probe:
            side.results["sdk"] = {"skipped": "the shipyard SDK (set_tracking, start_run) is not importable yet"}
            log("skipping the Shipyard SDK phase: SDK not available")
            return
        base = ["shipyard", "--url", side.conn.server.url, "--token", token]
        runs = [("sdk", base + ["--loop", str(cfg.sdk_loop)], repo_env())]
    else:
        python = str(mlflow_python())
        base = ["mlflow", "--url", side.conn.server.url]
        runs = [
            ("sdk", base, {"MLFLOW_ENABLE_ASYNC_LOGGING": "false"}),
            ("sdk_async", base + ["--loop", str(cfg.sdk_loop)], mlflow_async_env(cfg)),
        ]
    for name, args, env in runs:
        side.results[name] = sdk_timing(side, cfg, python, [*args, "--calls", str(cfg.sdk_calls)], env)


def mlflow_async_env(cfg: Config) -> dict[str, str]:
    env = {"MLFLOW_ENABLE_ASYNC_LOGGING": "true"}
    if cfg.mlflow_async_buffering:
        # Without it MLflow's queue sends one log-batch per call (10 at a time); with it, the
        # queue waits this long and merges what came into batches of up to 1,000 items.
        env["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = str(cfg.mlflow_async_buffering)
    return env


def sdk_timing(side: Side, cfg: Config, python: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    # MLflow's async logging sends one request per call unless it buffers: allow ~50 ms a call.
    timeout = max(120.0, cfg.sdk_calls * 2.0) + (cfg.sdk_loop * 0.05 if "--loop" in args else 0)
    try:
        raw = run_json_script(python, SDK_SCRIPT, args, timeout=timeout, env=env)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        # One SDK failing should not cost the REST numbers of the whole cell.
        log(f"{side.api.name} SDK phase failed: {exc}")
        return {"skipped": f"the timing script failed: {str(exc)[-300:]}"}
    assert isinstance(raw, dict)
    call = Latencies([s / 1000 for s in raw["call_ms"]])
    result: dict[str, Any] = {"sdk": raw["sdk"], "call": call.summary_ms()}
    if raw.get("end_error"):
        result["end_error"] = raw["end_error"]
        log(f"{side.api.name} SDK: timings complete, but ending the run failed: {raw['end_error']}")
    if raw.get("call_flush_ms"):
        result["call_flush"] = Latencies([s / 1000 for s in raw["call_flush_ms"]]).summary_ms()
    if raw.get("start_run_ms"):
        result["start_run"] = Latencies([s / 1000 for s in raw["start_run_ms"]]).summary_ms()
    if raw.get("loop_s") is not None:
        if raw["loop_points"] != cfg.sdk_loop:
            return {"skipped": f"the loop stored {raw['loop_points']} of {cfg.sdk_loop} points"}
        result["loop"] = {"calls": cfg.sdk_loop, "seconds": raw["loop_s"], "calls_per_s": cfg.sdk_loop / raw["loop_s"]}
    return result


def run_probe(python: str, snippet: str) -> bool:
    done = subprocess.run(
        [python, "-c", snippet], capture_output=True, timeout=60, check=False, env=child_env(repo_env())
    )
    return done.returncode == 0


# --- cells ----------------------------------------------------------------------------


@dataclass
class Cell:
    backend: str
    connections: str
    sides: dict[str, dict[str, Any]]


def run_cell(cfg: Config, backend: str, mode: str, peer: bool, with_sdk: bool, deadline: Deadline) -> Cell:
    """Both servers up at once; each phase runs on one then the other, alternating who
    goes first, so drift on the machine hits both alike."""
    kinds = ["shipyard", "mlflow"] if peer else ["shipyard"]
    apis: dict[str, TrackingAPI] = {"shipyard": ShipyardAPI(), "mlflow": MlflowAPI()}
    tag = f"{backend}-{mode}"
    plan = ingest_requests(cfg)
    with contextlib.ExitStack() as stack:
        sides: dict[str, Side] = {}
        files: dict[str, Path] = {}
        for kind in kinds:
            server, files[kind] = stack.enter_context(running_server(kind, backend, cfg))
            sides[kind] = Side(apis[kind], Connector(server, mode, deadline))
        every_phase: list[tuple[str, str, Callable[[Side], None]]] = [
            ("runs", "run creation", lambda s: phase_runs(s, cfg, tag)),
            ("ingest", "ingestion", lambda s: phase_ingest(s, cfg, tag, plan)),
            ("history", "history", lambda s: phase_history(s, cfg, tag)),
            ("search", "search", lambda s: phase_search(s, cfg)),
            ("sdk", "sdk", lambda s: phase_sdk(s, cfg)),
        ]
        phases = [
            (label, phase) for name, label, phase in every_phase if name in cfg.phases and (name != "sdk" or with_sdk)
        ]
        for number, (label, phase) in enumerate(phases):
            order = kinds if number % 2 == 0 else kinds[::-1]
            for kind in order:
                log(f"[{backend}/{mode}] {label}: {kind}")
                started = time.perf_counter()
                phase(sides[kind])
                log(f"[{backend}/{mode}] {label}: {kind} done in {time.perf_counter() - started:.1f}s")
        for kind in kinds:
            sides[kind].results["durability"] = durability(kind, backend, cfg, files[kind])
            sides[kind].results["access_log"] = cfg.access_log
    return Cell(backend, mode, {kind: side.results for kind, side in sides.items()})


# --- report ---------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    unit: str  # "/s" (higher is better), "ms" or "s" (lower is better)
    shipyard: float | None
    mlflow: float | None
    target: float | None = None  # the ratio Shipyard must reach, >1 = Shipyard better

    @property
    def ratio(self) -> float | None:
        if not self.shipyard or not self.mlflow:
            return None
        if self.unit == "/s":
            return self.shipyard / self.mlflow
        return self.mlflow / self.shipyard

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= self.target


def rows_for(cell: Cell, cfg: Config) -> list[Row]:
    sy, ml = cell.sides.get("shipyard", {}), cell.sides.get("mlflow", {})

    def get(side: dict[str, Any], *path: str) -> float | None:
        value: Any = side
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    rows: list[Row] = []

    def add(
        metric: str,
        unit: str,
        path: tuple[str, ...],
        target: float | None = None,
        mlflow_path: tuple[str, ...] | None = None,
    ) -> None:
        rows.append(Row(metric, unit, get(sy, *path), get(ml, *(mlflow_path or path)), target))

    # Shipyard's create takes the run's first data (1 request); MLflow's does not (create + log-batch).
    add(
        f"run created with (param, acc) ×{cfg.runs}, each client's way (Shipyard 1 request, MLflow 2): runs/s",
        "/s",
        ("runs", "runs_per_s"),
        5.0,
    )
    add("  per run p50", "ms", ("runs", "p50_ms"))
    add("  per run p95", "ms", ("runs", "p95_ms"))
    add("  server CPU per run (its processes, not the database's)", "ms", ("runs", "server_cpu_ms"))
    add(
        f"run create + log-batch(param, acc) ×{cfg.runs}, 2 requests on both: runs/s",
        "/s",
        ("runs_two_requests", "runs_per_s"),
    )
    add("  per run p50", "ms", ("runs_two_requests", "p50_ms"))
    add("  per run p95", "ms", ("runs_two_requests", "p95_ms"))
    add("  server CPU per run", "ms", ("runs_two_requests", "server_cpu_ms"))
    add(f"ingest {cfg.points:,} points, log-batch ≤1,000: points/s", "/s", ("ingest", "points_per_s"), 10.0)
    add("  per request p50", "ms", ("ingest", "p50_ms"))
    add("  per request p95", "ms", ("ingest", "p95_ms"))
    add(f"history of {cfg.history_points:,} points p50", "ms", ("history", "p50_ms"), 10.0)
    add("  history p95", "ms", ("history", "p95_ms"))
    add(f"search over {cfg.runs:,} runs (page of 100) p50", "ms", ("search", "p50_ms"), 3.0)
    add("  search p95", "ms", ("search", "p95_ms"))
    if "sdk" in sy or "sdk" in ml:
        # mlflow.log_metric is one synchronous request. Shipyard's log_metric only buffers
        # (a background thread sends; the issue asks for exactly that), so the target is on
        # that call: what a training loop waits for. + flush() makes it one request too, shown
        # against the same MLflow call without a target: the round trip, for comparison.
        add("SDK log_metric, buffered (what the caller waits) p50", "ms", ("sdk", "call", "p50_ms"), 10.0)
        add("  SDK log_metric, buffered p95", "ms", ("sdk", "call", "p95_ms"))
        add(
            "SDK log_metric p50, against MLflow async logging",
            "ms",
            ("sdk", "call", "p50_ms"),
            None,
            ("sdk_async", "call", "p50_ms"),
        )
        add(
            f"SDK loop of {cfg.sdk_loop:,} log_metric + final flush, vs MLflow async",
            "s",
            ("sdk", "loop", "seconds"),
            10.0,
            ("sdk_async", "loop", "seconds"),
        )
        add(
            "SDK log_metric + flush (one round trip) p50",
            "ms",
            ("sdk", "call_flush", "p50_ms"),
            None,
            ("sdk", "call", "p50_ms"),
        )
        add("  SDK log_metric + flush p95", "ms", ("sdk", "call_flush", "p95_ms"), None, ("sdk", "call", "p95_ms"))
        add("SDK start_run (experiment by name, run created) p50", "ms", ("sdk", "start_run", "p50_ms"))
    return rows


def fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:,.3f} ms" if value < 1 else f"{value:,.1f} ms"


def render(cells: list[Cell], cfg: Config, peer: bool, console: Console) -> list[dict[str, Any]]:
    summary: list[dict[str, Any]] = []
    for cell in cells:
        title = f"{cell.backend} · {cell.connections} connections"
        table = Table(title=title, title_justify="left")
        table.add_column("metric")
        table.add_column("shipyard", justify="right")
        if peer:
            table.add_column("mlflow", justify="right")
            table.add_column("ratio", justify="right")
            table.add_column("target", justify="right")
            table.add_column("met?", justify="center")
        for row in rows_for(cell, cfg):
            if row.shipyard is None and row.mlflow is None:
                continue  # a phase left out by --phases
            cells_text = [row.metric, fmt(row.shipyard, row.unit)]
            if peer:
                cells_text += [
                    fmt(row.mlflow, row.unit),
                    "—" if row.ratio is None else f"{row.ratio:,.1f}×",
                    f"≥{row.target:g}×" if row.target else "",
                    {True: "yes", False: "NO", None: ""}[row.met],
                ]
            table.add_row(*cells_text)
            if row.target is not None and peer:
                summary.append(
                    {
                        "backend": cell.backend,
                        "connections": cell.connections,
                        "metric": row.metric.strip(),
                        "ratio": row.ratio,
                        "shipyard": row.shipyard,
                        "mlflow": row.mlflow,
                        "unit": row.unit,
                        "target": row.target,
                        "met": row.met,
                    }
                )
        console.print(table)
        notes = []
        for kind, side in cell.sides.items():
            if "search" in side:
                s = side["search"]
                notes.append(
                    f"{kind}: search matched {s['matched']} of {s['over_runs']} runs (first page {s['first_page']})"
                )
            for name in ("sdk", "sdk_async"):
                if name in side and "skipped" in side[name]:
                    notes.append(f"{kind}: SDK phase skipped — {side[name]['skipped']}")
                elif name in side:
                    buffering = cfg.mlflow_async_buffering or "unset"
                    buffering = f", MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS={buffering}" if name == "sdk_async" else ""
                    notes.append(f"{kind}: SDK {side[name]['sdk']}{buffering}")
                    if "end_error" in side[name]:
                        notes.append(f"{kind}: SDK run end failed after timing — {side[name]['end_error']}")
        console.print("  " + "; ".join(notes), markup=False, soft_wrap=True)
        for kind, side in cell.sides.items():
            if "durability" in side:
                console.print(
                    f"  {kind}: {side['durability']}; access log {side['access_log']}", markup=False, soft_wrap=True
                )
        console.print()
    if peer:
        console.print(
            "ratio: >1 means Shipyard is better (its throughput ÷ MLflow's, or "
            "MLflow's latency ÷ Shipyard's). The first two SDK rows compare with "
            "mlflow.log_metric in its default synchronous mode, one request per call; Shipyard's "
            "log_metric buffers, and + flush is one request. The async rows compare with "
            "MLFLOW_ENABLE_ASYNC_LOGGING=true; the loop is timed until its final flush has returned "
            "on both sides (MLflow: mlflow.flush_async_logging()), and every point is checked stored.",
            markup=False,
        )
        missed = [s for s in summary if s["met"] is False]
        met = sum(1 for s in summary if s["met"])
        console.print(f"targets met: {met} of {len(summary)}")
        for s in missed:
            ratio = "—" if s["ratio"] is None else f"{s['ratio']:.1f}×"
            console.print(
                f"  MISSED [{s['backend']}/{s['connections']}] {s['metric']}: "
                f"{ratio} < {s['target']:g}× (shipyard {fmt(s['shipyard'], s['unit'])}"
                f", mlflow {fmt(s['mlflow'], s['unit'])})",
                markup=False,
                soft_wrap=True,
            )
    return summary


def versions(peer: bool) -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform(), "httpx": httpx.__version__}
    with contextlib.suppress(metadata.PackageNotFoundError):
        found["shipyard"] = metadata.version("shipyard-mlops")
    if peer:
        out = subprocess.run(
            [str(mlflow_python()), "-c", "import mlflow; print(mlflow.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        found["mlflow"] = out.stdout.strip()
    return found


# --- main -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=["mlflow"], help="also run mlflow server, side by side")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--connections", choices=["persistent", "fresh", "both"], default="persistent")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--history-points", type=int, default=10_000)
    parser.add_argument("--history-reads", type=int, default=20)
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--sdk-calls", type=int, default=200)
    parser.add_argument(
        "--sdk-loop", type=int, default=100_000, help="log_metric calls in the timed loop (final flush included)"
    )
    parser.add_argument(
        "--access-log", choices=["on", "off"], default="on", help="both servers log every request, or neither"
    )
    parser.add_argument(
        "--sqlite-durability",
        choices=["normal", "full", "shipped"],
        default="normal",
        help="normal: both WAL + synchronous=NORMAL (a commit survives a crash of the server, not "
        "a power loss); full: both WAL + synchronous=FULL (one fsync per commit, survives a power "
        "loss); shipped: each server's defaults (the table says which)",
    )
    parser.add_argument(
        "--mlflow-async-buffering",
        type=int,
        default=0,
        metavar="SECONDS",
        help="MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS for MLflow's async run (default unset: one request per call)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"which phases to run, comma-separated, of {','.join(PHASES)} (search needs runs); default all",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--max-minutes", type=float, default=90.0, help="stop (and clean up) if the whole bench runs longer"
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="on Postgres, ANALYZE each server's database (untimed) before "
        "the searches, as autovacuum would; off: measure as the servers are",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    for name in ("runs", "points", "history_points", "history_reads", "searches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.phases = tuple(name.strip() for name in args.phases.split(",") if name.strip())
    unknown = [name for name in args.phases if name not in PHASES]
    if unknown or not args.phases:
        parser.error(f"--phases takes names of {','.join(PHASES)}; got {','.join(unknown) or 'none'}")
    if "search" in args.phases and "runs" not in args.phases:
        parser.error("--phases: search filters the runs the runs phase creates; add runs")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config(
        args.runs,
        args.points,
        args.history_points,
        args.history_reads,
        args.searches,
        args.sdk_calls,
        args.seed,
        args.max_minutes,
        args.analyze,
        args.sdk_loop,
        args.access_log,
        args.sqlite_durability,
        args.mlflow_async_buffering,
        args.phases,
    )
    peer = args.peer == "mlflow"
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    modes = ["persistent", "fresh"] if args.connections == "both" else [args.connections]
    deadline = Deadline(cfg.max_minutes)
    # A plain SIGTERM would skip every finally block: turn it into SystemExit so servers,
    # temp dirs and databases are still cleaned up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if peer:
        mlflow_python()  # install before any clock starts
    console = Console(width=120) if not sys.stdout.isatty() else Console()
    # Other work on the machine moves every number: record how busy it was.
    load_start = os.getloadavg()
    autovacuum = postgres_autovacuum() if "postgres" in backends else None
    cells: list[Cell] = []
    try:
        for backend in backends:
            for number, mode in enumerate(modes):
                # The SDK manages its own connections: time it once per backend.
                with_sdk = number == 0 and cfg.sdk_calls > 0 and "sdk" in cfg.phases
                cells.append(run_cell(cfg, backend, mode, peer, with_sdk, deadline))
    except (BenchError, httpx.HTTPError) as exc:
        log(f"bench failed: {exc}")
        if not cells:
            return 1
        log("reporting the cells that finished")
    load_end = os.getloadavg()
    console.print(
        f"{os.cpu_count()} CPUs; 1-min load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end",
        markup=False,
    )
    if autovacuum == "off":
        console.print(
            "Postgres has autovacuum off: planner statistics of the new tables are "
            "never refreshed"
            + (
                "; --analyze refreshed them before the searches."
                if cfg.analyze
                else " (see --analyze); search plans may suffer."
            ),
            markup=False,
            soft_wrap=True,
        )
    summary = render(cells, cfg, peer, console)
    if args.json:
        document = {
            "config": vars(cfg),
            "versions": versions(peer),
            "load_average": {"start": load_start, "end": load_end},
            "postgres_autovacuum": autovacuum,
            "cells": [vars(cell) for cell in cells],
            "targets": summary,
        }
        args.json.write_text(json.dumps(document, indent=2))
        log(f"wrote {args.json}")
    return 0 if len(cells) == len(backends) * len(modes) else 1


if __name__ == "__main__":
    sys.exit(main())
