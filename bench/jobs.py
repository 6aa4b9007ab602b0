"""Jobs benchmark: the overhead of a training job against calling the same scikit-learn
pipeline directly, and the throughput and server memory of a large dataset upload.

    .venv/bin/python bench/jobs.py                        # 100,000 x 20 training, 1 GB CSV upload
    .venv/bin/python bench/jobs.py --rows 20000 --upload-mb 100 --repeats 1    # quick smoke run

Targets (the jobs issue): job wall time at most 1.2x the direct call plus 1 s of fixed cost;
upload peak server memory under 400 MB. Traffic goes only to the server this starts on 127.0.0.1.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ml.training import TrainSpec, check_spec, train  # noqa: E402  (after the path is set)
from bench._common import Server, check, http_client, log, start_shipyard, temp_dir  # noqa: E402

CATEGORIES = ["basic", "plus", "pro", "team", "enterprise"]


def synthetic_frame(rows: int, columns: int, seed: int) -> pd.DataFrame:
    """`columns` features (two categorical, the rest numeric with a few gaps) and a binary target."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, columns - 2))
    frame = pd.DataFrame(numeric, columns=[f"x{i}" for i in range(columns - 2)])
    frame["plan"] = rng.choice(CATEGORIES, rows)
    frame["region"] = rng.choice(["eu", "us", "apac"], rows)
    signal = numeric[:, 0] + 0.5 * numeric[:, 1] - 0.25 * numeric[:, 2] + (frame["plan"] == "pro") * 0.8
    frame["churned"] = (signal + rng.normal(scale=0.5, size=rows) > 0.3).astype(int)
    frame.loc[rng.random(rows) < 0.01, "x3"] = np.nan
    return frame


def train_spec(dataset: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "target": "churned",
        "estimator": "hist_gradient_boosting",
        "params": {"max_iter": 100},
        "split": {"test_size": 0.2, "seed": 7},
        "experiment": "bench-jobs",
    }


def time_direct(frame: pd.DataFrame, spec: dict[str, Any]) -> float:
    started = time.perf_counter()
    resolved = check_spec(TrainSpec.model_validate(spec), [str(c) for c in frame.columns])
    train(resolved, frame)
    return time.perf_counter() - started


def time_job(server: Server, spec: dict[str, Any], timeout: float = 1800) -> tuple[float, dict[str, Any]]:
    with http_client(server.url, server.headers) as client:
        started = time.perf_counter()
        job = check(client.post("/api/v1/jobs", json={"type": "train", "spec": spec}), "submit").json()
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"job {job['id']} not done after {timeout}s")
            time.sleep(0.25)
            job = check(client.get(f"/api/v1/jobs/{job['id']}"), "poll").json()
        elapsed = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['id']} {job['status']}: {job['error']}")
    return elapsed, job


def write_big_csv(path: Path, megabytes: int, seed: int) -> int:
    """A CSV of about `megabytes` MB written in chunks, never whole in memory; returns its size."""
    rng = np.random.default_rng(seed)
    target = megabytes * 1024 * 1024
    first = True
    with path.open("w") as out:
        while out.tell() < target:
            chunk = synthetic_frame(100_000, 20, int(rng.integers(1 << 31)))
            chunk.to_csv(out, header=first, index=False, float_format="%.6f")
            first = False
    return path.stat().st_size


def rss_mb(pid: int) -> float:
    """The process's resident memory now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


class RssSampler:
    """Samples a process's resident memory every 20 ms on a thread; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)


def upload(server: Server, path: Path, name: str) -> tuple[float, dict[str, Any]]:
    with http_client(server.url, server.headers) as client, path.open("rb") as body:
        started = time.perf_counter()
        response = client.post(
            f"/api/v1/datasets/{name}/versions", content=body, headers={"Content-Type": "text/csv"}, timeout=3600
        )
        elapsed = time.perf_counter() - started
    return elapsed, check(response, "upload").json()


