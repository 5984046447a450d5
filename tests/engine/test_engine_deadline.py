"""``timeout_s`` is a wall-clock deadline around the whole request: a server that trickles its
reply (every read quick, the whole reply slow) cannot hold a call past it."""

from __future__ import annotations

import time


def test_a_trickling_reply_is_cut_at_the_deadline(srv, store, h) -> None:
    # ~300 bytes at 0.05 s a byte: ~15 s for the whole reply, each read well under timeout_s.
    srv.set_rules([{"kind": "trickle", "delay": 0.05}])
    lim = h.limits(timeout_s=1.0, max_retries=1)
    eng = h.engine(store, {"m": h.model(srv, lim)})
    t0 = time.monotonic()
    s = eng.run_sync(h.specs(1), None)
    elapsed = time.monotonic() - t0
    (row,) = h.rows(store)
    assert (row["status"], row["error_kind"]) == ("failed", "timeout")
    assert "deadline" in row["error_message"] and row["attempts"] == 2  # retried like a timeout
    assert s.failures == {"timeout": 1}
    assert elapsed < 10  # two attempts of 1 s (+ back-off), never the 15 s the server takes


def test_a_reply_inside_the_deadline_is_kept(srv, store, h) -> None:
    srv.set_rules([{"kind": "trickle", "delay": 0.001}])
    eng = h.engine(store, {"m": h.model(srv, h.limits(timeout_s=10.0))})
    eng.run_sync(h.specs(1), None)
    (row,) = h.rows(store)
    assert (row["status"], row["response_text"]) == ("done", "trickled")
