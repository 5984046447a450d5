"""API keys never leak: not into the run store (database, WAL, shared memory), logs or output."""

from __future__ import annotations

import logging
from pathlib import Path

from crisiseval.config import ModelConfig
from crisiseval.store import Store
from crisiseval.testing.mockserver import MockServer

SECRET = "sk-crisiseval-TEST-5ecr3t-9f1c2e7a4b"
WRONG = "sk-crisiseval-WRONG-0000"


def _store_bytes(path: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def test_api_key_never_leaks(tmp_path, h, monkeypatch, caplog, capfd) -> None:
    monkeypatch.setenv("CRISISEVAL_TEST_SECRET_KEY", SECRET)
    monkeypatch.setenv("CRISISEVAL_TEST_WRONG_KEY", WRONG)
    for name in ("", "crisiseval", "openai", "httpx", "httpcore", "httpx2", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    store = Store.open(tmp_path / "run")
    secrets: list[str] = []
    with MockServer(api_key=SECRET) as srv:
        lim = h.limits(max_retries=1, reasks=1)
        models = {
            "good": h.model(srv, api_key_env="CRISISEVAL_TEST_SECRET_KEY", limits=lim),
            "wrong": h.model(srv, api_key_env="CRISISEVAL_TEST_WRONG_KEY", limits=lim),
            "dead": ModelConfig(
                base_url=f"http://127.0.0.1:{h.free_port()}/v1",
                model="mock",
                api_key_env="CRISISEVAL_TEST_SECRET_KEY",
                limits=lim,
            ),
        }
        srv.set_rules(
            [
                {"match": "good 0001", "kind": "500"},
                {"match": "good 0002", "kind": "reply", "text": "not json"},
                {"match": "good 0003", "kind": "429", "times": 1, "retry_after": 0.01},
                {"match": "good 0004", "kind": "reset"},
                {"match": "good 0005", "kind": "malformed"},
                # A server (or proxy) that echoes the key in its error message.
                {"match": "good 0006", "kind": "400", "text": f"invalid key {SECRET}"},
                {"match": "good 0007", "kind": "500", "text": f"upstream said {SECRET}"},
            ]
        )
        specs = (
            h.specs(9, model="good", prefix="good")
            + h.specs(2, model="wrong", prefix="wrong")
            + h.specs(2, model="dead", prefix="dead")
        )
        eng = h.engine(store, models)
        eng.preflight(["good", "wrong"])
        s = eng.run_sync(specs, h.Out)
        eng.run_sync(specs, h.Out)  # re-run: the failed cells are tried again
        reqs = srv.requests()
        secrets = [r["auth"] for r in reqs]

    # The test is not vacuous: the key did travel, and failures of each kind happened.
    assert f"Bearer {SECRET}" in secrets and f"Bearer {WRONG}" in secrets
    assert s.failures["http_401"] == 2 and s.failures["connection"] == 3
    assert s.failures["server"] == 2 and s.failures["http_400"] == 1
    assert s.unparsed == 1 and s.done == 3

    needles = [SECRET.encode(), WRONG.encode()]
    for name, blob in _store_bytes(store.path).items():
        for needle in needles:
            assert needle not in blob, f"key found in {name}"
    # The echoed key was replaced, not dropped with the rest of the message.
    msgs = [r["error_message"] or "" for r in h.rows(store)]
    assert any("[redacted]" in m for m in msgs)
    store.close()
    for name, blob in _store_bytes(store.path).items():
        for needle in needles:
            assert needle not in blob, f"key found in {name} after close"
    for p in (tmp_path / "run").iterdir():
        for needle in needles:
            assert needle not in p.read_bytes(), f"key found in {p.name}"

    assert caplog.records, "DEBUG logging was captured"
    for rec in caplog.records:
        text = f"{rec.getMessage()} {rec.args!r} {rec.exc_text or ''}"
        assert SECRET not in text and WRONG not in text, rec.name
    assert SECRET not in caplog.text and WRONG not in caplog.text
    out, err = capfd.readouterr()
    assert SECRET not in out + err and WRONG not in out + err
