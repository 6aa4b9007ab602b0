"""Runs one job by id the way a worker does (the same runtime and runner), in a process that
imports only what a worker imports, then prints its wall time and memory as one JSON line:
`bench/drift_job.py` starts it and reads the line.

    .venv/bin/python bench/_run_job.py JOB_ID DATA_DIR [DATABASE_URL]
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.session import SessionFactory, create_db_engine  # noqa: E402  (after the path is set)
from app.jobs.handlers import build_runtime  # noqa: E402
from app.jobs.runner import run_job  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage import create_store  # noqa: E402


class _NoQueue:
    """A job this process runs needs no queue: nothing is enqueued from it."""

    def enqueue(self, job_id: str) -> None:
        raise RuntimeError(f"job {job_id} was not expected to enqueue anything")

    def close(self) -> None:
        pass


def memory_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB: VmRSS (resident now) or
    VmHWM (its peak). Not getrusage's ru_maxrss: on Linux that keeps the high-water mark of the
    process that forked this one (the bench, holding the whole window) through exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    job_id, data_dir = sys.argv[1], Path(sys.argv[2])
    database_url = sys.argv[3] if len(sys.argv) > 3 else None
    settings = Settings(data_dir=data_dir, database_url=database_url, log_json=False, log_level="WARNING")
    engine = create_db_engine(settings)
    runtime = build_runtime(SessionFactory(engine), create_store(settings), settings, _NoQueue())
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    run_job(runtime, job_id, "bench")
    seconds = time.perf_counter() - started
    peak = memory_mb("VmHWM")
    engine.dispose()
    print(json.dumps({"job_seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
