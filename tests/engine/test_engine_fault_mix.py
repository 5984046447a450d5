"""Faults at about 30% of requests — 429 with Retry-After, 500, hangs past the deadline, resets,
truncated and non-JSON bodies, empty choices — never become model behaviour: with enough
retries every cell ends done, with exactly the results of a run without faults."""

from __future__ import annotations

from pathlib import Path

from crisiseval.store import Store

N = 60
KINDS = (
    {"kind": "429", "retry_after": 0.05},
    {"kind": "500"},
    {"kind": "timeout", "delay": 5},
    {"kind": "reset"},
    {"kind": "truncated"},
    {"kind": "malformed"},
    {"kind": "empty"},
)


def _results(store: Store) -> dict[str, tuple[str, str | None]]:
    return {r["key"]: (r["status"], r["parsed"]) for r in store.cells.rows()}


def test_thirty_percent_faults_end_with_the_clean_results(srv, h, tmp_path: Path) -> None:
    # Every third-ish item fails once with one of the kinds, in turn: 20 of 60 first requests.
    rules = [
        {**KINDS[n % len(KINDS)], "match": f"item {i:04d}", "times": 1}
        for n, i in enumerate(range(0, N, 3))
    ]
    srv.set_rules(rules)
    lim = h.limits(concurrency=8, max_retries=3, timeout_s=1.0)
    with Store.open(tmp_path / "faulty") as faulty:
        s = h.engine(faulty, {"m": h.model(srv, lim)}).run_sync(h.specs(N), h.Out)
        assert (s.done, s.failed, s.unparsed) == (N, 0, 0), s.line()
        got = _results(faulty)
        attempts = {r["item_id"]: r["attempts"] for r in faulty.cells.rows()}
    faults = sum(1 for r in srv.requests() if r.get("outcome") not in ("ok", None))
    assert faults == len(rules) and len(rules) / N >= 0.3
    assert sum(a for a in attempts.values()) == N + len(rules)  # each fault retried once

    srv.set_rules([])
    with Store.open(tmp_path / "clean") as clean:
        h.engine(clean, {"m": h.model(srv, lim)}).run_sync(h.specs(N), h.Out)
        assert _results(clean) == got
