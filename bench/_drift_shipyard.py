"""One side of bench/drift.py in a fresh process: Shipyard's dataset_drift on two Parquet files,
read a row group at a time into ColumnCollectors (the way a drift job reads a window), then one JSON line
with the verdicts, the work's wall time and this process's peak RSS."""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from app.ml.drift import ColumnCollector, DriftOptions, dataset_drift
from app.ml.profiling import release_memory


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: that one carries
    over the parent's peak from before exec, and the bench process holds the data it wrote."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def collect(path: Path) -> ColumnCollector:
    """One row group at a time (the bench writes groups of 100,000 rows), as a drift job reads the
    prediction log's segments; iter_batches would buffer the file's pages ahead of the batches."""
    collector = ColumnCollector()
    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        collector.add(parquet.read_row_group(group).to_pandas(split_blocks=True, self_destruct=True))
        release_memory()  # the chunk is gone: its pages go back rather than stay with the allocators
    return collector


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--current", type=Path, required=True)
    parser.add_argument("--preset", choices=["shipyard", "evidently"], default="shipyard")
    args = parser.parse_args()
    rss_before = peak_rss_mb()
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    report = dataset_drift(collect(args.reference), collect(args.current), DriftOptions(preset=args.preset))
    seconds = time.perf_counter() - start
    columns = {
        column.column: {
            "kind": column.kind,
            "test": column.test,
            "score": column.score,
            "drifted": column.drifted,
            "missing_drifted": column.missing.drifted,
        }
        for column in report.columns
    }
    document = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu_before,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "drifted_share": report.drifted_share,
        "drift_detected": report.drift_detected,
        "columns": columns,
    }
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
