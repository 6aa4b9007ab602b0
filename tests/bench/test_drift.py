"""bench/drift.py keeps working: a --quick run without the peer writes its Parquet files, runs
Shipyard's drift statistics in fresh processes, finds the columns drifted on purpose, measures
the false alarms of every test and judges the targets it can judge alone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.ml.drift import TEST_NAMES

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIFTED_ON_PURPOSE = {"num_00", "num_01", "num_02", "num_03", "num_04", "num_05", "num_17", "cat_0", "cat_3"}


@pytest.mark.slow
def test_quick_run_finds_the_planted_drift_and_measures_false_alarms(tmp_path: Path) -> None:
    out = tmp_path / "drift.json"
    argv = [sys.executable, str(REPO_ROOT / "bench" / "drift.py"), "--quick", "--json", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=280, cwd=REPO_ROOT, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Targets" in result.stdout
    document = json.loads(out.read_text())
    sides = {(side["tool"], side["preset"], side["rows"], side["per_pass"]): side for side in document["sides"]}
    runs = {("shipyard", "evidently", 0), ("shipyard", "evidently", 5), ("shipyard", "shipyard", 0)}
    assert set(sides) == {(tool, preset, rows, per_pass) for tool, preset, per_pass in runs for rows in (1000, 5000)}
    for side in sides.values():
        assert len(side["columns"]) == 25
        assert side["peak_rss_mb"] > side["rss_after_imports_mb"] > 0
        drifted = {name for name, column in side["columns"].items() if column["drifted"]}
        assert drifted >= DRIFTED_ON_PURPOSE
        if side["rows"] == 5000:  # distances at this size: no chance hit on the undrifted columns
            assert drifted == DRIFTED_ON_PURPOSE
        # Only the numbers' missing rate was moved, and only Shipyard sees it.
        assert [name for name, column in side["columns"].items() if column["missing_drifted"]] == ["num_10"]
    for rows in (1000, 5000):  # a few columns a pass gives the very same numbers as one pass
        assert (
            sides[("shipyard", "evidently", rows, 5)]["columns"] == sides[("shipyard", "evidently", rows, 0)]["columns"]
        )

    alarms = {(a["test"], a["preset"], a["levels"]) for a in document["alarms"]}
    assert {test for test, _, _ in alarms} == TEST_NAMES
    assert ("chisquare", "evidently", 50) in alarms
    evidently_chisquare = next(
        a for a in document["alarms"] if (a["test"], a["preset"], a["levels"]) == ("chisquare", "evidently", 10)
    )
    assert evidently_chisquare["rate"] > 0.2  # the reason the default preset differs

    targets = [t["target"] for t in document["targets"]]
    assert any("false alarms within 5 ± 2%" in t for t in targets)
    assert not any("Evidently" in t for t in targets)  # no peer, so nothing compared with it
