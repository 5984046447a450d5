"""The API key of a batch model never leaks: not into the run store (database, WAL, shared memory),
the uploaded batch files, the logs or the output; an error that echoes it is redacted."""

from __future__ import annotations

import logging
from pathlib import Path

from crisiseval.store import Store
from crisiseval.testing.batchserver import BatchServer, Plan

SECRET = "sk-crisiseval-BATCH-5ecr3t-71d0a9"
WRONG = "sk-crisiseval-BATCH-WRONG-0000"


def _store_bytes(path: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def test_batch_api_key_never_leaks(tmp_path, h, monkeypatch, caplog, capfd) -> None:
    monkeypatch.setenv("CRISISEVAL_TEST_BATCH_KEY", SECRET)
    monkeypatch.setenv("CRISISEVAL_TEST_BATCH_WRONG", WRONG)
    for name in ("", "crisiseval", "openai", "httpx", "httpcore", "httpx2", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    store = Store.open(tmp_path / "run")
    plan = Plan(fail=["good 0001"], fail_status=400, fail_message=f"bad request from {SECRET}")
    with BatchServer(api_key=SECRET, plans=[plan]) as srv:
        lim = h.limits(max_retries=0)
        models = {
            "good": h.model(
                srv,
                api_key_env="CRISISEVAL_TEST_BATCH_KEY",
                limits=lim,
                batch=True,
                batch_poll_s=0.02,
            ),
            "wrong": h.model(
                srv, api_key_env="CRISISEVAL_TEST_BATCH_WRONG", limits=lim, batch=True
            ),
        }
        eng = h.engine(store, models)
        eng.preflight(["good", "wrong"])
        specs = h.specs(3, model="good", prefix="good") + h.specs(2, model="wrong", prefix="wrong")
        s = eng.run_sync(specs, h.Out)
        sent = [data for purpose, data in srv.state.files.values() if purpose == "batch"]
        received = [data for purpose, data in srv.state.files.values() if purpose != "batch"]

    # Not vacuous: the right key worked, the wrong one was refused, the echo happened.
    assert s.done == 2 and s.failures == {"http_400": 1, "http_401": 2}
    msgs = [r["error_message"] or "" for r in h.rows(store)]
    assert any("bad request from [redacted]" in m for m in msgs)

    needles = [SECRET.encode(), WRONG.encode()]
    assert sent and any(SECRET.encode() in blob for blob in received)  # the fake echoed it
    for blob in sent:  # the JSONL uploaded
        for needle in needles:
            assert needle not in blob, "key found in an uploaded batch file"
    for name, blob in _store_bytes(store.path).items():
        for needle in needles:
            assert needle not in blob, f"key found in {name}"
    store.close()
    for p in (tmp_path / "run").iterdir():
        for needle in needles:
            assert needle not in p.read_bytes(), f"key found in {p.name}"

    assert caplog.records, "DEBUG logging was captured"
    for rec in caplog.records:
        text = f"{rec.getMessage()} {rec.args!r} {rec.exc_text or ''}"
        assert SECRET not in text and WRONG not in text, rec.name
    out, err = capfd.readouterr()
    assert SECRET not in out + err and WRONG not in out + err
