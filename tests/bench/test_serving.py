"""bench/serving.py keeps working: a --quick run without the peer, through a live server and the
separate load process, gives a table, cells with answered requests, and the targets' verdicts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_measures_every_cell_and_judges_the_targets(tmp_path: Path) -> None:
    out = tmp_path / "serving.json"
    argv = [sys.executable, str(REPO_ROOT / "bench" / "serving.py"), "--quick", "--concurrency", "1,8"]
    argv += ["--rows", "1", "--formats", "split,columnar", "--json", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=REPO_ROOT, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Targets" in result.stdout
    document = json.loads(out.read_text())
    cells = {(c["side"], c["model"], c["fmt"], c["concurrency"]) for c in document["cells"]}
    for model in ("lr", "rf"):
        for concurrency in (1, 8):
            assert ("floor", model, "-", concurrency) in cells
            for fmt in ("split", "columnar"):
                assert ("shipyard", model, fmt, concurrency) in cells
        # The same model behind a deployment with micro-batching on, where requests come together.
        assert ("batched", model, "split", 8) in cells
        assert ("batched", model, "split", 1) not in cells
    for cell in document["cells"]:
        assert cell["requests"] > 0
        assert cell["errors"] == 0
        if cell["side"] == "shipyard":
            # The server's CPU was read from /proc around the window: a busy server used some.
            assert cell["server_cpu_ms_per_request"] > 0
    targets = [t["target"] for t in document["targets"]]
    assert any("p50 over the floor" in t for t in targets)
    assert any("of the floor's" in t for t in targets)
    assert not any("MLflow" in t for t in targets)  # no peer, so nothing compared with it
