"""``crisiseval annotate`` and friends through the real command line: links printed once (only
their hashes stored), restarts, one-line errors; and (slow) the server as its own process:
served, stopped with Ctrl-C, started again with the same links, the lock held meanwhile."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crisiseval.annotate import load_project
from crisiseval.annotate._tokens import digest
from crisiseval.store import Store
from crisiseval.testing.cli import invoke

LINK = re.compile(r"^\s+(\S+)\s+(http://\S+/t/(\S+))$", re.MULTILINE)


def test_annotate_prints_one_secret_link_per_annotator(run_dir: Path) -> None:
    result = invoke(
        "annotate", "-d", str(run_dir), "--task", "labels", "--annotators", "alice,bob",
        "--strategy", "stratified", "--n", "4", "--no-serve",
    )  # fmt: skip
    assert result.code == 0, result.err
    links = {name: (url, token) for name, url, token in LINK.findall(result.out)}
    assert set(links) == {"alice", "bob", "admin"}
    assert all(url.startswith("http://127.0.0.1:8765/t/") for url, _ in links.values())
    assert (
        "task labels: 4 items (strategy stratified, seed 0, n 4, categories from majority:clf"
        in result.out
    )
    with Store.open(run_dir, read_only=True) as store:
        project = load_project(store, "labels")
    assert project is not None
    assert project.annotators == {n: digest(links[n][1]) for n in ("alice", "bob")}
    again = invoke("annotate", "-d", str(run_dir), "--task", "labels", "--no-serve")
    assert again.code == 0 and not LINK.findall(again.out)
    assert "links issued earlier still work: alice, bob, admin" in again.out
    public = invoke(
        "annotate", "-d", str(run_dir), "--task", "labels", "--new-tokens", "bob",
        "--public-url", "https://review.example.org/", "--no-serve",
    )  # fmt: skip
    assert [n for n, *_ in LINK.findall(public.out)] == []  # https links
    assert re.search(r"^\s+bob\s+https://review\.example\.org/t/\S+$", public.out, re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "conversations", "--annotators", "a"], "not available yet"),
        (["--task", "labels"], "--annotators: name at least one annotator"),
        (["--task", "labels", "--annotators", "a b"], "annotator name 'a b'"),
        (["--task", "labels", "--annotators", "H1"], "human:H1 already has labels"),
        (["--task", "labels", "--annotators", "a", "--strategy", "lowest"], "lowest picks answers"),
        (["--task", "scores", "--annotators", "a", "--sample", "nope"], "no sample named 'nope'"),
        (["--task", "scores", "--annotators", "a", "--strategy", "lowest", "-j", "x"], "judge x"),
        (["--task", "labels", "--annotators", "a", "--public-url", "ftp://x"], "--public-url 'ftp://x'"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_errors(run_dir: Path, args: list[str], message: str) -> None:
    result = invoke("annotate", "-d", str(run_dir), "--no-serve", *args)
    assert result.code == 2, result.out
    line = result.err.strip()
    assert "\n" not in line and message in line, line
    with Store.open(run_dir, read_only=True) as store:  # nothing half-made
        assert store.meta_value("annotate:labels") is None
        assert store.meta_value("annotate:scores") is None


def test_no_store_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke(
        "annotate", "-d", str(tmp_path / "none"), "--task", "labels", "--annotators", "a"
    )
    assert result.code == 2 and "no run store here" in result.err
    assert not (tmp_path / "none").exists()


def test_a_taken_port_is_a_one_line_error(run_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = invoke(
            "annotate", "-d", str(run_dir), "--task", "labels", "--annotators", "a",
            "--port", str(port),
        )  # fmt: skip
    assert result.code == 2 and f"127.0.0.1:{port}: cannot listen there" in result.err


# ------------------------------------------------------------------------------ the process
def _start(run_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crisiseval.cli", "annotate", "-d", str(run_dir), "--task",
         "labels", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("serving on "):
            return proc, line.split()[2], lines
    proc.kill()
    raise AssertionError(
        "no 'serving on' line: " + "\n".join(lines) + (proc.stderr.read() if proc.stderr else "")
    )


def _get(url: str) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=20)
    conn.request("GET", parts.path)
    return conn.getresponse()


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out, err


@pytest.mark.slow
def test_the_server_process_stops_on_ctrl_c_and_serves_the_same_links_again(run_dir: Path) -> None:
    proc, base, lines = _start(run_dir, "--annotators", "alice")
    try:
        links = {name: url for name, url, _t in LINK.findall("\n".join(lines))}
        assert base.startswith("http://127.0.0.1:") and set(links) == {"alice", "admin"}
        first = _get(links["alice"])
        assert first.status == 303 and "HttpOnly" in (first.getheader("set-cookie") or "")
        busy = invoke(
            "annotate-import", str(run_dir / "x.json"), "-d", str(run_dir), "--task", "labels"
        )
        assert busy.code == 2 and "is writing to this run directory" in busy.err  # one writer
    finally:
        out, err = _stop(proc)
    assert "stopped: every answer is saved" in out
    assert "Traceback" not in err
    proc, base2, lines = _start(run_dir, "--host", "0.0.0.0")
    try:
        port = urlsplit(base2).port
        again = _get(f"http://127.0.0.1:{port}" + urlsplit(links["alice"]).path)
        assert again.status == 303  # the link printed at the first start still works
        assert not LINK.findall("\n".join(lines))
    finally:
        _out, err = _stop(proc)
    assert "warning: listening on 0.0.0.0" in err
