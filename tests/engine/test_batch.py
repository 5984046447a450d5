"""The batch backend against the loopback fake of the files and batches API: completion, per-line
failures, replies that do not validate, expiry, cancellation, waiting, cost and progress."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from crisiseval.config import ModelConfig, Price
from crisiseval.engine import batch as batch_mod
from crisiseval.engine.batch_lines import batch_price, jsonl_chunks, request_body
from crisiseval.errors import ConfigError
from crisiseval.store import Store
from crisiseval.testing.batchserver import BatchServer, Plan
from crisiseval.testing.mockserver import MockServer

FAST = {"batch_poll_s": 0.02}


@pytest.fixture
def bsrv() -> Iterator[BatchServer]:
    with BatchServer() as server:
        yield server


def _model(srv: BatchServer, h: Any, **kw: Any) -> ModelConfig:
    base: dict[str, Any] = {"batch": True, **FAST}
    base.update(kw)
    return h.model(srv, **base)


def _by_item(store: Store) -> dict[str, dict[str, Any]]:
    return {r["item_id"]: r for r in store.cells.rows()}


def test_a_batch_completes(bsrv, store, h) -> None:
    bsrv.script(Plan(polls=3))
    eng = h.engine(store, {"m": _model(bsrv, h)})
    specs = h.specs(6)
    s = eng.run_sync(specs, h.Out)
    assert (s.done, s.failed, s.unparsed, s.pending, s.submitted) == (6, 0, 0, 0, 0)

    # One upload and one batch, through the files and batches API.
    assert len(bsrv.created()) == 1
    (bid,) = bsrv.created()
    calls = [(e["method"], e["path"]) for e in bsrv.log()]
    assert calls.count(("POST", "/v1/files")) == 1 and calls.count(("POST", "/v1/batches")) == 1
    assert bsrv.polls(bid) == 4  # 3 answered in_progress, then completed
    # The lines: custom_id = the cell key, the chat body with the json_schema response format.
    rows = store.cells.rows()
    lines = bsrv.lines(bid)
    assert sorted(bsrv.custom_ids(bid)) == sorted(r["key"] for r in rows)
    for line in lines:
        body = line["body"]
        assert line["url"] == "/v1/chat/completions" and body["model"] == "mock"
        rf = body["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Out"
        assert rf["json_schema"]["schema"] == h.Out.model_json_schema()
    # Every cell done, validated, and pointing to its batch; the batch is recorded completed.
    for r in rows:
        assert r["status"] == "done" and r["batch_id"] == bid and r["attempts"] == 1
        assert json.loads(r["parsed"])["score"] in range(1, 6)
        assert r["tokens_in"] > 0 and r["tokens_out"] > 0
    (rec,) = store.cells.batches()
    assert (rec.batch_id, rec.state, rec.n_cells, rec.model) == (bid, "completed", 6, "m")
    assert rec.input_file_id and rec.output_file_id and rec.error_file_id is None
    assert store.cells.batches(open_only=True) == []

    # A second run sends nothing: every cell is cached.
    again = eng.run_sync(specs, h.Out)
    assert again.cached == 6 and len(bsrv.created()) == 1


def test_per_line_errors_fail_their_cells_and_a_rerun_resubmits_only_them(bsrv, store, h) -> None:
    bsrv.script(Plan(fail=["item 0001", "item 0004"], fail_status=500), Plan())
    eng = h.engine(store, {"m": _model(bsrv, h)})
    specs = h.specs(6)
    s = eng.run_sync(specs, h.Out)
    assert (s.done, s.failed, s.unparsed) == (4, 2, 0)
    assert s.failures == {"server": 2} and s.retryable_failures == 2
    rows = _by_item(store)
    for item in ("item-1", "item-4"):
        r = rows[item]
        assert r["status"] == "failed" and r["error_kind"] == "server"
        assert r["error_message"] == "HTTP 500: fake line failure 500"
        assert r["response_text"] is None and r["parsed"] is None
    # An error line is an infrastructure failure: the batch did complete.
    assert [b.state for b in store.cells.batches()] == ["completed"]

    failed_keys = {rows["item-1"]["key"], rows["item-4"]["key"]}
    again = eng.run_sync(specs, h.Out)
    assert (again.cached, again.done, again.failed) == (4, 2, 0)
    first, second = bsrv.created()
    assert set(bsrv.custom_ids(second)) == failed_keys
    assert all(r["status"] == "done" for r in store.cells.rows())
    assert {r["batch_id"] for r in store.cells.rows()} == {first, second}


def test_a_client_error_line_keeps_its_status(bsrv, store, h) -> None:
    bsrv.script(Plan(fail=["item 0000"], fail_status=400, fail_message="context too long"))
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(2), h.Out)
    assert s.failures == {"http_400": 1} and s.retryable_failures == 0
    r = _by_item(store)["item-0"]
    assert (r["error_kind"], r["error_message"]) == ("http_400", "HTTP 400: context too long")


def test_a_reply_that_does_not_validate_is_unparsed_not_reasked(bsrv, store, h) -> None:
    bsrv.script(Plan(replies={"item 0002": "I cannot answer in JSON."}))
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(3), h.Out)
    assert (s.done, s.unparsed, s.failed) == (2, 1, 0)
    r = _by_item(store)["item-2"]
    assert r["status"] == "unparsed" and r["response_text"] == "I cannot answer in JSON."
    assert r["error_kind"] == "invalid_output" and r["parsed"] is None
    assert r["attempts"] == 1 and len(bsrv.created()) == 1  # no re-ask: no second batch


@pytest.mark.parametrize("missing_as", ["error", "absent"])
def test_an_expired_batch_resubmits_only_the_missing_lines(bsrv, store, h, missing_as) -> None:
    bsrv.script(
        Plan(status="expired", polls=1, missing=["item 0002", "item 0005"], missing_as=missing_as),
        Plan(),
    )
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(6), h.Out)
    assert (s.done, s.failed, s.pending, s.submitted) == (6, 0, 0, 0)
    first, second = bsrv.created()
    rows = _by_item(store)
    assert set(bsrv.custom_ids(second)) == {rows["item-2"]["key"], rows["item-5"]["key"]}
    assert {r["item_id"] for r in rows.values() if r["batch_id"] == second} == {"item-2", "item-5"}
    states = {b.batch_id: b.state for b in store.cells.batches()}
    assert states == {first: "expired", second: "completed"}


def test_lines_still_missing_after_the_resubmissions_fail(bsrv, store, h, monkeypatch) -> None:
    monkeypatch.setattr(batch_mod, "RESUBMITS", 1)
    bsrv.script(
        Plan(status="expired", missing=["item 0001"]),
        Plan(status="expired", missing=["item 0001"]),
        Plan(),
    )
    eng = h.engine(store, {"m": _model(bsrv, h)})
    s = eng.run_sync(h.specs(3), h.Out)
    assert (s.done, s.failed) == (2, 1) and s.failures == {"batch_expired": 1}
    assert len(bsrv.created()) == 2
    r = _by_item(store)["item-1"]
    assert r["status"] == "failed" and "expired" in r["error_message"]
    # A failed cell is sent again by the next run, as always.
    again = eng.run_sync(h.specs(3), h.Out)
    assert again.done == 1 and len(bsrv.created()) == 3


def test_a_cancelled_batch_fails_what_did_not_run(bsrv, store, h) -> None:
    bsrv.script(Plan(status="cancelled", missing=["item 0000", "item 0003"]), Plan())
    eng = h.engine(store, {"m": _model(bsrv, h)})
    s = eng.run_sync(h.specs(4), h.Out)
    assert (s.done, s.failed) == (2, 2) and s.failures == {"batch_cancelled": 2}
    assert len(bsrv.created()) == 1  # a cancellation is the user's: not resubmitted in the run
    again = eng.run_sync(h.specs(4), h.Out)
    assert again.done == 2 and len(bsrv.custom_ids(bsrv.created()[1])) == 2


def test_a_failed_batch_fails_its_cells_with_the_reason(bsrv, store, h) -> None:
    bsrv.script(Plan(status="failed", error="model mock is not available in batches"))
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(3), h.Out)
    assert s.failed == 3 and s.failures == {"batch_failed": 3}
    for r in store.cells.rows():
        assert "model mock is not available in batches" in r["error_message"]
    (rec,) = store.cells.batches()
    assert rec.state == "failed" and "not available" in (rec.error or "")


def test_a_server_without_a_batch_api_fails_the_cells(srv: MockServer, store, h) -> None:
    model = h.model(srv, batch=True, **FAST)
    s = h.engine(store, {"m": model}).run_sync(h.specs(2), h.Out)
    assert s.failed == 2 and s.failures == {"http_404": 2}
    assert all(r["error_message"].startswith("batch submission: HTTP 404") for r in h.rows(store))
    assert srv.requests() == []  # nothing went to chat completions


def test_a_run_waits_at_most_batch_max_wait_s_then_the_next_resumes(bsrv, store, h) -> None:
    bsrv.script(Plan(polls=10**9))
    eng = h.engine(store, {"m": _model(bsrv, h, batch_max_wait_s=0.3)})
    specs = h.specs(4)
    s = eng.run_sync(specs, h.Out)
    assert (s.submitted, s.pending, s.done) == (4, 0, 0)
    assert "4 in open batches" in s.line()
    (bid,) = bsrv.created()
    assert {r["status"] for r in store.cells.rows()} == {"submitted"}
    assert [b.batch_id for b in store.cells.batches(open_only=True)] == [bid]
    assert store.cells.batches()[0].state == "in_progress"

    bsrv.release()
    again = h.engine(store, {"m": _model(bsrv, h)}).run_sync(specs, h.Out)  # no time limit
    assert (again.done, again.submitted) == (4, 0)
    assert bsrv.created() == [bid]  # polled again, never resubmitted
    assert all(r["status"] == "done" and r["batch_id"] == bid for r in store.cells.rows())


def test_cost_is_counted_at_batch_prices(bsrv, store, h) -> None:
    listed = Price(input_per_m=2.0, output_per_m=8.0)
    models = {
        "half": _model(bsrv, h, price=listed),  # default: 50% off the list price
        "quarter": _model(bsrv, h, price=listed, batch_discount=0.25),
        "own": _model(bsrv, h, price=listed, batch_price=Price(input_per_m=1.5, output_per_m=3)),
        "sync": h.model(bsrv, price=listed),  # not a batch model: the list price
    }
    eng = h.engine(store, models)
    assert eng.price("half") == Price(input_per_m=1.0, output_per_m=4.0)
    assert eng.price("quarter") == Price(input_per_m=1.5, output_per_m=6.0)
    assert eng.price("own") == Price(input_per_m=1.5, output_per_m=3.0)
    assert eng.price("sync") == listed
    specs = [
        *h.specs(3, model="half", prefix="half"),
        *h.specs(3, model="quarter", prefix="quarter"),
        *h.specs(3, model="own", prefix="own"),
    ]
    s = eng.run_sync(specs, h.Out)
    assert s.done == 9
    total = 0.0
    for r in store.cells.rows():
        p = eng.price(r["model"])
        assert p is not None
        want = r["tokens_in"] / 1e6 * p.input_per_m + r["tokens_out"] / 1e6 * p.output_per_m
        assert r["cost_usd"] == pytest.approx(want) and want > 0
        total += want
    assert s.cost_usd == pytest.approx(total)
    # The dry-run estimate uses the batch price too.
    est = eng.estimate(h.specs(2, model="half"))
    half = est.per_model["half"]
    assert est.cost_usd_max == pytest.approx(
        half["tokens_in"] / 1e6 * 1.0 + half["tokens_out_max"] / 1e6 * 4.0
    )


def test_prices_are_optional() -> None:
    cfg = ModelConfig(base_url="http://127.0.0.1:1/v1", model="x", batch=True)
    assert batch_price(cfg, None) is None
    own = Price(input_per_m=1, output_per_m=1)
    assert batch_price(cfg.model_copy(update={"batch_price": own}), None) == own


def test_batch_and_synchronous_models_run_side_by_side(bsrv, srv: MockServer, store, h) -> None:
    models = {"b": _model(bsrv, h), "s": h.model(srv)}
    specs = h.specs(4, model="b", prefix="bat") + h.specs(4, model="s", prefix="syn")
    s = h.engine(store, models).run_sync(specs, h.Out)
    assert (s.done, s.failed) == (8, 0)
    assert len(srv.requests()) == 4 and len(bsrv.lines(bsrv.created()[0])) == 4
    rows = store.cells.rows()
    assert {r["model"] for r in rows if r["batch_id"]} == {"b"}


def test_large_runs_are_split_into_several_batches(bsrv, store, h, monkeypatch) -> None:
    monkeypatch.setattr(batch_mod.BatchRun, "max_lines", 3)
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(7), h.Out)
    assert s.done == 7
    assert [len(bsrv.lines(b)) for b in bsrv.created()] == [3, 3, 1]
    assert {b.state for b in store.cells.batches()} == {"completed"}


def test_progress_lines_show_the_batch_state(bsrv, store, h) -> None:
    bsrv.script(Plan(polls=2))
    buf = io.StringIO()
    eng = h.engine(store, {"m": _model(bsrv, h)}, console=Console(file=buf, width=300))
    eng.progress = "lines"
    eng.run_sync(h.specs(3), h.Out, description="classify")
    lines = buf.getvalue().splitlines()
    (bid,) = bsrv.created()
    assert any(f"batch {bid} in_progress 0/3" in ln for ln in lines), lines
    assert any(f"batch {bid} completed 3/3" in ln for ln in lines), lines
    assert lines[-1].startswith("classify: 3/3 calls, 0 failed") and "batch" not in lines[-1]


def test_request_body_matches_the_synchronous_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    msgs = [{"role": "user", "content": "hi"}]
    base = ModelConfig(base_url="http://127.0.0.1:1/v1", model="x", params={"temperature": 0})
    body = request_body(base, msgs, base.params, schema, "A")
    assert body == {
        "model": "x",
        "messages": msgs,
        "temperature": 0,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "A", "schema": schema, "strict": False},
        },
    }
    obj = base.model_copy(update={"structured_output": "json_object"})
    assert request_body(obj, msgs, {}, schema, "A")["response_format"] == {
        "type": "json_object",
        "schema": schema,
    }
    prompt = base.model_copy(update={"structured_output": "prompt"})
    b = request_body(prompt, msgs, {}, schema, "A")
    assert "response_format" not in b and b["messages"][0]["content"].startswith("hi\n\nReply")
    assert msgs == [{"role": "user", "content": "hi"}]  # the caller's messages are untouched
    assert "response_format" not in request_body(base, msgs, {}, None, "A")


def test_jsonl_chunks_respect_lines_and_bytes() -> None:
    lines = [(f"k{i}", b"x" * 10) for i in range(5)]
    assert [k for k, _ in jsonl_chunks(lines, max_lines=2)] == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    chunks = list(jsonl_chunks(lines, max_bytes=25))
    assert [k for k, _ in chunks] == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert all(len(data) <= 25 for _, data in chunks)
    assert chunks[0][1] == b"x" * 10 + b"\n" + b"x" * 10 + b"\n"


def test_batch_needs_a_provider_with_a_batch_api() -> None:
    from crisiseval.config import parse_study

    with pytest.raises(ConfigError, match="batch: true needs a provider with a batch API"):
        parse_study({"models": {"l": {"provider": "llama_cpp", "batch": True}}})
    moderation = {"base_url": "http://127.0.0.1:1/v1", "model": "x", "kind": "moderation"}
    with pytest.raises(ConfigError, match="not kind: moderation"):
        parse_study({"models": {"m": {**moderation, "batch": True}}})


def test_a_batch_cancelled_while_nobody_polled_is_collected_on_resume(bsrv, store, h) -> None:
    import urllib.request

    bsrv.script(Plan(polls=10**9))
    eng = h.engine(store, {"m": _model(bsrv, h, batch_max_wait_s=0.2)})
    assert eng.run_sync(h.specs(3), h.Out).submitted == 3
    (bid,) = bsrv.created()
    req = urllib.request.Request(f"{bsrv.base_url}/batches/{bid}/cancel", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:  # the user cancels it in the console
        assert json.loads(resp.read())["status"] == "cancelling"
    s = h.engine(store, {"m": _model(bsrv, h)}).run_sync(h.specs(3), h.Out)
    assert s.failures == {"batch_cancelled": 3} and bsrv.created() == [bid]
    assert [b.state for b in store.cells.batches()] == ["cancelled"]


def test_a_batch_the_provider_does_not_know_fails_its_cells(bsrv, store, h) -> None:
    bsrv.script(Plan(polls=10**9))
    eng = h.engine(store, {"m": _model(bsrv, h, batch_max_wait_s=0.2)})
    assert eng.run_sync(h.specs(2), h.Out).submitted == 2
    (bid,) = bsrv.created()
    with bsrv.state.lock:
        del bsrv.state.batches[bid]  # e.g. another account's key, or the provider lost it
    eng = h.engine(store, {"m": _model(bsrv, h)})
    s = eng.run_sync(h.specs(2), h.Out)
    assert s.failures == {"batch_failed": 2}
    assert all("does not know" in r["error_message"] for r in store.cells.rows())
    again = eng.run_sync(h.specs(2), h.Out)  # failed cells go out again, in a new batch
    assert again.done == 2 and len(bsrv.created()) == 1 and bsrv.created()[0] != bid
