"""Drift check job benchmark: one drift_check job end to end over N logged predictions (default
1,000,000), its wall time and the peak memory of the process that ran it.

    .venv/bin/python bench/drift_job.py                         # 1,000,000 logged rows, SQLite, local store
    .venv/bin/python bench/drift_job.py --rows 200000 --json bench/results/drift_job.json
    .venv/bin/python bench/drift_job.py --quick                 # a smoke run of 20,000 rows
    .venv/bin/python bench/drift_job.py --database-url postgresql://postgres@127.0.0.1:5432/bench_drift

Set-up (not timed): a reference dataset of 20 numeric and 5 categorical columns is uploaded, a
scikit-learn pipeline fitted on it is registered from a run that names the dataset (its lineage)
and deployed; the rows are written through the prediction log's own buffer and flusher
(PredictionLog.record, then flush every --flush-every rows: Parquet segments in the store, indexed
in the database), five numeric columns shifted by half a standard deviation. The job row is made
by the jobs service as POST /jobs makes it; then a fresh Python process (`bench/_run_job.py`, which
imports what a worker imports) runs that one job through the same runner a worker uses, and
reports its peak RSS (VmHWM) and its RSS just before the job started (the interpreter and its
imports). Nothing here leaves the machine.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402  (after the path is set)
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

import shipyard  # noqa: E402
from app.auth.security import Role  # noqa: E402
from app.bootstrap import ensure_admin  # noqa: E402
from app.context import Principal  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.db.session import SessionFactory, create_db_engine  # noqa: E402
from app.jobs import service as jobs  # noqa: E402
from app.jobs.handlers import check_job_spec  # noqa: E402
from app.jobs.schemas import JobCreate, JobType  # noqa: E402
from app.main import create_app  # noqa: E402
from app.predictions import ids  # noqa: E402
from app.predictions.log import PredictionLog  # noqa: E402
from app.serving.payload import Batch  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench._common import log, temp_dir  # noqa: E402

NUMERIC = 20
CATEGORIES = ["basic", "plus", "pro", "team", "enterprise"]
SHIFTED = 5
ADMIN_PASSWORD = "bench-admin-password-0"


class _HeldQueue:
    """Keeps job ids instead of running them: the job runs in a process of its own."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def enqueue(self, job_id: str) -> None:
        self.ids.append(job_id)

    def close(self) -> None:
        pass


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        columns[f"x{i}"] = rng.normal(size=rows) + (shift if i < SHIFTED else 0.0)
    for c in range(5):
        columns[f"c{c}"] = rng.choice(CATEGORIES, rows)
    return pd.DataFrame(columns)


def fitted(features: pd.DataFrame, seed: int) -> Pipeline:
    label = (features["x0"] + features["x1"] > 0).astype(int)
    numbers = [f"x{i}" for i in range(NUMERIC)]
    texts = [f"c{c}" for c in range(5)]
    prep = ColumnTransformer(
        [("num", StandardScaler(), numbers), ("cat", OneHotEncoder(handle_unknown="ignore"), texts)]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=200, random_state=seed))]).fit(
        features, label
    )


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_password=ADMIN_PASSWORD,
        log_json=False,
        log_level="WARNING",
        max_upload_bytes=2 * 1024**3,
        prediction_log_flush_seconds=3600,
        # The in-process client names the host `testserver`.
        allowed_hosts=["testserver"],
    )


def set_up(settings: Settings, rows: int, reference_rows: int, per_request: int, flush_every: int) -> dict[str, Any]:
    """The dataset, model, deployment and logged rows; the spec of the check and write figures."""
    upgrade_to_head(settings)
    app = create_app(settings)
    ensure_admin(app.state.sessions, settings)
    reference = frame(reference_rows, seed=1)
    with TestClient(app) as http:
        client = shipyard.Client(token=admin_token(settings), http_client=http)
        dataset = client.log_dataset(reference, "bench-reference")
        run = client.create_run(client.get_or_create_experiment("bench-drift").id, name="reference model")
        client.link_dataset(run.id, dataset.reference, context="training")
        client.log_model(run.id, fitted(reference, 1), input_example=reference[:5], register_as="bench-model")
        client.deploy("bench-drift", "bench-model", version=1)
        (table,) = [t for t in app.state.serving.tables() if t.deployment == "bench-drift"]
        route = table.routes[0]
        prediction_log: PredictionLog = app.state.prediction_log
        log(f"writing {rows:,} logged predictions through the prediction log, {per_request:,} a request")
        current = frame(rows, seed=2, shift=0.5)
        labels = (current["x0"] + current["x1"] > 0).astype(int).tolist()
        started = time.perf_counter()
        since_flush = 0
        written = 0
        for start in range(0, rows, per_request):
            chunk = current.iloc[start : start + per_request]
            columns = {
                name: chunk[name].to_numpy(dtype=object if name.startswith("c") else np.float64) for name in chunk
            }
            batch = Batch(columns, len(chunk), False)
            prediction_log.record(table, route, batch, ids.new_base(), labels[start : start + per_request], None, 0.001)
            since_flush += len(chunk)
            if since_flush >= flush_every:
                written += prediction_log.flush()
                since_flush = 0
        written += prediction_log.flush()
        write_seconds = time.perf_counter() - started
        assert written == rows, (written, rows)
    return {"dataset": dataset.reference, "write_seconds": write_seconds}


