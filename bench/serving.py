"""Serving benchmark: Shipyard's predict endpoint against ``mlflow models serve`` on the same
models and payloads, and against the models' own ``predict`` in this process (the floor).

See README.md ("Serving") for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

# Run as a script (python bench/serving.py) the repo root is not on sys.path; make the
# absolute import below work both that way and as ``python -m bench.serving``.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH_DIR,
    LOOPBACK,
    BenchError,
    Server,
    check,
    child_env,
    free_port,
    http_client,
    log,
    mlflow_python,
    percentile,
    start_server,
    start_shipyard,
    temp_dir,
)

LOADGEN = BENCH_DIR / "_loadgen.py"
MODELS = ("lr", "rf")
ROWS = (1, 100)
CONCURRENCY = (1, 8, 32)
# Shipyard takes all three; MLflow's scoring server takes `dataframe_split` and columnar `inputs`
# (its `inputs` list is a tensor, not records), so those two are compared side by side.
FORMATS = ("split", "columnar", "records")
PEER_FORMATS = ("split", "columnar")


@dataclass(frozen=True)
class Config:
    models: tuple[str, ...]
    concurrency: tuple[int, ...]
    rows: tuple[int, ...]
    formats: tuple[str, ...]
    duration: float
    warmup: float
    peer: str | None
    log_sample_rate: float
    floor_threads: bool = True
    # Also each model behind a deployment with micro-batching on, at concurrency 8 and up.
    batching: bool = True


@dataclass
class Cell:
    """One measured load: a server (or the floor), a model, a payload shape, rows, concurrency."""

    side: str  # shipyard | batched (Shipyard with micro-batching on) | mlflow | floor
    model: str
    fmt: str  # split | columnar | records | "-" for the floor
    rows: int
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # The server's CPU per request; for the floor, this process's CPU per predict call.
    server_cpu_ms_per_request: float = math.nan
    client_cpu_share: float = math.nan  # of one core, during the window
    errors: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows


@dataclass
class Results:
    cells: list[Cell] = field(default_factory=list)

    def find(self, side: str, model: str, fmt: str, rows: int, concurrency: int) -> Cell | None:
        for cell in self.cells:
            if (cell.side, cell.model, cell.fmt, cell.rows, cell.concurrency) == (side, model, fmt, rows, concurrency):
                return cell
        return None


# --- models and payloads ------------------------------------------------------------------


def train(names: Sequence[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The estimators on the breast-cancer data, fitted on a plain array (so neither server needs
    to build a DataFrame for them), and the features with their column names."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    columns = [name.replace(" ", "_") for name in data.feature_names]
    features = pd.DataFrame(data.data, columns=columns)
    makers = {
        "lr": lambda: LogisticRegression(max_iter=10_000),
        "rf": lambda: RandomForestClassifier(n_estimators=50, random_state=0),
    }
    return {name: makers[name]().fit(data.data, data.target) for name in names}, features


def rows_of(features: pd.DataFrame, rows: int) -> pd.DataFrame:
    return features.iloc[:rows].reset_index(drop=True)


def payload(fmt: str, frame: pd.DataFrame) -> bytes:
    """The request body in one of the shapes both servers document."""
    columns = list(frame.columns)
    data = frame.to_numpy().tolist()
    if fmt == "split":
        document: dict[str, Any] = {"dataframe_split": {"columns": columns, "data": data}}
    elif fmt == "columnar":
        document = {"inputs": {name: frame[name].tolist() for name in columns}}
    elif fmt == "records":
        document = {"inputs": [dict(zip(columns, row, strict=True)) for row in data]}
    else:
        raise ValueError(fmt)
    return json.dumps(document).encode()


# --- servers ------------------------------------------------------------------------------


def shipyard_settings(cfg: Config) -> dict[str, str]:
    # WARNING: Shipyard's access log (its `shipyard.access` logger at INFO) is off, as MLflow's is.
    return {
        "SHIPYARD_LOG_LEVEL": "WARNING",
        # A no-op on a server without the prediction log; 1.0 logs every prediction.
        "SHIPYARD_PREDICTION_LOG_SAMPLE_RATE": str(cfg.log_sample_rate),
    }


# Micro-batching as a deployment would set it: batches of up to 64 rows, formed for at most 2 ms.
BATCHING = {"max_batch_size": 64, "max_wait_ms": 2}


def deploy_on_shipyard(server: Server, estimators: dict[str, Any], features: pd.DataFrame) -> dict[str, str]:
    """Log, register and deploy each model through the SDK; the predict path per model, and per
    `<model>+batched` for the same version on a deployment with micro-batching on."""
    import shipyard
    from shipyard.schemas import Batching

    token = server.headers["Authorization"].removeprefix("Bearer ")
    deployments = {}
    # The models were fitted on an array and are saved with named columns: sklearn warns, rightly, and it is noise here.
    with (
        shipyard.Client(server.url, token, http_client=http_client(server.url)) as client,
        warnings.catch_warnings(action="ignore", category=UserWarning),
    ):
        experiment = client.get_or_create_experiment("serving-bench")
        for name, estimator in estimators.items():
            run = client.create_run(experiment.id, name=f"bench-{name}")
            version = client.log_model(
                run.id, estimator, input_example=rows_of(features, 5), register_as=f"bench-{name}"
            )
            assert version is not None
            client.deploy(f"bench-{name}", f"bench-{name}", version=version.version)
            deployments[name] = f"/api/v1/deployments/bench-{name}/predict"
            client.deploy(
                f"bench-{name}-batched", f"bench-{name}", version=version.version, batching=Batching(**BATCHING)
            )
            deployments[f"{name}+batched"] = f"/api/v1/deployments/bench-{name}-batched/predict"
    return deployments


# MLflow 3 saves sklearn models with skops and refuses types it does not trust by default (a
# forest's trees); these are the bench's own models, so it names what the file holds as trusted.
MLFLOW_SAVE = """
import pickle, sys
import mlflow.sklearn, pandas as pd, skops.io
from mlflow.models import infer_signature
model = pickle.load(open(sys.argv[1], "rb"))
example = pd.read_json(sys.argv[2], orient="split")
signature = infer_signature(example, model.predict(example.to_numpy()))
trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
mlflow.sklearn.save_model(model, sys.argv[3], signature=signature, skops_trusted_types=trusted)
"""


def start_mlflow_serving(workdir: Path, name: str, estimator: Any, features: pd.DataFrame) -> Server:
    """The same fitted estimator saved as an MLflow sklearn model (with a signature naming the
    columns) and served by ``mlflow models serve`` in the bench's MLflow venv, one worker."""
    python = mlflow_python()
    folder = workdir / f"mlflow-{name}"
    folder.mkdir()
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(estimator))
    example = folder / "example.json"
    example.write_text(rows_of(features, 5).to_json(orient="split", index=False))
    saved = subprocess.run(
        [str(python), "-c", MLFLOW_SAVE, str(pickled), str(example), str(folder / "model")],
        check=False,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if saved.returncode != 0:
        raise BenchError(f"saving {name} as an MLflow model failed:\n{saved.stderr[-3000:]}")
    port = free_port()
    argv = [
        str(python.parent / "mlflow"),
        "models",
        "serve",
        "--model-uri",
        str(folder / "model"),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--env-manager",
        "local",
        "--workers",
        "1",
    ]
    # MLflow's scoring server logs each request through uvicorn's access log; off, as Shipyard's is.
    env = child_env({"PATH": f"{python.parent}:{os.environ.get('PATH', '')}", "MLFLOW_UVICORN_OPTS": ""})
    return start_server(
        f"mlflow-{name}",
        [*argv, "--no-access-log"] if _mlflow_takes_no_access_log(python) else argv,
        port=port,
        health_path="/ping",
        log_path=workdir / f"mlflow-{name}.log",
        env=env,
        cwd=workdir,
    )


def _mlflow_takes_no_access_log(python: Path) -> bool:
    result = subprocess.run(
        [str(python.parent / "mlflow"), "models", "serve", "--help"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=False,
    )
    return "--no-access-log" in result.stdout


# --- load ---------------------------------------------------------------------------------


def run_load(server: Server, path: str, body: bytes, concurrency: int, cfg: Config, workdir: Path) -> dict[str, Any]:
    """One closed-loop cell from a separate load process (bench/_loadgen.py)."""
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    port = server.url.rsplit(":", 1)[1]
    argv = [
        sys.executable,
        str(LOADGEN),
        "--port",
        port,
        "--path",
        path,
        "--body-file",
        str(body_file),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(cfg.duration),
        "--warmup",
        str(cfg.warmup),
        "--server-pgid",
        str(server.process.pid),
    ]
    for name, value in server.headers.items():
        argv += ["--header", f"{name}: {value}"]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=cfg.duration + cfg.warmup + 120, env=child_env(), check=False
    )
    if result.returncode != 0:
        raise BenchError(f"the load process failed:\n{result.stderr[-3000:]}\n{server.log_tail()}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if answer["errors"]:
        raise BenchError(f"{server.name} answered {answer['errors']} requests with errors: {answer['first_error']}")
    if not answer["requests"]:
        raise BenchError(f"{server.name} answered no request within {cfg.duration}s")
    return answer


def cell_from_load(side: str, model: str, fmt: str, rows: int, concurrency: int, answer: dict[str, Any]) -> Cell:
    requests = int(answer["requests"])
    return Cell(
        side=side,
        model=model,
        fmt=fmt,
        rows=rows,
        concurrency=concurrency,
        requests=requests,
        seconds=float(answer["elapsed"]),
        p50_ms=float(answer["p50_ms"]),
        p99_ms=float(answer["p99_ms"]),
        server_cpu_ms_per_request=answer["server_cpu_seconds"] * 1000 / requests,
        client_cpu_share=answer["client_cpu_seconds"] / float(answer["elapsed"]),
    )


def floor_cell(model: str, estimator: Any, frame: pd.DataFrame, concurrency: int, cfg: Config) -> Cell:
    """``estimator.predict`` on the rows as an array, in a loop (or that many threads in a loop
    each): what any server adds its cost to."""
    features = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
    for _ in range(20):
        estimator.predict(features)
    stop_at = time.perf_counter() + cfg.duration

    def loop() -> list[float]:
        latencies = []
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return latencies
            estimator.predict(features)
            latencies.append(time.perf_counter() - started)

    started, cpu_started = time.perf_counter(), time.process_time()
    if concurrency == 1 or not cfg.floor_threads:
        samples = loop()
    else:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            samples = [s for part in pool.map(lambda _: loop(), range(concurrency)) for s in part]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Cell(
        side="floor",
        model=model,
        fmt="-",
        rows=len(frame),
        concurrency=concurrency,
        requests=len(samples),
        seconds=elapsed,
        p50_ms=percentile(samples, 50) * 1000,
        p99_ms=percentile(samples, 99) * 1000,
        server_cpu_ms_per_request=cpu * 1000 / len(samples),
    )


# --- the run ------------------------------------------------------------------------------


@contextlib.contextmanager
def servers(cfg: Config, workdir: Path) -> Iterator[dict[str, Any]]:
    estimators, features = train(cfg.models)
    started: list[Server] = []
    try:
        log("starting Shipyard")
        shipyard = start_shipyard(workdir / "shipyard", None, shipyard_settings(cfg))
        started.append(shipyard)
        paths = deploy_on_shipyard(shipyard, estimators, features)
        peers: dict[str, Server] = {}
        if cfg.peer == "mlflow":
            for name in cfg.models:
                log(f"starting mlflow models serve for {name}")
                peers[name] = start_mlflow_serving(workdir, name, estimators[name], features)
                started.append(peers[name])
        yield {"estimators": estimators, "features": features, "shipyard": shipyard, "paths": paths, "peers": peers}
    finally:
        for server in started:
            server.stop()


def check_answers(context: dict[str, Any], cfg: Config) -> None:
    """One untimed request per server and shape: both must answer, with the same predictions
    as the model gives in this process (a fast wrong answer is no result)."""
    features: pd.DataFrame = context["features"]
    frame = rows_of(features, 3)
    for name in cfg.models:
        expected = context["estimators"][name].predict(frame.to_numpy()).tolist()
        shipyard: Server = context["shipyard"]
        with http_client(shipyard.url, shipyard.headers) as client:
            for fmt in cfg.formats:
                body = payload(fmt, frame)
                response = check(
                    client.post(context["paths"][name], content=body, headers={"content-type": "application/json"}),
                    f"shipyard {name} {fmt}",
                )
                if response.json()["predictions"] != expected:
                    raise BenchError(f"shipyard {name} {fmt}: {response.json()['predictions']} != {expected}")
        peer: Server | None = context["peers"].get(name)
        if peer is None:
            continue
        with http_client(peer.url) as client:
            for fmt in PEER_FORMATS:
                body = payload(fmt, frame)
                response = check(
                    client.post("/invocations", content=body, headers={"content-type": "application/json"}),
                    f"mlflow {name} {fmt}",
                )
                if response.json()["predictions"] != expected:
                    raise BenchError(f"mlflow {name} {fmt}: {response.json()['predictions']} != {expected}")


def run(cfg: Config) -> Results:
    results = Results()
    with temp_dir("shipyard-bench-serving-") as workdir, servers(cfg, workdir) as context:
        check_answers(context, cfg)
        features: pd.DataFrame = context["features"]
        for name in cfg.models:
            for rows in cfg.rows:
                frame = rows_of(features, rows)
                for concurrency in cfg.concurrency:
                    log(f"{name} rows={rows} c={concurrency}: floor")
                    results.cells.append(floor_cell(name, context["estimators"][name], frame, concurrency, cfg))
                    for fmt in cfg.formats:
                        body = payload(fmt, frame)
                        sides: list[tuple[str, Server, str]] = [
                            ("shipyard", context["shipyard"], context["paths"][name])
                        ]
                        if name in context["peers"] and fmt in PEER_FORMATS:
                            sides.append(("mlflow", context["peers"][name], "/invocations"))
                        # Alternate which server goes first, so a noisy moment hits both alike.
                        if len(results.cells) % 2:
                            sides.reverse()
                        if cfg.batching and fmt == "split" and concurrency >= 8:
                            sides.append(("batched", context["shipyard"], context["paths"][f"{name}+batched"]))
                        for side, server, path in sides:
                            log(f"{name} rows={rows} c={concurrency} {fmt}: {side}")
                            answer = run_load(server, path, body, concurrency, cfg, workdir)
                            results.cells.append(cell_from_load(side, name, fmt, rows, concurrency, answer))
    return results


# --- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool


def verdicts(results: Results, cfg: Config) -> list[Verdict]:
    out: list[Verdict] = []
    for cell in results.cells:
        # Batching is for many small requests at once: judged on single rows.
        if cell.side == "batched" and cell.concurrency == 32 and cell.rows == 1:
            plain = results.find("shipyard", cell.model, cell.fmt, cell.rows, cell.concurrency)
            if plain is not None:
                where = f"{cell.model} {cell.fmt} rows={cell.rows} c=32 batching {BATCHING}"
                gain = cell.rows_per_s / plain.rows_per_s
                out.append(
                    Verdict(
                        f"{where}: rows/s ≥ 3× without batching",
                        f"{gain:.1f}× ({cell.rows_per_s:,.0f} vs {plain.rows_per_s:,.0f})",
                        gain >= 3,
                    )
                )
                out.append(
                    Verdict(
                        f"{where}: p99 ≤ 2× without batching",
                        f"{cell.p99_ms / plain.p99_ms:.2f}× ({cell.p99_ms:.2f} vs {plain.p99_ms:.2f} ms)",
                        cell.p99_ms <= 2 * plain.p99_ms,
                    )
                )
        if cell.side != "shipyard":
            continue
        peer = results.find("mlflow", cell.model, cell.fmt, cell.rows, cell.concurrency)
        floor = results.find("floor", cell.model, "-", cell.rows, cell.concurrency)
        where = f"{cell.model} {cell.fmt} rows={cell.rows} c={cell.concurrency}"
        if cell.model == "lr" and peer is not None and cell.concurrency in (8, 32):
            want = {"split": 5.0, "columnar": 3.0}.get(cell.fmt)
            if want is not None:
                ratio = cell.rps / peer.rps
                out.append(
                    Verdict(
                        f"{where}: req/s ≥ {want:g}× MLflow's",
                        f"{ratio:.1f}× ({cell.rps:,.0f} vs {peer.rps:,.0f})",
                        ratio >= want,
                    )
                )
            share = cell.server_cpu_ms_per_request / peer.server_cpu_ms_per_request
            out.append(
                Verdict(
                    f"{where}: server CPU/request ≤ 1/5 of MLflow's",
                    f"1/{1 / share:.1f} ({cell.server_cpu_ms_per_request:.2f} vs "
                    f"{peer.server_cpu_ms_per_request:.2f} ms)",
                    share <= 0.2,
                )
            )
        if cell.model == "rf" and floor is not None:
            share = cell.rows_per_s / floor.rows_per_s
            out.append(
                Verdict(
                    f"{where}: rows/s ≥ 80% of the floor's",
                    f"{share:.0%} ({cell.rows_per_s:,.0f} vs {floor.rows_per_s:,.0f})",
                    share >= 0.8,
                )
            )
            # The same on CPU time, which a busy machine moves far less than rates.
            share = floor.server_cpu_ms_per_request / cell.server_cpu_ms_per_request
            out.append(
                Verdict(
                    f"{where}: (by CPU) floor's CPU per call ≥ 80% of the server's per request",
                    f"{share:.0%} ({floor.server_cpu_ms_per_request:.2f} vs {cell.server_cpu_ms_per_request:.2f} ms)",
                    share >= 0.8,
                )
            )
        if floor is not None and cell.rows == 1 and cell.concurrency == 1:
            overhead = cell.p50_ms - floor.p50_ms
            out.append(
                Verdict(
                    f"{where}: p50 over the floor < 1.5 ms",
                    f"{overhead:.2f} ms ({cell.p50_ms:.2f} vs {floor.p50_ms:.2f})",
                    overhead < 1.5,
                )
            )
    return out


def report(results: Results, cfg: Config, console: Console) -> list[Verdict]:
    table = Table(title="Serving: closed-loop load, one server process each (auth on for Shipyard)")
    for header in ("model", "rows", "c", "format", "side", "req/s", "rows/s", "p50 ms", "p99 ms", "CPU ms/req"):
        table.add_column(header, justify="right" if header not in ("model", "format", "side") else "left")
    for cell in results.cells:
        table.add_row(
            cell.model,
            str(cell.rows),
            str(cell.concurrency),
            cell.fmt,
            cell.side,
            f"{cell.rps:,.0f}",
            f"{cell.rows_per_s:,.0f}",
            f"{cell.p50_ms:.2f}",
            f"{cell.p99_ms:.2f}",
            "" if math.isnan(cell.server_cpu_ms_per_request) else f"{cell.server_cpu_ms_per_request:.2f}",
        )
    console.print(table)
    console.print(
        "CPU ms/req: the server's (every process of its group, from /proc, over the measured window); "
        "for the floor, this process's CPU per predict call."
    )
    clients = [c.client_cpu_share for c in results.cells if not math.isnan(c.client_cpu_share)]
    if clients:
        console.print(
            f"Load: one separate process (bench/_loadgen.py: asyncio, raw HTTP/1.1 keep-alive, one connection "
            f"per concurrent client, bodies encoded once); it used {statistics.median(clients):.0%} of a core "
            f"(median over cells, max {max(clients):.0%})."
        )
    console.print(
        f"Access logs off on both sides. Prediction log sample rate passed: {cfg.log_sample_rate:g} "
        "(SHIPYARD_PREDICTION_LOG_SAMPLE_RATE). Load average at the end: "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    found = verdicts(results, cfg)
    if found:
        targets = Table(title="Targets")
        for header in ("target", "measured", "result"):
            targets.add_column(header)
        for verdict in found:
            targets.add_row(verdict.target, verdict.measured, "PASS" if verdict.passed else "MISS")
        console.print(targets)
        console.print(f"{sum(v.passed for v in found)} of {len(found)} targets met.")
    return found


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "fastapi", "uvicorn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def parse_args(argv: Sequence[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=["mlflow"], default=None)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: lr, rf")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="comma-separated")
    parser.add_argument("--rows", default=",".join(map(str, ROWS)), help="rows per request, comma-separated")
    parser.add_argument("--formats", default=",".join(FORMATS), help="split, columnar, records")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each cell")
    parser.add_argument("--quick", action="store_true", help="short cells, for a smoke run")
    parser.add_argument("--log-sample-rate", type=float, default=1.0, help="the prediction log's sampling")
    parser.add_argument("--no-batching", action="store_true", help="skip the micro-batching cells")
    parser.add_argument("--json", type=Path, default=None, help="also write the cells and verdicts here")
    args = parser.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    formats = tuple(f for f in args.formats.split(",") if f)
    for model in models:
        if model not in MODELS:
            parser.error(f"--models: {model!r} is not one of {', '.join(MODELS)}")
    for fmt in formats:
        if fmt not in FORMATS:
            parser.error(f"--formats: {fmt!r} is not one of {', '.join(FORMATS)}")
    duration, warmup = args.duration, args.warmup
    if args.quick:
        duration, warmup = min(duration, 0.5), min(warmup, 0.2)
    cfg = Config(
        models=models,
        concurrency=tuple(int(c) for c in args.concurrency.split(",") if c),
        rows=tuple(int(r) for r in args.rows.split(",") if r),
        formats=formats,
        duration=duration,
        warmup=warmup,
        peer=args.peer,
        log_sample_rate=args.log_sample_rate,
        batching=not args.no_batching,
    )
    return cfg, args


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    console = Console(width=160)
    log(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    results = run(cfg)
    found = report(results, cfg, console)
    if args.json is not None:
        document = {
            "config": asdict(cfg),
            "versions": versions(),
            "cells": [{**asdict(c), "rps": c.rps, "rows_per_s": c.rows_per_s} for c in results.cells],
            "targets": [asdict(v) for v in found],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
