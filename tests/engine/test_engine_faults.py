"""Infrastructure faults (429, 5xx, timeouts, resets, bad bodies) and bad model output.

Every assertion on timing uses the server's own request timestamps, never the test's wall-clock.
"""

from __future__ import annotations

import itertools
import json

from crisiseval.testing.mockserver import messages_digest


def _one(h, srv, store, rules, *, prefix="item", output=True, **limits):
    """Run one cell ("<prefix> 0000") under ``rules``; return (result, its server requests)."""
    srv.set_rules(rules)
    eng = h.engine(store, {"m": h.model(srv, limits=h.limits(**limits))})
    s = eng.run_sync(h.specs(1, prefix=prefix), h.Out if output else None)
    (res,) = eng.results(s.keys).values()
    return res, s, srv.requests()


def test_429_retry_after_is_honoured(srv, store, h) -> None:
    res, _s, reqs = _one(
        h, srv, store, [{"kind": "429", "times": 1, "retry_after": 0.4}], max_retries=3
    )
    assert [r["outcome"] for r in reqs] == ["429", "ok"]
    # The back-off base is 10 ms: only Retry-After explains a gap this long.
    assert reqs[1]["t"] - reqs[0]["t"] >= 0.4
    assert res.status == "done" and res.parsed is not None
    (row,) = h.rows(store)
    assert row["attempts"] == 2


def test_429_twice_then_success(srv, store, h) -> None:
    res, _, reqs = _one(
        h, srv, store, [{"kind": "429", "times": 2, "retry_after": 0.2}], max_retries=2
    )
    assert [r["outcome"] for r in reqs] == ["429", "429", "ok"]
    assert all(b["t"] - a["t"] >= 0.2 for a, b in itertools.pairwise(reqs))
    assert res.status == "done"


def test_429_beyond_budget_fails_as_rate_limit(srv, store, h) -> None:
    res, s, reqs = _one(h, srv, store, [{"kind": "429", "retry_after": 0.01}], max_retries=1)
    assert len(reqs) == 2
    assert (res.status, res.error_kind, res.parsed) == ("failed", "rate_limit", None)
    assert s.failures == {"rate_limit": 1}


def test_500_is_retried_boundedly_then_failed(srv, store, h) -> None:
    k = 3
    res, s, reqs = _one(h, srv, store, [{"kind": "500"}], max_retries=k)
    assert len(reqs) == k + 1
    assert (res.status, res.error_kind, res.parsed) == ("failed", "server", None)
    assert "500" in (res.error_message or "")
    assert s.failed == 1 and s.done == 0
    (row,) = h.rows(store)
    assert row["attempts"] == k + 1 and row["parsed"] is None


def test_503_with_zero_retries_is_one_request(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "503"}], max_retries=0)
    assert len(reqs) == 1
    assert (res.status, res.error_kind) == ("failed", "server")


def test_rerun_retries_failed_cells(srv, store, h) -> None:
    # Three 503s exhaust a budget of two retries; the next run succeeds with one more request.
    models = {"m": h.model(srv, limits=h.limits(max_retries=2))}
    srv.set_rules([{"match": "item 0001", "kind": "503", "times": 3}])
    specs = h.specs(3)
    s1 = h.engine(store, models).run_sync(specs, h.Out)
    assert (s1.done, s1.failed) == (2, 1)
    assert len(srv.requests()) == 2 + 3
    eng = h.engine(store, models)
    s2 = eng.run_sync(specs, h.Out)
    assert (s2.cached, s2.done, s2.failed) == (2, 1, 0)
    assert len(srv.requests()) == 2 + 3 + 1
    res = eng.results(s2.keys)
    assert all(r.status == "done" and r.error_kind is None for r in res.values())
    row = next(r for r in h.rows(store) if r["item_id"] == "item-1")
    assert row["attempts"] == 4  # attempts accumulate across runs


def test_non_retryable_http_error_is_not_retried(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "400", "text": "bad request"}], max_retries=3)
    assert len(reqs) == 1
    assert (res.status, res.error_kind) == ("failed", "http_400")


def test_timeout_fails_after_bounded_retries(srv, store, h) -> None:
    res, _, reqs = _one(
        h, srv, store, [{"kind": "timeout", "delay": 1.0}], timeout_s=0.3, max_retries=1
    )
    assert len(reqs) == 2
    assert (res.status, res.error_kind, res.parsed) == ("failed", "timeout", None)


