"""Drift statistics benchmark: Shipyard's dataset_drift against Evidently's data-drift preset.

Seeded reference and current sets (20 numerical and 5 categorical columns, some drifted on
purpose) are written to Parquet; each tool reads the same files in a fresh process of its own,
which reports its wall time and peak RSS. The verdicts of both are shown side by side, and the
false-alarm rate of every test is measured on undrifted data over many seeded repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

# Run as a script (python bench/drift.py) the repo root is not on sys.path; make the absolute
# imports below work both that way and as ``python -m bench.drift``.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.ml.drift import TEST_SPECS, DriftOptions, dataset_drift  # noqa: E402
from bench._common import BENCH_DIR, ensure_venv, log, run_json_script, shipyard_python, temp_dir  # noqa: E402

NUMERICAL = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
# Drifted on purpose: mean shifts (in reference standard deviations), a wider spread, new shares of
# a few integer values, new shares of categories, and a category the reference never had.
MEAN_SHIFTS = {"num_00": 0.2, "num_01": 0.3, "num_02": 0.5, "num_03": 0.8, "num_04": 1.0}
SCALED = {"num_05": 1.5}
DISCRETE = {"num_17": 4, "num_18": 3, "num_19": 2}  # integer columns with this many values
DISCRETE_DRIFTED = {"num_17": [0.4, 0.3, 0.2, 0.1]}
MISSING_RATES = {"num_10": (0.02, 0.10)}  # reference, current: invisible to a test that drops NaN
LEVELS = {"cat_0": 4, "cat_1": 10, "cat_2": 50, "cat_3": 3, "cat_4": 2}
CATEGORY_DRIFTED = {"cat_0": [0.4, 0.3, 0.2, 0.1]}
NEW_CATEGORY = {"cat_3": 0.15}  # share of the current rows that take a value the reference never had
ROWS = (1_000, 100_000, 1_000_000)
TARGET_ROWS = 1_000_000
EVIDENTLY_REQUIREMENTS = ("evidently>=0.7,<0.8", "pandas<3", "pyarrow")
EVIDENTLY_PROBE = "import evidently, pandas, pyarrow; assert evidently.__version__.startswith('0.7')"
# The tests a default preset picks on windows of at most 1,000 rows, whose nominal rate is their p.
DEFAULT_P_TESTS = ("ks", "chisquare", "z")


@dataclass(frozen=True)
class Config:
    rows: tuple[int, ...]
    peer: str | None
    repetitions: int
    alarm_rows: int
    seed: int
    columns_per_pass: int


@dataclass
class Side:
    """One tool's run on one size: wall time of the work, peak RSS and verdicts per column;
    `per_pass` is how many columns Shipyard gathered at a time (0: all of them in one pass)."""

    tool: str
    preset: str
    rows: int
    per_pass: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rss_after_imports_mb: float
    drifted_share: float
    drift_detected: bool
    columns: dict[str, dict[str, Any]]


@dataclass
class Alarm:
    """False alarms of one test on undrifted data: the share of repetitions that said "drift"."""

    test: str
    preset: str
    kind: str
    levels: int | None
    rows: int
    repetitions: int
    threshold: float
    p_value: bool
    rate: float


@dataclass
class Results:
    sides: list[Side] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool


# --- data -----------------------------------------------------------------------------------


def make_frame(rows: int, seed: int, *, drifted: bool) -> pd.DataFrame:
    """One side of the benchmark data: the reference with `drifted=False`, the current with True."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERICAL):
        mean, std = float(index), 1.0 + index / 10
        if name in DISCRETE:
            shares = DISCRETE_DRIFTED.get(name) if drifted else None
            columns[name] = rng.choice(DISCRETE[name], rows, p=shares).astype(np.int64)
            continue
        if drifted:
            mean += MEAN_SHIFTS.get(name, 0.0) * std
            std *= SCALED.get(name, 1.0)
        values = rng.normal(mean, std, rows)
        if name in MISSING_RATES:
            values[rng.random(rows) < MISSING_RATES[name][1 if drifted else 0]] = np.nan
        columns[name] = values
    for name in CATEGORICAL:
        labels = np.array([f"{name}_v{i:02d}" for i in range(LEVELS[name])])
        shares = CATEGORY_DRIFTED.get(name) if drifted else None
        values = rng.choice(labels, rows, p=shares).astype(object)
        if drifted and name in NEW_CATEGORY:
            values[rng.random(rows) < NEW_CATEGORY[name]] = f"{name}_new"
        columns[name] = values
    return pd.DataFrame(columns)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=100_000)


