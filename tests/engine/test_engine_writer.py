"""When the store stops taking results, the engine stops calling (nothing paid for and lost)."""

from __future__ import annotations

import sqlite3

import pytest

from crisiseval.engine.runner import _Run


def test_a_failing_writer_stops_the_batch(srv, store, h, monkeypatch) -> None:
    srv.set_rules([{"kind": "latency", "delay": 0.02}])
    models = {"m": h.model(srv, h.limits(concurrency=2))}
    eng = h.engine(store, models)
    flushes = {"n": 0}
    real_flush = _Run.flush

    def flaky_flush(self: _Run) -> None:
        flushes["n"] += 1
        if flushes["n"] >= 2:
            raise sqlite3.OperationalError("database or disk is full")
        real_flush(self)

    monkeypatch.setattr(_Run, "flush", flaky_flush)
    with pytest.raises((sqlite3.OperationalError, RuntimeError)):
        eng.run_sync(h.specs(200), h.Out)
    # The workers stopped soon after the writer died, far from all 200 calls.
    assert len(srv.requests()) < 50
    statuses = {r["status"] for r in h.rows(store)}
    assert statuses <= {"pending", "done"}


def test_a_last_result_that_cannot_be_written_is_an_error_not_a_success(
    srv, store, h, monkeypatch
) -> None:
    eng = h.engine(store, {"m": h.model(srv)})

    def broken_write(rows) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.cells, "record", broken_write)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        eng.run_sync(h.specs(1), h.Out)
    assert [r["status"] for r in h.rows(store)] == ["pending"]  # never reported as done


def test_a_full_disk_surfaces_as_such(srv, store, h) -> None:
    """SQLite rolls back by itself on SQLITE_FULL; the user must see that error."""
    # Fault injection: a size cap on the store's own connection stands in for a full disk.
    conn = store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    eng = h.engine(store, {"m": h.model(srv)})
    with pytest.raises(sqlite3.OperationalError, match="full"):
        eng.run_sync(h.specs(300), h.Out)