def admin_token(settings: Settings) -> str:
    """The token the first start wrote into the data dir's credentials file."""
    for line in settings.credentials_path.read_text().splitlines():
        key, _, value = line.partition(" = ")
        if key.strip() == "token":
            return value.strip()
    raise RuntimeError(f"no token in {settings.credentials_path}")


def submit(settings: Settings, rows: int) -> str:
    engine = create_db_engine(settings)
    try:
        sessions = SessionFactory(engine)
        queue = _HeldQueue()
        admin = Principal(user_id=None, username="admin", role=Role.admin)
        spec = {"deployment": "bench-drift", "window": {"predictions": rows}}
        with sessions.begin() as session:
            job, _ = jobs.submit_job(
                session,
                queue,
                admin,
                JobCreate(type=JobType.drift_check, spec=spec, max_attempts=1),
                idempotency_key=None,
                check_spec=functools.partial(check_job_spec, protected_aliases=[]),
            )
            job_id = job.id
        return job_id
    finally:
        engine.dispose()


def outcome(settings: Settings, job_id: str) -> dict[str, Any]:
    engine = create_db_engine(settings)
    try:
        with SessionFactory(engine)(write=False) as session:
            job = jobs.get_job(session, job_id)
            return {"status": job.status, "error": job.error, "result": job.result}
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged predictions in the window")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--request-rows", type=int, default=1000, help="rows per recorded predict request")
    parser.add_argument("--flush-every", type=int, default=100_000, help="rows between flushes (segment size)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="20,000 rows against 5,000: a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.reference_rows, args.flush_every = 20_000, 5_000, 5_000

    with temp_dir("shipyard-bench-drift-") as root:
        data_dir = Path(root)
        settings = settings_for(data_dir, args.database_url)
        prepared = set_up(settings, args.rows, args.reference_rows, args.request_rows, args.flush_every)
        job_id = submit(settings, args.rows)
        log(f"running drift_check job {job_id} in a process of its own")
        command = [sys.executable, str(Path(__file__).resolve().parent / "_run_job.py"), job_id, str(data_dir)]
        if args.database_url:
            command.append(args.database_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        started = time.perf_counter()
        child = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - started
        if child.returncode != 0:
            sys.exit(f"the job process failed ({child.returncode}):\n{child.stderr[-3000:]}")
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        finished = outcome(settings, job_id)
    if finished["status"] != "succeeded":
        sys.exit(f"the drift check {finished['status']}: {finished['error']}")
    result = finished["result"]
    figures = {
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "segments": -(-args.rows // args.flush_every),
        "database": "postgres" if args.database_url else "sqlite",
        "write_seconds": round(prepared["write_seconds"], 3),
        "process_wall_seconds": round(wall, 3),
        "job_seconds": round(measured["job_seconds"], 3),
        "rss_before_job_mb": round(measured["rss_before_mb"], 1),
        "peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "drift_detected": result["drift_detected"],
        "dataset_drift": result["dataset_drift"],
        "prediction_drift": result["prediction_drift"],
        "drifted_columns": result["drifted_columns"],
        "report_id": result["report_id"],
    }
    print(f"drift_check over {args.rows:,} logged predictions against {args.reference_rows:,} reference rows")
    print(f"  written through the prediction log in {figures['write_seconds']:.2f} s ({figures['segments']} segments)")
    print(
        f"  job: {figures['job_seconds']:.2f} s; its process {figures['process_wall_seconds']:.2f} s from start to exit"
    )
    print(
        f"  peak RSS of the job's process: {figures['peak_rss_mb']:.0f} MB "
        f"({figures['rss_before_job_mb']:.0f} MB before the job: interpreter and imports)"
    )
    print(
        f"  drifted columns: {', '.join(figures['drifted_columns'])} (dataset drift: {figures['dataset_drift']}); "
        f"prediction drift: {figures['prediction_drift']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
