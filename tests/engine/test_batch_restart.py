"""kill -9 while a batch is polled: the batch id is in the store, so a new process polls the same
batch again instead of submitting a second one. For both batch backends: OpenAI's files and
batches API, and Anthropic's message batches.

This file is also the script of the killed process:
``python test_batch_restart.py PROVIDER RUN_DIR BASE_URL N`` runs N cells on a batch model and
prints the run summary.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

N = 12
KEY_ENV = "CRISISEVAL_BATCH_TEST_KEY"
DUMMY_KEY = "sk-dummy-batch-restart-0000"


def main(argv: list[str]) -> int:
    from pydantic import BaseModel, Field

    from crisiseval.config import Limits, ModelConfig
    from crisiseval.engine import CallSpec, Engine
    from crisiseval.store import Store

    class Out(BaseModel):
        label: str
        score: int = Field(ge=1, le=5)

    provider, run_dir, base_url, n = argv[0], argv[1], argv[2], int(argv[3])
    model = ModelConfig(
        provider=provider,
        base_url=base_url,
        model="mock",
        api_key_env=KEY_ENV,
        batch=True,
        batch_poll_s=0.05,
        limits=Limits(max_retries=1),
    )
    specs = [
        CallSpec(
            role="restart",
            model="m",
            messages=[{"role": "user", "content": f"restart item {i:04d}"}],
            item_id=f"r-{i}",
        )
        for i in range(n)
    ]
    with Store.open(run_dir) as store:
        summary = Engine(store, {"m": model}, progress=False).run_sync(specs, Out)
    print(summary.line(), flush=True)
    return 0


def _start(provider: str, run_dir: Path, base_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, KEY_ENV: DUMMY_KEY}
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, __file__, provider, str(run_dir), base_url, str(N)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _server(provider: str) -> Any:
    """The loopback fake of the provider's batch API, its batch held open until released."""
    if provider == "anthropic":
        from crisiseval.testing import anthropicserver

        return anthropicserver.AnthropicServer(
            api_key=DUMMY_KEY, plans=[anthropicserver.Plan(polls=10**9)]
        )
    from crisiseval.testing import batchserver

    return batchserver.BatchServer(api_key=DUMMY_KEY, plans=[batchserver.Plan(polls=10**9)])


# What creates a batch, per provider (one file upload too for OpenAI's).
_CREATES = {
    "openai": [("POST", "/v1/files"), ("POST", "/v1/batches")],
    "anthropic": [("POST", "/v1/messages/batches")],
}


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_kill_9_while_polling_then_a_new_process_resumes_the_same_batch(
    tmp_path: Path, provider: str
) -> None:
    from crisiseval.store import Store

    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    with _server(provider) as srv:
        proc = _start(provider, run_dir, srv.base_url, log)
        deadline = time.monotonic() + 60
        while not (srv.created() and srv.polls(srv.created()[0]) >= 3):
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it was killed:\n{log.read_text()}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"no batch was polled:\n{log.read_text()}")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        (bid,) = srv.created()
        polls_before = srv.polls(bid)

        # The store knows the batch and its cells, and nothing else happened.
        with Store.open(run_dir) as st:
            assert st.integrity_check() == "ok"
            rows = st.cells.rows()
            assert len(rows) == N
            assert {(r["status"], r["batch_id"]) for r in rows} == {("submitted", bid)}
            assert [b.batch_id for b in st.cells.batches(open_only=True)] == [bid]

        srv.release()  # the provider finishes the batch while nobody polls it
        proc2 = _start(provider, run_dir, srv.base_url, log)
        assert proc2.wait(60) == 0, log.read_text()
        assert f"{N} cells; 0 cached; {N} done; 0 unparsed; 0 failed" in log.read_text()

        # One batch: the new process polled the same batch id.
        calls = [(e["method"], e["path"]) for e in srv.log()]
        assert all(calls.count(c) == 1 for c in _CREATES[provider])
        assert srv.created() == [bid] and srv.polls(bid) > polls_before
        with Store.open(run_dir) as st:
            rows = st.cells.rows()
            assert {(r["status"], r["batch_id"]) for r in rows} == {("done", bid)}
            assert [(b.batch_id, b.state) for b in st.cells.batches()] == [(bid, "completed")]
        # The key went to the provider only: not to the store's file, not to the output.
        assert all(e["auth"] for e in srv.log())
        assert DUMMY_KEY not in log.read_text()
        for f in run_dir.glob("crisiseval.sqlite*"):
            assert DUMMY_KEY.encode() not in f.read_bytes(), f


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
