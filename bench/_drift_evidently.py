"""The Evidently side of bench/drift.py, run by bench/.venv-evidently's python in a fresh process:
Evidently's data-drift preset on two Parquet files, then one JSON line with the verdict per column
(from the preset's own per-column tests), the work's wall time and this process's peak RSS.
It imports nothing from this repository (that venv has no Shipyard)."""

import argparse
import json
import resource
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

# Evidently's display names of its tests, mapped to Shipyard's names for them.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}
VALUE_DRIFT_TEST = "Value Drift for column "


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--numerical", required=True, help="comma-separated column names")
    parser.add_argument("--categorical", required=True, help="comma-separated column names")
    args = parser.parse_args()
    rss_before = peak_rss_mb()
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=args.numerical.split(","), categorical_columns=args.categorical.split(",")
    )
    reference = Dataset.from_pandas(pd.read_parquet(args.reference), data_definition=definition)
    current = Dataset.from_pandas(pd.read_parquet(args.current), data_definition=definition)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current_data=current, reference_data=reference)
    document = snapshot.dict()
    seconds = time.perf_counter() - start

    columns: dict[str, dict[str, object]] = {}
    share, drift_share = None, None
    for metric in document["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {
                "kind": "categorical" if config["column"] in args.categorical.split(",") else "numerical",
                "test": METHODS.get(config["method"], config["method"]),
                "score": metric["value"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            share, drift_share = metric["value"]["share"], config["drift_share"]
    for test in document["tests"]:
        if test["name"].startswith(VALUE_DRIFT_TEST):
            columns[test["name"][len(VALUE_DRIFT_TEST) :]]["drifted"] = test["status"] == "FAIL"
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds() - cpu_before,
                "peak_rss_mb": peak_rss_mb(),
                "rss_after_imports_mb": rss_before,
                "drifted_share": share,
                "drift_detected": share is not None and share >= drift_share,
                "columns": columns,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