def test_timeout_once_then_success(srv, store, h) -> None:
    res, _, reqs = _one(
        h, srv, store, [{"kind": "timeout", "delay": 1.0, "times": 1}], timeout_s=0.3, max_retries=2
    )
    assert [r["outcome"] for r in reqs] == ["timeout", "ok"]
    assert res.status == "done"


def test_connection_reset_is_retried(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "reset", "times": 2}], max_retries=3)
    assert [r["outcome"] for r in reqs] == ["reset", "reset", "ok"]
    assert res.status == "done" and res.parsed is not None


def test_connection_reset_beyond_budget(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "reset"}], max_retries=1)
    assert len(reqs) == 2
    assert (res.status, res.error_kind) == ("failed", "connection")


def test_malformed_body_is_retried(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "malformed", "times": 2}], max_retries=3)
    assert [r["outcome"] for r in reqs] == ["malformed", "malformed", "ok"]
    assert res.status == "done" and res.parsed is not None


def test_truncated_body_is_retried(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "truncated", "times": 2}], max_retries=3)
    assert [r["outcome"] for r in reqs] == ["truncated", "truncated", "ok"]
    assert res.status == "done" and res.parsed is not None


def test_bad_bodies_beyond_budget_fail_never_parse(srv, store, h) -> None:
    # A body that is not JSON is a bad response; a body cut short is a broken connection.
    for kind, error_kind in (("malformed", "bad_response"), ("truncated", "connection")):
        srv.reset()
        res, _, reqs = _one(h, srv, store, [{"kind": kind}], prefix=kind, max_retries=1)
        assert len(reqs) == 2, kind
        assert (res.status, res.error_kind, res.parsed) == ("failed", error_kind, None), kind


def test_non_json_reply_is_reasked_then_unparsed_with_raw_text(srv, store, h) -> None:
    raw = "I am not able to answer in JSON, sorry."
    res, s, reqs = _one(h, srv, store, [{"kind": "reply", "text": raw}], reasks=2)
    assert len(reqs) == 3  # the first ask and two re-asks
    assert len({r["digest"] for r in reqs}) == 3  # each re-ask carries the failed reply
    assert (res.status, res.error_kind, res.parsed) == ("unparsed", "invalid_output", None)
    assert res.text == raw
    assert s.unparsed == 1
    (row,) = h.rows(store)
    assert row["response_text"] == raw and row["attempts"] == 3
    # Tokens of every ask are counted.
    assert row["tokens_in"] > 0 and row["tokens_out"] > 0


def test_first_ask_sends_the_stored_messages(srv, store, h) -> None:
    _one(h, srv, store, [{"kind": "reply", "text": "no json here"}], reasks=1)
    (row,) = h.rows(store)
    reqs = srv.requests()
    # The first ask is exactly the cell's messages; the re-ask is a longer conversation.
    assert reqs[0]["digest"] == messages_digest(json.loads(row["request"])["messages"])
    assert reqs[1]["digest"] != reqs[0]["digest"]


def test_zero_reasks_is_one_request(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "reply", "text": "nope"}], reasks=0)
    assert len(reqs) == 1 and res.status == "unparsed"


def test_reply_failing_schema_validation_is_unparsed(srv, store, h) -> None:
    bad = json.dumps({"label": "x", "score": 9})  # score must be 1..5
    res, _, reqs = _one(h, srv, store, [{"kind": "reply", "text": bad}], reasks=1)
    assert len(reqs) == 2
    assert (res.status, res.parsed, res.text) == ("unparsed", None, bad)
    assert "score" in (res.error_message or "")


def test_reask_can_recover(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [{"kind": "reply", "text": "oops", "times": 1}], reasks=2)
    assert len(reqs) == 2
    assert res.status == "done" and res.parsed is not None


def test_code_fenced_json_parses(srv, store, h) -> None:
    text = '```json\n{"label": "ok", "score": 4}\n```'
    res, _, reqs = _one(h, srv, store, [{"kind": "reply", "text": text}])
    assert len(reqs) == 1
    assert res.status == "done" and res.parsed == {"label": "ok", "score": 4}
    assert res.text == text


def test_json_with_surrounding_prose_parses(srv, store, h) -> None:
    text = 'Sure! Here it is: {"label": "ok", "score": 2} Hope that helps.'
    res, _, _ = _one(h, srv, store, [{"kind": "reply", "text": text}])
    assert res.status == "done" and res.parsed == {"label": "ok", "score": 2}