# --- the two tools, each in a fresh process ---------------------------------------------------


def run_shipyard(reference: Path, current: Path, rows: int, preset: str, per_pass: int = 0) -> Side:
    args = ["--reference", str(reference), "--current", str(current), "--preset", preset]
    args += ["--columns-per-pass", str(per_pass)]
    answer = run_json_script(shipyard_python(), BENCH_DIR / "_drift_shipyard.py", args, timeout=1800)
    return side_from("shipyard", preset, rows, answer, per_pass)


def run_evidently(python: Path, reference: Path, current: Path, rows: int) -> Side:
    args = ["--reference", str(reference), "--current", str(current)]
    args += ["--numerical", ",".join(NUMERICAL), "--categorical", ",".join(CATEGORICAL)]
    env = {"EVIDENTLY_DISABLE_TELEMETRY": "1"}
    answer = run_json_script(str(python), BENCH_DIR / "_drift_evidently.py", args, timeout=3600, env=env)
    return side_from("evidently", "evidently", rows, answer)


def side_from(tool: str, preset: str, rows: int, answer: object, per_pass: int = 0) -> Side:
    if not isinstance(answer, dict):
        raise TypeError(f"{tool} printed {answer!r}")
    return Side(tool=tool, preset=preset, rows=rows, per_pass=per_pass, **answer)


# --- false alarms -----------------------------------------------------------------------------


def alarm_cells() -> list[tuple[str, str, int | None]]:
    """(test, kind, categories) for every test: p-value and distance tests alike, on the kinds
    they take; chi-squared also on 4 and 50 categories, where Evidently's formula goes wrong."""
    cells: list[tuple[str, str, int | None]] = []
    for name, spec in TEST_SPECS.items():
        if "numerical" in spec.kinds and name not in ("chisquare", "z"):
            cells.append((name, "numerical", None))
        if "categorical" in spec.kinds:
            for levels in (4, 10, 50) if name == "chisquare" else (2,) if name == "z" else (10,):
                cells.append((name, "categorical", levels))
    return cells


