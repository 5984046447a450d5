"""Progress when stdout is not a terminal: a status line at least every interval while calls
run (even when none finishes), and a final line; nothing with --quiet."""

from __future__ import annotations

import io
import re

from rich.console import Console

from crisiseval.engine.progress import CallProgress, progress_mode


def test_lines_keep_coming_while_a_slow_call_runs(srv, store, h, monkeypatch) -> None:
    monkeypatch.setattr("crisiseval.engine.progress.LINE_INTERVAL_S", 0.1)
    srv.set_rules([{"kind": "latency", "delay": 0.6, "match": "item 0000"}])
    buf = io.StringIO()
    console = Console(file=buf, width=200)
    assert progress_mode(console) == "lines" and progress_mode(console, quiet=True) == "off"
    eng = h.engine(store, {"m": h.model(srv, h.limits(concurrency=1))}, console=console)
    eng.progress = "lines"
    eng.run_sync(h.specs(2), h.Out, description="classify")
    lines = buf.getvalue().splitlines()
    # One at the start, several while the first call waits 0.6 s, one at the end.
    waiting = [ln for ln in lines if ln.startswith("classify: 0/2 calls")]
    assert len(waiting) >= 3, lines
    assert re.match(
        r"classify: 2/2 calls, 0 failed, [\d.]+/s, ETA 0s, tokens \d+/\d+ \(done in \d+s\)",
        lines[-1],
    ), lines[-1]


def test_quiet_prints_nothing(srv, store, h) -> None:
    buf = io.StringIO()
    eng = h.engine(store, {"m": h.model(srv)}, console=Console(file=buf))
    eng.progress = "off"
    eng.run_sync(h.specs(3), h.Out)
    assert buf.getvalue() == ""


def test_line_counts_failures_and_cost() -> None:
    buf = io.StringIO()
    p = CallProgress("lines", Console(file=buf, width=200), "judge", 4)
    p.advance(failed=True, tokens="10/2", cost="$0.0100")
    assert p.line().startswith("judge: 1/4 calls, 1 failed, ")
    assert p.line().endswith("tokens 10/2, $0.0100")
