"""Trusting a run directory (issue 9): edited inputs are caught, one writer at a time, read
commands never write, a smaller study leaves no stale records, honest exit codes, interrupts
that say how to resume, and one-line errors instead of tracebacks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiseval.pipeline import demo_inputs
from crisiseval.store import STORE_FILENAME, Store
from crisiseval.testing.cli import invoke
from crisiseval.testing.mockserver import MockServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.02, "max_retries": 1}


@pytest.fixture
def srv() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def cli(_monkeypatch: object, _capsys: object, *args: str) -> tuple[int, str, str]:
    """``crisiseval ARGS`` in-process: (exit code, stdout, stderr)."""
    return tuple(invoke(*args))  # type: ignore[return-value]


def study(srv: MockServer, path: Path, **over: Any) -> Path:
    data: dict[str, Any] = {
        "name": "trust",
        "models": {"m": {"base_url": srv.base_url, "model": "mock", "limits": {**FAST}}},
        "sample": {"builtin": "demo"},
        "classify": {"models": ["m"], "runs": 1},
        "respond": {"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        "judge": {"judges": ["m"], "runs": 1},
    }
    data.update(over)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def items_file(path: Path, n: int) -> Path:
    records = [{"inputs": t, "label": lab} for t, lab in demo_inputs(per_label=1)[:n]]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def digest(run_dir: Path) -> dict[str, str]:
    """The store's data: the database and a non-empty WAL. (SQLite's readers may create an empty
    WAL and the -shm index, shared memory that readers use too: no data.)"""
    return {
        name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(run_dir))
        if name in (STORE_FILENAME, STORE_FILENAME + "-wal") and (run_dir / name).stat().st_size
    }


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def crisiseval_proc(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "crisiseval.cli", *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "1000"},
    )


# ------------------------------------------------------------------------------ input drift
def test_an_edited_sample_file_is_refused_then_rebuilt_on_request(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    items = items_file(tmp_path / "items.json", 2)
    cfg = study(srv, tmp_path / "s.yaml", sample={"name": "mine", "from_file": str(items)})
    run_dir = tmp_path / "run"
    code, _, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir), "--dry-run")
    assert code == 0, err
    items_file(items, 3)  # the file changes after the sample was made
    code, _, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))
    line = one_line_error(err)
    assert code == 2
    assert "'mine'" in line and "items.json has changed" in line
    assert "sample.name" in line and "--rebuild-sample" in line
    with Store.open(run_dir, read_only=True) as st:
        assert len(st.sample_items("mine")) == 2 and st.counts()["cells"] == 0

    code, out, err = cli(
        monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir), "--rebuild-sample"
    )
    assert code == 0, err
    assert "the old one is kept as 'mine@" in out
    with Store.open(run_dir, read_only=True) as st:
        names = st.sample_names()
        old = next(n for n in names if n.startswith("mine@"))
        assert len(st.sample_items("mine")) == 3 and len(st.sample_items(old)) == 2
        assert len(st.responses_frame()) == 3


def test_another_study_with_the_same_sample_name_is_refused(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    a = items_file(tmp_path / "a.json", 2)
    cfg = study(srv, tmp_path / "a.yaml", sample={"name": "main", "from_file": str(a)})
    run_dir = tmp_path / "run"
    assert cli(monkeypatch, capsys, "sample", str(cfg), "-d", str(run_dir))[0] == 0
    other = study(
        srv,
        tmp_path / "b.yaml",
        sample={"name": "main", "sources": [{"id": "Amod/mental_health_counseling_conversations"}]},
    )
    code, _, err = cli(monkeypatch, capsys, "run", str(other), "-d", str(run_dir), "--dry-run")
    assert code == 2 and "'main'" in one_line_error(err)


# ------------------------------------------------------------------------------ the lock
def test_a_second_writer_is_refused_at_once_and_readers_still_work(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cfg = study(srv, tmp_path / "s.yaml", sample={"builtin": "demo"})
    run_dir = tmp_path / "run"
    assert cli(monkeypatch, capsys, "sample", str(cfg), "-d", str(run_dir))[0] == 0
    # Another process holds the writer lock (a run in progress).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from crisiseval.store import run_dir_lock\n"
            "with run_dir_lock(Path(sys.argv[1])):\n"
            "    print('locked', flush=True); time.sleep(60)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        n = len(srv.requests())
        t0 = time.monotonic()
        code, _, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))
        assert time.monotonic() - t0 < 10  # at once, not after a wait
        line = one_line_error(err)
        assert code == 2 and f"PID {holder.pid}" in line and "writing to this run" in line
        assert len(srv.requests()) == n  # nothing sent
        # Readers do not take the lock.
        code, out, err = cli(monkeypatch, capsys, "status", "-d", str(run_dir))
        assert code == 0 and "items: 35" in out, err
    finally:
        holder.kill()  # kill -9: the OS releases the lock
        holder.wait()
    code, _, err = cli(monkeypatch, capsys, "classify", str(cfg), "-d", str(run_dir))
    assert code == 0, err


@pytest.mark.slow
def test_two_concurrent_runs_send_each_cell_once(srv: MockServer, tmp_path: Path) -> None:
    # Two judge calls take 8 s: the first run is surely still running when the second starts.
    srv.set_rules([{"kind": "latency", "delay": 8, "match": "Chatbot answer", "times": 2}])
    cfg = study(srv, tmp_path / "s.yaml")
    run_dir = tmp_path / "run"
    first = crisiseval_proc("run", str(cfg), "-d", str(run_dir), log=tmp_path / "a.log")
    deadline = time.monotonic() + 60
    while len(srv.requests()) < 71 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = crisiseval_proc("run", str(cfg), "-d", str(run_dir), log=tmp_path / "b.log")
    assert second.wait(timeout=60) == 2
    assert f"PID {first.pid}" in (tmp_path / "b.log").read_text()
    assert first.wait(timeout=120) == 0, (tmp_path / "a.log").read_text()
    with Store.open(run_dir, read_only=True) as st:
        cells = st.counts()["cells"]
    assert len(srv.requests()) == cells  # no call sent twice


# ------------------------------------------------------------------------------ read-only
def test_read_commands_never_write(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cfg = study(srv, tmp_path / "s.yaml")
    run_dir = tmp_path / "run"
    assert cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))[0] == 0
    before = digest(run_dir)
    for args in (
        ("status",),
        ("scores", "--boot", "0"),
        ("agreement",),
        ("report", "--boot", "0", "-o", str(tmp_path / "rep")),
    ):
        code, _, err = cli(monkeypatch, capsys, *args, "-d", str(run_dir))
        assert code == 0, (args, err)
    assert digest(run_dir) == before
    # An archived run in a folder nobody may write to: opened immutable, still readable.
    monkeypatch.setattr("crisiseval.store._core._writable", lambda _folder: False)
    code, out, err = cli(monkeypatch, capsys, "status", "-d", str(run_dir))
    assert code == 0 and "items: 35" in out, err
    assert digest(run_dir) == before


# ------------------------------------------------------------------------------ stale records
def test_a_smaller_study_leaves_no_stale_records(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sample = {"name": "five", "from_file": str(items_file(tmp_path / "i.json", 5))}
    big = study(
        srv,
        tmp_path / "big.yaml",
        sample=sample,
        classify={"models": ["m"], "runs": 3},
        respond={"runs": 2, "respondents": [{"name": "r", "model": "m"}]},
    )
    run_dir = tmp_path / "run"
    assert cli(monkeypatch, capsys, "run", str(big), "-d", str(run_dir))[0] == 0
    small = study(
        srv,
        tmp_path / "small.yaml",
        sample=sample,
        classify={"models": ["m"], "runs": 1},
        respond={"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
    )
    code, out, err = cli(monkeypatch, capsys, "run", str(small), "-d", str(run_dir))
    assert code == 0, err
    assert "removed 10 labels" in out and "removed 5 answers" in out
    with Store.open(run_dir, read_only=True) as st:
        labels = st.labels_frame()
        assert set(labels[labels["rater"] == "m"]["run_index"]) == {1}
        assert set(st.responses_frame()["run_index"]) == {1}
        assert len(st.responses_frame()) == 5
    code, out, _ = cli(monkeypatch, capsys, "scores", "--boot", "0", "-d", str(run_dir))
    # The coverage row of respondent r: 5 answers, 0 failed, 5 scored, 0 not scored.
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Answers per respondent"))
    row = next(ln for ln in lines[start:] if ln.startswith("│ r "))
    assert [c.strip() for c in row.strip("│").split("│")][1:] == ["5", "0", "5", "0"]


# ------------------------------------------------------------------------------ exit codes
def test_permanent_failures_exit_3_and_say_a_rerun_will_not_help(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    srv.set_rules([{"kind": "400", "text": "request too large"}])
    cfg = study(srv, tmp_path / "s.yaml", sample={"builtin": "demo"})
    code, _, err = cli(monkeypatch, capsys, "classify", str(cfg), "-d", str(tmp_path / "r"))
    assert code == 3
    assert "35 cells failed (http_400=35)" in err and "will fail again" in err
    assert "retries them" not in err


def test_transient_failures_exit_3_then_a_rerun_finishes(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    srv.set_rules([{"kind": "500", "match": "Mock answer"}])  # every judge call fails
    cfg = study(srv, tmp_path / "s.yaml")
    run_dir = tmp_path / "r"
    code, _, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))
    assert code == 3 and "35 cells failed (server=35)" in err and "retries them" in err
    srv.set_rules([])
    code, out, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))
    assert code == 0 and err == ""
    assert "judge: 35 cells; 0 cached; 35 done" in out


def test_ctrl_c_exits_130_with_the_resume_message(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def interrupted(*_a: Any, **_k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("crisiseval.pipeline.run_study", interrupted)
    cfg = study(srv, tmp_path / "s.yaml")
    code, _, err = cli(monkeypatch, capsys, "run", str(cfg), "-d", str(tmp_path / "r"))
    assert code == 130
    assert "interrupted: finished calls are saved" in err and "run the same command again" in err


@pytest.mark.slow
def test_sigterm_exits_130_and_the_run_resumes(srv: MockServer, tmp_path: Path) -> None:
    srv.set_rules([{"kind": "latency", "delay": 0.1}])
    cfg = study(srv, tmp_path / "s.yaml")
    run_dir = tmp_path / "run"
    log = tmp_path / "a.log"
    proc = crisiseval_proc("run", str(cfg), "-d", str(run_dir), log=log)
    deadline = time.monotonic() + 60
    while len(srv.requests()) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert "interrupted: finished calls are saved" in log.read_text()
    srv.set_rules([])
    again = crisiseval_proc("run", str(cfg), "-d", str(run_dir), log=tmp_path / "b.log")
    assert again.wait(timeout=120) == 0, (tmp_path / "b.log").read_text()


# ------------------------------------------------------------------------------ one-line errors
def test_run_dir_that_is_a_file_is_one_line(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    cfg = study(srv, tmp_path / "s.yaml")
    for args in (("run", str(cfg)), ("status",), ("scores",), ("report",)):
        code, _, err = cli(monkeypatch, capsys, *args, "-d", str(afile))
        assert code == 2 and "not a directory" in one_line_error(err), args


def test_verbose_logs_crisiseval_only_and_text_is_never_emoji(
    srv: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv.set_rules([{"kind": "500", "times": 2}])
    cfg = study(srv, tmp_path / "s.yaml", sample={"name": "demo:m:", "builtin": "demo"})
    with caplog.at_level(logging.NOTSET):  # see every record the loggers let through
        code, out, err = cli(
            monkeypatch, capsys, "-v", "classify", str(cfg), "-d", str(tmp_path / "r")
        )
    assert code == 0, err
    assert "sample 'demo:m:': 35 items" in out  # not rendered as an emoji
    names = {r.name for r in caplog.records}
    assert any("retry" in r.getMessage() for r in caplog.records if r.name == "crisiseval.engine")
    # -v is about crisiseval: HTTP clients, asyncio and the rest stay at WARNING.
    assert not [
        r
        for r in caplog.records
        if r.levelno < logging.WARNING and not r.name.startswith("crisiseval")
    ], names


# ------------------------------------------------------------------------------ progress
def test_progress_lines_when_stdout_is_not_a_terminal_and_quiet_silences_them(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cfg = study(srv, tmp_path / "s.yaml")
    code, out, err = cli(monkeypatch, capsys, "classify", str(cfg), "-d", str(tmp_path / "a"))
    assert code == 0, err
    assert "classify: 0/35 calls, 0 failed" in out  # the first status line
    assert re.search(r"classify: 35/35 calls, 0 failed, .* \(done in \d+s\)", out)
    code, out, err = cli(
        monkeypatch, capsys, "--quiet", "classify", str(cfg), "-d", str(tmp_path / "b")
    )
    assert code == 0 and "calls, 0 failed" not in out and "classify: 35 cells" in out


def test_report_into_a_folder_that_cannot_be_made_is_one_line(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cfg = study(srv, tmp_path / "s.yaml")
    run_dir = tmp_path / "run"
    assert cli(monkeypatch, capsys, "run", str(cfg), "-d", str(run_dir))[0] == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli(
        monkeypatch, capsys, "report", "--boot", "0", "-d", str(run_dir), "-o", str(blocker / "r")
    )
    line = one_line_error(err)
    assert code == 2 and "cannot write the report" in line and str(blocker) in line
