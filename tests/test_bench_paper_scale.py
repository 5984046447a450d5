"""bench/paper_scale.py runs the study's shape end to end on a few items against its loopback
server and prints every figure issue 16 asks for as one JSON object; the resumed run sends
nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "paper_scale.py"
# Per item: 3 classification runs, 5 respondents x 3 runs, 3 judge runs per answer.
CALLS_PER_ITEM = 3 + 5 * 3 + 5 * 3 * 3


@pytest.mark.slow
def test_paper_scale_prints_every_figure_and_resumes_with_no_call(tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    texts = [f"I have not slept properly in weeks, message {i}." for i in range(4)]
    items.write_text(json.dumps([{"inputs": [t], "label": "no_crisis"} for t in texts]))
    out = subprocess.run(
        [sys.executable, str(BENCH), "--items", str(items), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout)
    figures = ("wall_s", "calls", "cpu_s_per_call", "peak_rss_mb", "store_mb", "resume_s")
    for field in (*figures, "resume_new_process_s", "resume_new_process_wall_s"):
        assert result[field] > 0, field
    assert result["items"] == 4
    assert result["calls"] == 4 * CALLS_PER_ITEM and result["failed"] == 0
    assert result["resume_calls"] == 0  # neither resume, in this process or a new one, sent one
