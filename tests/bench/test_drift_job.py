"""bench/drift_job.py keeps working: a --quick run writes rows through the prediction log, runs the
drift check in a process of its own, and reports its time, its memory and the shifted columns."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_checks_the_logged_rows_in_a_process_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "drift_job.json"
    argv = [sys.executable, str(REPO_ROOT / "bench" / "drift_job.py"), "--quick", "--json", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "peak RSS of the job's process" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["rows"] == 20_000
    assert figures["segments"] == 4
    assert figures["job_seconds"] > 0
    assert figures["peak_rss_mb"] >= figures["rss_before_job_mb"] > 0
    # Five of the twenty numeric columns are shifted by half a standard deviation, and only they
    # drift: too few for dataset drift, but the labels follow x0 + x1, so the predictions drift.
    assert figures["drifted_columns"] == ["x0", "x1", "x2", "x3", "x4"]
    assert figures["dataset_drift"] is False
    assert figures["prediction_drift"] is True
    assert figures["drift_detected"] is True