def undrifted_frames(
    kind: str, levels: int | None, rows: int, repetitions: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two samples of the same distribution, one column per repetition."""
    rng = np.random.default_rng(seed)
    names = [f"r{i}" for i in range(repetitions)]
    if kind == "numerical":
        return (
            pd.DataFrame(rng.normal(0, 1, (rows, repetitions)), columns=names),
            pd.DataFrame(rng.normal(0, 1, (rows, repetitions)), columns=names),
        )
    assert levels is not None
    shares = rng.dirichlet(np.full(levels, 5.0))
    labels = np.array([f"v{i:02d}" for i in range(levels)], dtype=object)

    def draw() -> pd.DataFrame:
        return pd.DataFrame(labels[rng.choice(levels, (rows, repetitions), p=shares)], columns=names)

    return draw(), draw()


def measure_alarms(cfg: Config) -> list[Alarm]:
    alarms: list[Alarm] = []
    for position, (test, kind, levels) in enumerate(alarm_cells()):
        reference, current = undrifted_frames(kind, levels, cfg.alarm_rows, cfg.repetitions, cfg.seed + position)
        presets = ("shipyard", "evidently") if test == "chisquare" else ("shipyard",)
        for preset in presets:
            options = DriftOptions(preset=preset, column_tests={name: test for name in reference.columns})  # type: ignore[arg-type]
            report = dataset_drift(reference, current, options)
            spec = TEST_SPECS[test]
            log(f"false alarms: {test} {kind} {levels or ''} {preset}: {report.drifted_share:.1%}")
            alarms.append(
                Alarm(
                    test,
                    preset,
                    kind,
                    levels,
                    cfg.alarm_rows,
                    cfg.repetitions,
                    spec.threshold,
                    spec.p_value,
                    report.drifted_share,
                )
            )
    return alarms


# --- the run ------------------------------------------------------------------------------------


def run(cfg: Config) -> Results:
    results = Results()
    evidently_python = ensure_venv("evidently", EVIDENTLY_REQUIREMENTS, EVIDENTLY_PROBE) if cfg.peer else None
    with temp_dir("shipyard-bench-drift-") as workdir:
        for rows in cfg.rows:
            reference, current = workdir / f"reference-{rows}.parquet", workdir / f"current-{rows}.parquet"
            log(f"{rows:,} rows: writing the Parquet files")
            write_parquet(make_frame(rows, cfg.seed, drifted=False), reference)
            write_parquet(make_frame(rows, cfg.seed + 1, drifted=True), current)
            runs = [("evidently", 0), ("shipyard", 0)]
            if cfg.columns_per_pass:
                runs.insert(1, ("evidently", cfg.columns_per_pass))
            for preset, per_pass in runs:
                log(f"{rows:,} rows: shipyard, preset {preset}, {per_pass or 'all'} columns a pass")
                results.sides.append(run_shipyard(reference, current, rows, preset, per_pass))
            if evidently_python is not None:
                log(f"{rows:,} rows: evidently")
                results.sides.append(run_evidently(evidently_python, reference, current, rows))
            reference.unlink()
            current.unlink()
    results.alarms = measure_alarms(cfg)
    return results


def find(results: Results, tool: str, preset: str, rows: int, per_pass: int = 0) -> Side | None:
    for side in results.sides:
        if (side.tool, side.preset, side.rows, side.per_pass) == (tool, preset, rows, per_pass):
            return side
    return None


def verdicts(results: Results, cfg: Config) -> list[Verdict]:
    out: list[Verdict] = []
    for rows in cfg.rows:
        theirs = find(results, "evidently", "evidently", rows)
        ours = [
            side for side in results.sides if (side.tool, side.preset, side.rows) == ("shipyard", "evidently", rows)
        ]
        if theirs is None or not ours:
            continue
        differing = sorted(
            {c for side in ours for c in theirs.columns if side.columns[c]["drifted"] != theirs.columns[c]["drifted"]}
        )
        out.append(
            Verdict(
                f"{rows:,} rows, preset evidently: the same verdict as Evidently on every column",
                f"{len(theirs.columns) - len(differing)} of {len(theirs.columns)} agree, in every Shipyard run"
                + (f" (differ: {', '.join(differing)})" if differing else ""),
                not differing and all(side.drift_detected == theirs.drift_detected for side in ours),
            )
        )
        if rows != TARGET_ROWS:
            continue
        whole = find(results, "shipyard", "evidently", rows)
        bounded = find(results, "shipyard", "evidently", rows, cfg.columns_per_pass) if cfg.columns_per_pass else None
        judged = bounded or whole
        assert judged is not None
        note = ""
        if bounded is not None and whole is not None:
            note = f"; all columns in one pass: {whole.seconds:.1f} s, {whole.peak_rss_mb:,.0f} MB"
        passes = f"{judged.per_pass} columns a pass" if judged.per_pass else "one pass"
        speedup = theirs.seconds / judged.seconds
        out.append(
            Verdict(
                f"{rows:,} rows: at least 10× less wall time than Evidently",
                f"{speedup:.1f}× ({judged.seconds:.1f} s, {passes}, against {theirs.seconds:.1f} s{note})",
                speedup >= 10,
            )
        )
        share = judged.peak_rss_mb / theirs.peak_rss_mb
        memory = f"{judged.peak_rss_mb:,.0f} MB, {passes}, against {theirs.peak_rss_mb:,.0f} MB{note}"
        out.append(
            Verdict(
                f"{rows:,} rows: at most a fifth of Evidently's peak memory",
                f"{share:.2f} of it ({memory})",
                share <= 0.2,
            )
        )
    for alarm in results.alarms:
        if alarm.preset == "shipyard" and alarm.test in DEFAULT_P_TESTS:
            label = f"{alarm.test} ({alarm.kind}{f', {alarm.levels} values' if alarm.levels else ''})"
            out.append(
                Verdict(
                    f"default preset, {label}: false alarms within 5 ± 2% at p = {alarm.threshold:g}",
                    f"{alarm.rate:.1%} of {alarm.repetitions:,}",
                    0.03 <= alarm.rate <= 0.07,
                )
            )
    return out


# --- report -------------------------------------------------------------------------------------


def report(results: Results, cfg: Config, console: Console) -> list[Verdict]:
    timing = Table(title="Wall time and peak memory, each run in a fresh process on the same Parquet files")
    for header in (
        "rows",
        "tool",
        "preset",
        "columns a pass",
        "work s",
        "CPU s",
        "peak RSS MB",
        "RSS after imports MB",
        "drifted share",
        "dataset drift",
    ):
        timing.add_column(header, justify="left" if header in ("tool", "preset") else "right")
    for side in results.sides:
        timing.add_row(
            f"{side.rows:,}", side.tool, side.preset, str(side.per_pass or "all"), f"{side.seconds:.2f}",
            f"{side.cpu_seconds:.2f}",
            f"{side.peak_rss_mb:,.0f}", f"{side.rss_after_imports_mb:,.0f}", f"{side.drifted_share:.2f}",
            str(side.drift_detected),
        )  # fmt: skip
    console.print(timing)
    console.print(
        "work s: wall time from opening the files to having the verdicts, imports excluded; CPU s: the process's "
        "user + system time over the same span (the steadier figure on a shared machine); peak RSS: VmHWM. "
        "Shipyard reads the files a row group (100,000 rows) at a time into ColumnCollectors, all columns in one "
        "pass or a few columns a pass (the files read once per pass, only those columns); Evidently reads them "
        "whole with pandas (its Report takes DataFrames)."
    )
    for rows in cfg.rows:
        console.print(verdict_table(results, rows))
    alarms = Table(
        title=f"False alarms on undrifted data ({cfg.alarm_rows:,} rows a side, {cfg.repetitions:,} seeded repetitions)"
    )
    for header in ("test", "preset", "kind", "values", "threshold", "false alarms"):
        alarms.add_column(header, justify="right" if header in ("threshold", "false alarms", "values") else "left")
    for alarm in results.alarms:
        threshold = (
            f"p {'<' if TEST_SPECS[alarm.test].comparison == '<' else '≤'} {alarm.threshold:g}"
            if alarm.p_value
            else f"≥ {alarm.threshold:g}"
        )
        alarms.add_row(alarm.test, alarm.preset, alarm.kind, str(alarm.levels or ""), threshold, f"{alarm.rate:.1%}")
    console.print(alarms)
    console.print(
        "Distances have no nominal rate: their false alarms depend on the rows and the number of bins. "
        f"Load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs."
    )
    found = verdicts(results, cfg)
    targets = Table(title="Targets")
    for header in ("target", "measured", "result"):
        targets.add_column(header)
    for verdict in found:
        targets.add_row(verdict.target, verdict.measured, "met" if verdict.passed else "MISSED")
    console.print(targets)
    console.print(f"{sum(v.passed for v in found)} of {len(found)} targets met.")
    return found


def verdict_table(results: Results, rows: int) -> Table:
    table = Table(title=f"Verdicts per column, {rows:,} rows (score: p-value or distance)")
    for header in ("column", "test", "Shipyard (evidently)", "Evidently", "Shipyard (default)", "missing rate drift"):
        table.add_column(header)
    ours = find(results, "shipyard", "evidently", rows)
    default = find(results, "shipyard", "shipyard", rows)
    theirs = find(results, "evidently", "evidently", rows)
    sides = [side for side in (ours, default, theirs) if side is not None]
    if not sides:
        return table
    for name in sides[0].columns:
        first = sides[0].columns[name]
        missing = default.columns.get(name, {}).get("missing_drifted") if default else None
        table.add_row(
            name,
            str(first.get("test") or ""),
            *(_verdict_cell(side.columns.get(name) if side else None) for side in (ours, theirs, default)),
            "drift" if missing else "",
        )
    return table


def _verdict_cell(column: dict[str, Any] | None) -> str:
    if column is None:
        return ""
    score = column.get("score")
    shown = "—" if score is None else f"{score:.3g}"
    return f"{'DRIFT' if column.get('drifted') else 'ok'} {shown}"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "pandas", "pyarrow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def parse_args(argv: Sequence[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=["evidently"], default=None)
    parser.add_argument("--rows", default=",".join(map(str, ROWS)), help="rows per side, comma-separated")
    parser.add_argument("--repetitions", type=int, default=2000, help="undrifted repetitions per false-alarm cell")
    parser.add_argument("--alarm-rows", type=int, default=500, help="rows a side in the false-alarm cells")
    parser.add_argument("--seed", type=int, default=20240510)
    parser.add_argument(
        "--columns-per-pass",
        type=int,
        default=5,
        help="columns Shipyard gathers at a time in its bounded run (0: none)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="also write the runs, false alarms and targets here")
    args = parser.parse_args(argv)
    rows = tuple(int(r) for r in args.rows.split(",") if r)
    repetitions, alarm_rows = args.repetitions, args.alarm_rows
    if args.quick:
        rows, repetitions, alarm_rows = (1_000, 5_000), min(repetitions, 300), min(alarm_rows, 200)
    if any(r < 2 for r in rows) or repetitions < 1 or alarm_rows < 2 or args.columns_per_pass < 0:
        parser.error("--rows, --repetitions, --alarm-rows and --columns-per-pass must be positive (rows at least 2)")
    cfg = Config(rows, args.peer, repetitions, alarm_rows, args.seed, args.columns_per_pass)
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
            "sides": [asdict(side) for side in results.sides],
            "alarms": [asdict(alarm) for alarm in results.alarms],
            "targets": [asdict(verdict) for verdict in found],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