class _SkipTraining(Exception):
    """--repeats 0: only the upload phase."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--upload-mb", type=int, default=1024, help="0 skips the upload phase")
    parser.add_argument("--upload-file", type=Path, help="upload this CSV instead of generating one")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    report: dict[str, Any] = {"rows": args.rows, "columns": args.columns, "repeats": args.repeats}
    with temp_dir("bench-jobs-") as workdir:
        server = start_shipyard(workdir, None)
        try:
            if args.repeats == 0:
                raise _SkipTraining
            frame = synthetic_frame(args.rows, args.columns, args.seed)
            csv_path = workdir / "train.csv"
            frame.to_csv(csv_path, index=False)
            _, version = upload(server, csv_path, "bench-train")
            spec = train_spec(version["reference"])
            # The direct call trains on the Parquet round trip the job reads, so both see the same data.
            with http_client(server.url, server.headers) as client:
                parquet = workdir / "train.parquet"
                parquet.write_bytes(check(client.get("/api/v1/datasets/bench-train/versions/1/download"), "dl").content)
            same_frame = pd.read_parquet(parquet)
            direct, job = [], []
            for i in range(args.repeats):
                log(f"round {i + 1}/{args.repeats}: direct")
                direct.append(time_direct(same_frame, spec))
                log(f"round {i + 1}/{args.repeats}: job")
                elapsed, _ = time_job(server, spec)
                job.append(elapsed)
            d, j = statistics.median(direct), statistics.median(job)
            report["train"] = {
                "direct_s": direct,
                "job_s": job,
                "direct_median_s": d,
                "job_median_s": j,
                "ratio": j / d,
                "fixed_cost_s": j - d,
                "target_s": 1.2 * d + 1.0,
                "met": j <= 1.2 * d + 1.0,
            }
        except _SkipTraining:
            pass
        finally:
            server.stop()
        if args.upload_mb:
            # A fresh server, so its memory high-water mark is the upload's, not the training's.
            big = workdir / "big.csv"
            log(f"writing a {args.upload_mb} MB CSV")
            if args.upload_file:
                big = args.upload_file
                size = big.stat().st_size
            else:
                size = write_big_csv(big, args.upload_mb, args.seed)
            server = start_shipyard(workdir / "upload", None)
            try:
                before = rss_mb(server.process.pid)
                log("uploading it")
                with RssSampler(server.process.pid) as sampler:
                    seconds, uploaded = upload(server, big, "bench-big")
                peak = sampler.peak
            finally:
                server.stop()
            report["upload"] = {
                "bytes": size,
                "rows": uploaded["rows"],
                "seconds": seconds,
                "mb_per_s": size / 1024 / 1024 / seconds,
                "server_idle_rss_mb": before,
                "server_peak_rss_mb": peak,
                "target_mb": 400,
                "met": peak < 400,
            }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def print_report(report: dict[str, Any]) -> None:
    train_part = report.get("train")
    if train_part:
        _print_train(report, train_part)
    if "upload" in report:
        _print_upload(report["upload"])


def _print_train(report: dict[str, Any], train_part: dict[str, Any]) -> None:
    print(
        f"\nTraining job vs direct call ({report['rows']:,} rows x {report['columns']} columns, "
        f"medians of {report['repeats']}):"
    )
    print(f"  direct pipeline   {train_part['direct_median_s']:8.2f} s")
    print(f"  train job         {train_part['job_median_s']:8.2f} s   (submit -> succeeded, polled every 250 ms)")
    print(f"  ratio job/direct  {train_part['ratio']:8.2f} x   fixed cost {train_part['fixed_cost_s']:+.2f} s")
    print(
        f"  target            job <= 1.2 x direct + 1 s = {train_part['target_s']:.2f} s   "
        f"{'MET' if train_part['met'] else 'MISSED'}"
    )


def _print_upload(up: dict[str, Any]) -> None:
    print(f"\nDataset upload ({up['bytes'] / 1024 / 1024:,.0f} MB CSV, {up['rows']:,} rows):")
    print(
        f"  throughput        {up['mb_per_s']:8.1f} MB/s   ({up['seconds']:.1f} s, with Parquet conversion and profile)"
    )
    print(
        f"  server peak RSS   {up['server_peak_rss_mb']:8.0f} MB   (sampled every 20 ms while uploading; idle "
        f"{up['server_idle_rss_mb']:.0f} MB)   target < 400 MB   {'MET' if up['met'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