def test_unparsed_cells_are_cached(srv, store, h) -> None:
    models = {"m": h.model(srv, limits=h.limits(reasks=0))}
    srv.set_rules([{"kind": "reply", "text": "not json"}])
    s1 = h.engine(store, models).run_sync(h.specs(2), h.Out)
    assert s1.unparsed == 2 and len(srv.requests()) == 2
    s2 = h.engine(store, models).run_sync(h.specs(2), h.Out)
    assert s2.cached == 2 and len(srv.requests()) == 2


def test_plain_text_without_schema_is_done(srv, store, h) -> None:
    res, _, reqs = _one(h, srv, store, [], output=False)
    assert len(reqs) == 1 and reqs[0]["response_format"] is None
    assert res.status == "done" and res.parsed is None
    assert res.text and res.text.startswith("Mock answer")


def test_json_schema_is_requested_by_default(srv, store, h) -> None:
    _, _, reqs = _one(h, srv, store, [])
    assert [r["response_format"] for r in reqs] == ["json_schema"]


def test_structured_output_falls_back_to_json_object(store, h) -> None:
    from crisiseval.testing.mockserver import MockServer

    with MockServer(reject_json_schema=True) as srv:
        eng = h.engine(store, {"m": h.model(srv, limits=h.limits(concurrency=2, max_retries=0))})
        s = eng.run_sync(h.specs(6), h.Out)
        reqs = srv.requests()
    assert s.done == 6 and s.failed == 0
    kinds = [r["response_format"] for r in reqs]
    assert kinds.count("json_object") == 6
    # Only the calls in flight before the fallback tried json_schema; all were refused.
    assert 1 <= kinds.count("json_schema") <= 2
    assert all(
        r["outcome"] == "rejected_json_schema"
        for r in reqs
        if r["response_format"] == "json_schema"
    )
    assert all(r.status == "done" and r.parsed for r in eng.results(s.keys).values())
    # The refusal was not counted as a retry (max_retries=0 and yet done).
    assert all(row["attempts"] == 1 for row in h.rows(store))


def test_explicit_json_schema_mode_does_not_fall_back(store, h) -> None:
    from crisiseval.testing.mockserver import MockServer

    with MockServer(reject_json_schema=True) as srv:
        model = h.model(srv, limits=h.limits(max_retries=1), structured_output="json_schema")
        eng = h.engine(store, {"m": model})
        s = eng.run_sync(h.specs(1), h.Out)
        reqs = srv.requests()
    assert [r["response_format"] for r in reqs] == ["json_schema", "json_schema"]
    (res,) = eng.results(s.keys).values()
    assert (res.status, res.error_kind) == ("failed", "server")


def test_prompt_mode_puts_schema_in_the_prompt(srv, store, h) -> None:
    eng = h.engine(store, {"m": h.model(srv, structured_output="prompt")})
    srv.set_rules([{"kind": "reply", "text": '{"label": "a", "score": 1}'}])
    s = eng.run_sync(h.specs(1), h.Out)
    (req,) = srv.requests()
    assert req["response_format"] is None
    (res,) = eng.results(s.keys).values()
    assert res.status == "done"
    # What was sent is not the stored messages (the schema was appended to the last turn) ...
    (row,) = h.rows(store)
    assert req["digest"] != messages_digest(json.loads(row["request"])["messages"])


def test_many_faults_in_one_batch(srv, store, h) -> None:
    srv.set_rules(
        [
            {"match": "item 0001", "kind": "429", "times": 1, "retry_after": 0.05},
            {"match": "item 0002", "kind": "500"},
            {"match": "item 0003", "kind": "reset", "times": 1},
            {"match": "item 0004", "kind": "malformed", "times": 1},
            {"match": "item 0005", "kind": "truncated", "times": 1},
            {"match": "item 0006", "kind": "reply", "text": "not json"},
        ]
    )
    eng = h.engine(store, {"m": h.model(srv, limits=h.limits(max_retries=2, reasks=1))})
    s = eng.run_sync(h.specs(8), h.Out)
    assert (s.total, s.done, s.unparsed, s.failed) == (8, 6, 1, 1)
    assert s.failures == {"server": 1}
    assert s.pending == 0
    by_item = {r.item_id: r for r in eng.results(s.keys).values()}
    assert by_item["item-2"].status == "failed" and by_item["item-2"].error_kind == "server"
    assert by_item["item-6"].status == "unparsed"
    statuses = {r["status"] for r in h.rows(store)}
    assert statuses <= {"done", "failed", "unparsed"}
