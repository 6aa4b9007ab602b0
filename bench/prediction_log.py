"""Prediction log benchmark: what logging costs predict, how fast the flusher writes Parquet
segments, and how fast a million logged rows are read back as columns (all of them, a few
columns, the newest N), on SQLite and a local artifact folder (or the database you name).

    .venv/bin/python bench/prediction_log.py                       # 1,000,000 rows, 100 a request
    .venv/bin/python bench/prediction_log.py --rows 100000 --request-rows 1
    .venv/bin/python bench/prediction_log.py --database-url postgresql://postgres@127.0.0.1:5432/bench_predlog

The rows are 20 numeric and 5 categorical inputs, a label and two class probabilities, as a
drift check would read them. Nothing here leaves the machine.
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry  # noqa: E402

from app.db.migrate import upgrade_to_head  # noqa: E402  (after the path is set)
from app.db.session import SessionFactory, create_db_engine  # noqa: E402
from app.db.tables import Deployment  # noqa: E402
from app.predictions import ids  # noqa: E402
from app.predictions.log import PredictionLog, PredictionLogMetrics  # noqa: E402
from app.predictions.service import read_predictions  # noqa: E402
from app.serving.payload import Batch  # noqa: E402
from app.serving.state import Route, RouteTable  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage import create_store  # noqa: E402
from bench._common import log, temp_dir  # noqa: E402

NUMERIC = 20
CATEGORIES = ["basic", "plus", "pro", "team", "enterprise"]


def batches(rows: int, per_request: int, seed: int) -> list[tuple[Batch, list[int], list[list[float]]]]:
    rng = np.random.default_rng(seed)
    made = []
    for start in range(0, rows, per_request):
        n = min(per_request, rows - start)
        columns: dict[str, np.ndarray] = {f"x{i}": rng.normal(size=n) for i in range(NUMERIC)}
        for c in range(5):
            columns[f"c{c}"] = np.array(rng.choice(CATEGORIES, n), dtype=object)
        labels = rng.integers(0, 2, n).tolist()
        p = rng.random(n)
        made.append((Batch(columns, n, True), labels, np.column_stack([p, 1 - p]).tolist()))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--request-rows", type=int, default=100)
    parser.add_argument("--flush-every", type=int, default=100_000, help="rows between flushes (segment size)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with temp_dir("shipyard-bench-predlog-") as root:
        settings = Settings(data_dir=Path(root), database_url=args.database_url, log_json=False)
        upgrade_to_head(settings)
        engine = create_db_engine(settings)
        sessions = SessionFactory(engine)
        store = create_store(settings)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        with sessions.begin() as session:
            deployment = Deployment(name=name, description="", created_by="bench", state="serving")
            deployment.current_revision = 1
            deployment.route_generation = 0
            deployment.default_strategy = "direct"
            session.add(deployment)
            session.flush()
            deployment_id = deployment.id
        route = Route("bench-model", 1, 100, "primary", "models/bench/1", version_id=1)
        table = RouteTable(name, name, 1, (route,), deployment_id=deployment_id)
        prediction_log = PredictionLog(
            sessions,
            store,
            PredictionLogMetrics(CollectorRegistry()),
            sample_rate=1.0,
            capacity_rows=args.flush_every + args.request_rows,
        )

        log(f"making {args.rows:,} rows in requests of {args.request_rows}")
        made = batches(args.rows, args.request_rows, seed=7)
        record_seconds: list[float] = []
        flush_seconds = 0.0
        written = 0
        since_flush = 0
        for batch, labels, probabilities in made:
            started = time.perf_counter()
            prediction_log.record(table, route, batch, ids.new_base(), labels, probabilities, 0.001)
            record_seconds.append(time.perf_counter() - started)
            since_flush += batch.rows
            if since_flush >= args.flush_every:
                started = time.perf_counter()
                written += prediction_log.flush()
                flush_seconds += time.perf_counter() - started
                since_flush = 0
        started = time.perf_counter()
        written += prediction_log.flush()
        flush_seconds += time.perf_counter() - started
        assert written == args.rows, (written, args.rows)

        reads = {}
        with sessions(write=False) as session:
            for label, kwargs in (
                ("all columns", {}),
                ("5 input columns", {"columns": [f"input.x{i}" for i in range(5)]}),
                ("prediction_id + prediction", {"columns": ["prediction_id", "prediction"]}),
                ("last 100,000, all columns", {"last": 100_000}),
            ):
                started = time.perf_counter()
                result = read_predictions(session, store, name, **kwargs)  # type: ignore[arg-type]
                reads[label] = (result.num_rows, time.perf_counter() - started)
        engine.dispose()

    per_request = sorted(record_seconds)
    print(f"prediction log: {args.rows:,} rows, {args.request_rows} a request, a segment per {args.flush_every:,} rows")
    print(
        f"  record (request thread): median {statistics.median(per_request) * 1e6:.1f} us, "
        f"p99 {per_request[int(len(per_request) * 0.99)] * 1e6:.1f} us a request"
    )
    print(f"  flusher: {written:,} rows in {flush_seconds:.2f} s = {written / flush_seconds:,.0f} rows/s")
    for label, (count, seconds) in reads.items():
        print(f"  read {label}: {count:,} rows in {seconds:.2f} s = {count / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
