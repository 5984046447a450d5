"""kill -9 and Ctrl-C in the middle of a batch: the store stays consistent and the batch resumes
without re-sending finished cells."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crisiseval.store import Store, store_path
from crisiseval.testing.mockserver import MockServer, messages_digest

SCRIPT = Path(__file__).with_name("_crash_batch.py")
N = 300
CONCURRENCY = 8

pytestmark = pytest.mark.slow


def _start(run_dir: Path, srv: MockServer, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), str(run_dir), srv.base_url, str(N), str(CONCURRENCY)],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def _done_count(path: Path) -> int:
    """Cells done so far, read through a separate read-only connection (0 before the table)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM cells WHERE status='done'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def _wait_for_progress(proc: subprocess.Popen[bytes], path: Path, log: Path, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before the interruption:\n{log.read_text()}")
        if _done_count(path) >= at_least:
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no progress in the batch:\n{log.read_text()}")


def _snapshot(run_dir: Path) -> tuple[dict[str, str], set[str]]:
    """Open the store after an interruption, check it; return statuses and done cells' digests."""
    with Store.open(run_dir) as st:
        assert st.integrity_check() == "ok"
        rows = [(r["key"], r["status"], r["request"], r["parsed"]) for r in st.cells.rows()]
    statuses = {k: s for k, s, _, _ in rows}
    assert len(rows) == N, "every cell is journalled as pending before any call"
    assert set(statuses.values()) <= {"pending", "done"}, "an interruption is never a failure"
    done_digests = set()
    for _, status, request, parsed in rows:
        if status == "done":
            assert parsed is not None and json.loads(parsed)["score"] in range(1, 6)
            done_digests.add(messages_digest(json.loads(request)["messages"]))
    return statuses, done_digests


def _resume_and_check(
    run_dir: Path, srv: MockServer, log: Path, done_before: set[str], n_before: int
) -> None:
    proc = _start(run_dir, srv, log)
    try:
        assert proc.wait(timeout=120) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    reqs = srv.requests()
    second = reqs[n_before:]
    with Store.open(run_dir) as st:
        assert st.integrity_check() == "ok"
        rows = [(r["key"], r["status"], r["item_id"]) for r in st.cells.rows()]
    assert len(rows) == N and len({r[0] for r in rows}) == N
    assert len({r[2] for r in rows}) == N, "exactly one row per cell"
    assert all(r[1] == "done" for r in rows)
    # Finished cells were not asked again; the others were asked exactly once.
    second_digests = [r["digest"] for r in second]
    assert not done_before & set(second_digests)
    assert len(second_digests) == len(set(second_digests)) == N - len(done_before)
    # Lost work is bounded by the calls in flight at the interruption.
    assert len(reqs) <= N + CONCURRENCY, (len(reqs), len(done_before))
    lost = {r["digest"] for r in reqs[:n_before]} - done_before
    assert len(lost) <= CONCURRENCY


def test_kill_9_mid_batch_then_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    log = tmp_path / "batch.log"
    with MockServer(latency=0.05) as srv:
        proc = _start(run_dir, srv, log)
        try:
            _wait_for_progress(proc, store_path(run_dir), log, at_least=40)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.3)  # let requests already on the wire reach the server's log
        n_before = len(srv.requests())
        statuses, done_before = _snapshot(run_dir)
        n_done = sum(s == "done" for s in statuses.values())
        assert 40 <= n_done < N and len(done_before) == n_done
        _resume_and_check(run_dir, srv, log, done_before, n_before)


def test_ctrl_c_mid_batch_then_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    log = tmp_path / "batch.log"
    with MockServer(latency=0.05) as srv:
        proc = _start(run_dir, srv, log)
        try:
            _wait_for_progress(proc, store_path(run_dir), log, at_least=40)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert rc != 0, "an interrupted batch must not report success"
        time.sleep(0.3)
        n_before = len(srv.requests())
        statuses, done_before = _snapshot(run_dir)
        n_done = sum(s == "done" for s in statuses.values())
        assert 40 <= n_done < N
        _resume_and_check(run_dir, srv, log, done_before, n_before)
