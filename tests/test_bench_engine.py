"""bench/engine_throughput.py runs end to end on a few calls and prints every contender's rate and
the engine's ratio to each as one JSON object (issue 16: both bare baselines, the engine's own
transport, and inspect_ai when it is installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "engine_throughput.py"


@pytest.mark.slow
def test_engine_throughput_prints_every_rate_and_ratio() -> None:
    has_inspect = importlib.util.find_spec("inspect_ai") is not None
    args = ["--n", "20", "--inspect-n", "5", "--concurrency", "8", "--latency", "0", "--json"]
    out = subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    keys = ["a", "b", "c", "c2", *(["d"] if has_inspect else [])]
    assert list(result["rates"]) == keys
    assert all(rate > 0 for rate in result["rates"].values())
    assert list(result["ratios"]) == [f"a/{k}" for k in keys[1:]]
    assert result["inspect_n"] == (5 if has_inspect else 0)
    assert "(c2) worker pool, engine transport" in out.stderr
