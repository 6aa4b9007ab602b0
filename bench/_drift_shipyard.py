"""One side of bench/drift.py in a fresh process: Shipyard's drift statistics on two Parquet files,
read a row group at a time into ColumnCollectors (the way a drift job reads a window), then one JSON
line with the verdicts, the work's wall and CPU time and this process's peak RSS.

`--columns-per-pass N` gathers N columns at a time (the files are read once per pass, only those
columns), so memory is bounded by the widest pass, not by the whole window; 0 gathers every
column in one pass and calls dataset_drift."""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from app.ml.drift import (
    ColumnCollector,
    ColumnDrift,
    DatasetDrift,
    DriftOptions,
    column_drift,
    dataset_drift,
    summarize,
)
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


def collect(path: Path, columns: list[str] | None = None) -> ColumnCollector:
    """One row group at a time (the bench writes groups of 100,000 rows), as a drift job reads the
    prediction log's segments; iter_batches would buffer the file's pages ahead of the batches."""
    collector = ColumnCollector()
    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        collector.add(table.to_pandas(split_blocks=True, self_destruct=True))
        del table
        release_memory()  # the chunk is gone: its pages go back rather than stay with the allocators
    return collector


def drift_by_passes(reference: Path, current: Path, options: DriftOptions, per_pass: int) -> DatasetDrift:
    names = pq.ParquetFile(reference).schema_arrow.names
    options.check_columns(names)
    results: list[ColumnDrift] = []
    rows = (0, 0)
    for start in range(0, len(names), per_pass):
        group = names[start : start + per_pass]
        reference_side, current_side = collect(reference, group), collect(current, group)
        results += [column_drift(name, reference_side, current_side, options) for name in group]
        rows = (reference_side.rows, current_side.rows)
        del reference_side, current_side
        release_memory()
    return summarize(results, options, reference_rows=rows[0], current_rows=rows[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--current", type=Path, required=True)
    parser.add_argument("--preset", choices=["shipyard", "evidently"], default="shipyard")
    parser.add_argument("--columns-per-pass", type=int, default=0)
    args = parser.parse_args()
    options = DriftOptions(preset=args.preset)
    rss_before = peak_rss_mb()
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    if args.columns_per_pass > 0:
        report = drift_by_passes(args.reference, args.current, options, args.columns_per_pass)
    else:
        report = dataset_drift(collect(args.reference), collect(args.current), options)
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
