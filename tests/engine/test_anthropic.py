"""``provider: anthropic``: the Messages API one call at a time and as message batches, through
the real ``anthropic`` SDK against the loopback fake (:mod:`crisiseval.testing.anthropicserver`).
``kill -9`` while a message batch is polled, then the resume: ``test_batch_restart.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from crisiseval.config import ModelConfig, Price, endpoint_identity, parse_study
from crisiseval.engine.anthropic import OPENING, messages_request, parse_message
from crisiseval.engine.cells import DEFAULT_MAX_TOKENS
from crisiseval.engine.endpoints import InfraError
from crisiseval.errors import ConfigError
from crisiseval.store import Store
from crisiseval.testing.anthropicserver import AnthropicServer, Plan

KEY_ENV = "CRISISEVAL_ANTHROPIC_TEST_KEY"
KEY = "sk-ant-dummy-0000-secret"
N_RESTART = 10


@pytest.fixture
def asrv(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with AnthropicServer(api_key=KEY) as server:
        yield server


def _model(srv: AnthropicServer, h: Any, **kw: Any) -> ModelConfig:
    base: dict[str, Any] = {
        "provider": "anthropic",
        "base_url": srv.base_url,
        "model": "claude-fake",
        "api_key_env": KEY_ENV,
        "limits": h.limits(),
    }
    base.update(kw)
    return ModelConfig(**base)


def _batch(srv: AnthropicServer, h: Any, **kw: Any) -> ModelConfig:
    return _model(srv, h, batch=True, batch_poll_s=0.02, **kw)


def _dump(store: Store) -> str:
    return json.dumps(store.cells.rows(), default=str)


# ---------------------------------------------------------------------------- translation
def test_a_request_is_translated_to_the_messages_api() -> None:
    messages = [
        {"role": "system", "content": "Be kind."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "again"},
    ]
    body = messages_request("claude-x", messages, {"temperature": 0, "stop": "END", "seed": 3})
    assert body == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,  # required by the Messages API: the engine's default
        "system": "Be kind.\n\nBe brief.",
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "again"},
        ],
        "temperature": 0,
        "stop_sequences": ["END"],
    }
    no_system = messages_request("m", [{"role": "user", "content": "x"}], {"max_tokens": 50})
    assert "system" not in no_system and no_system["max_tokens"] == 50
    assert messages_request("m", messages[2:3], {"max_completion_tokens": 9})["max_tokens"] == 9


def test_a_conversation_is_put_in_the_shape_the_api_takes() -> None:
    # An empty reply asked again: the empty turn is left out, the two user turns joined.
    reask = [
        {"role": "user", "content": "Label this."},
        {"role": "assistant", "content": "  "},
        {"role": "user", "content": "That was not JSON."},
    ]
    assert messages_request("m", reask, {})["messages"] == [
        {"role": "user", "content": "Label this.\n\nThat was not JSON."}
    ]
    # A simulated user sees its own opening as the assistant's: the user goes first.
    sim = [
        {"role": "system", "content": "You play a person."},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "hello, how can I help?"},
    ]
    assert messages_request("m", sim, {})["messages"] == [
        {"role": "user", "content": OPENING},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "hello, how can I help?"},
    ]


def test_a_reply_is_read_from_its_text_blocks() -> None:
    comp = parse_message(
        {
            "content": [
                {"type": "thinking", "thinking": "hidden"},
                {"type": "text", "text": "Hello "},
                {"type": "text", "text": "there."},
            ],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 3},
            "stop_reason": "max_tokens",
        }
    )
    assert (comp.text, comp.tokens_in, comp.tokens_out) == ("Hello there.", 15, 3)
    assert comp.finish_reason == "length"  # what the output parser reads as "cut off"
    for bad in ({"usage": {}}, {"content": None}, "text", None):
        with pytest.raises(InfraError) as err:
            parse_message(bad)
        assert err.value.kind == "bad_response"


def test_the_config_of_an_anthropic_model() -> None:
    cfg = ModelConfig(provider="anthropic", model="claude-x", api_key_env="K")
    assert cfg.base_url == "https://api.anthropic.com"
    assert endpoint_identity(cfg) == "anthropic:https://api.anthropic.com:claude-x"
    assert endpoint_identity(cfg) != endpoint_identity(
        ModelConfig(base_url="https://api.anthropic.com", model="claude-x")
    )
    assert ModelConfig(provider="anthropic", model="c", batch=True).batch
    # Anthropic's own API always needs a key: its usual variable unless one is named.
    assert ModelConfig(provider="anthropic", model="c").api_key_env == "ANTHROPIC_API_KEY"
    local = ModelConfig(provider="anthropic", model="c", base_url="http://127.0.0.1:9")
    assert local.api_key_env is None
    assert ModelConfig(provider="anthropic", model="c", params={"temperature": 1}).params
    cases = [
        ({"provider": "anthropic"}, "needs model"),
        ({"provider": "anthropic", "model": "c", "params": {"n": 2}}, "params.n: not a param"),
        ({"provider": "anthropic", "model": "c", "params": {"tools": []}}, "params.tools: not"),
        ({"provider": "anthropic", "model": "c", "params": {"temperature": 1.5}}, "0 to 1"),
        ({"provider": "anthropic", "model": "c", "params": {"top_p": True}}, "0 to 1"),
        (
            {"provider": "anthropic", "model": "c", "base_url": "https://api.anthropic.com/v1"},
            "ends with /v1",
        ),
        (
            {"provider": "anthropic", "model": "c", "structured_output": "json_schema"},
            "asked for JSON in the prompt",
        ),
        (
            {"provider": "anthropic", "model": "c", "kind": "guard", "guard_format": "yes-no"},
            "kind: guard needs an OpenAI-compatible endpoint",
        ),
        ({"provider": "anthropic", "model": "c", "kind": "moderation"}, "kind: moderation"),
    ]
    for spec, message in cases:
        with pytest.raises(ConfigError, match=message):
            parse_study({"models": {"a": spec}})


# ---------------------------------------------------------------------------- one call at a time
def test_calls_go_through_the_messages_api(asrv: AnthropicServer, store: Store, h: Any) -> None:
    specs = h.specs(5)
    specs[0].messages.insert(0, {"role": "system", "content": "You label things."})
    s = h.engine(store, {"m": _model(asrv, h)}).run_sync(specs, h.Out)
    assert (s.done, s.failed, s.unparsed) == (5, 0, 0)
    rows = store.cells.rows()
    assert all(json.loads(r["parsed"])["score"] in range(1, 6) for r in rows)
    assert all(r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in rows)
    sent = asrv.requests()
    assert len(sent) == 5
    # The schema is asked for in the prompt; the system message goes in `system`.
    assert all("JSON schema" in b["messages"][-1]["content"] for b in sent)
    assert [b.get("system") for b in sent].count("You label things.") == 1
    assert all(e["auth"] for e in asrv.log())  # the key on every request
    assert KEY not in _dump(store)

    # A second run sends nothing: every cell is in the store.
    again = h.engine(store, {"m": _model(asrv, h)}).run_sync(specs, h.Out)
    assert (again.cached, len(asrv.requests())) == (5, 5)


def test_rate_limits_and_overload_are_retried_not_counted(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.fail_next(2, status=429, retry_after=0)
    asrv.fail_next(1, status=529)
    s = h.engine(store, {"m": _model(asrv, h, limits=h.limits(concurrency=1))}).run_sync(
        h.specs(2), h.Out
    )
    assert (s.done, s.failed) == (2, 0)
    assert sum(r["attempts"] for r in store.cells.rows()) == 5


def test_a_refused_request_fails_its_cell_with_the_reason(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.fail_next(1, status=400)
    s = h.engine(store, {"m": _model(asrv, h, limits=h.limits(concurrency=1))}).run_sync(
        h.specs(1), h.Out
    )
    assert (s.done, s.failed) == (0, 1)
    (row,) = store.cells.rows()
    assert row["error_kind"] == "http_400" and "invalid_request_error" in row["error_message"]
    assert KEY not in row["error_message"]


def test_a_reply_that_is_not_the_schema_is_reasked_then_unparsed(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.replies["item 0000"] = "I cannot answer in JSON."
    s = h.engine(store, {"m": _model(asrv, h)}).run_sync(h.specs(2), h.Out)
    assert (s.done, s.unparsed, s.failed) == (1, 1, 0)
    bad = next(r for r in store.cells.rows() if r["status"] == "unparsed")
    assert bad["response_text"] == "I cannot answer in JSON."


def test_an_empty_reply_is_asked_again_and_ends_unparsed_not_failed(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    # The API refuses an empty turn: the re-ask must leave it out, not fail with HTTP 400.
    asrv.replies["item 0000"] = ""
    s = h.engine(store, {"m": _model(asrv, h)}).run_sync(h.specs(1), h.Out)
    assert (s.done, s.unparsed, s.failed) == (0, 1, 0)
    (row,) = store.cells.rows()
    assert row["response_text"] == "" and row["error_kind"] == "invalid_output"
    reasks = asrv.requests()[1:]
    assert reasks and all(b["messages"][-1]["role"] == "user" for b in reasks)
    assert all(m["content"].strip() for b in reasks for m in b["messages"])


def test_a_missing_key_is_one_line_before_any_call(
    asrv: AnthropicServer, store: Store, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=f"{KEY_ENV} \\(api_key_env\\) is not set"):
        h.engine(store, {"m": _model(asrv, h)}).run_sync(h.specs(1), h.Out)
    assert asrv.requests() == []


# ---------------------------------------------------------------------------- message batches
def test_a_message_batch_completes(asrv: AnthropicServer, store: Store, h: Any) -> None:
    asrv.script(Plan(polls=2))
    price = Price(input_per_m=1_000_000, output_per_m=1_000_000)  # $1 a token: easy sums
    eng = h.engine(store, {"m": _batch(asrv, h, price=price)})
    s = eng.run_sync(h.specs(6), h.Out)
    assert (s.done, s.failed, s.unparsed, s.pending, s.submitted) == (6, 0, 0, 0, 0)
    (bid,) = asrv.created()
    rows = store.cells.rows()
    assert sorted(asrv.custom_ids(bid)) == sorted(r["key"] for r in rows)
    assert {r["batch_id"] for r in rows} == {bid}
    assert asrv.requests() == []  # nothing went one call at a time
    params = asrv.batch_requests(bid)[0]["params"]
    assert params["model"] == "claude-fake" and "JSON schema" in params["messages"][-1]["content"]
    # Half the list price: the batch discount.
    for r in rows:
        assert r["cost_usd"] == pytest.approx((r["tokens_in"] + r["tokens_out"]) * 0.5)
    assert [(b.batch_id, b.state) for b in store.cells.batches()] == [(bid, "completed")]
    assert KEY not in _dump(store)


def test_errored_requests_fail_and_only_they_are_sent_again(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.script(Plan(fail=["item 0001", "item 0003"], fail_type="overloaded_error"))
    models = {"m": _batch(asrv, h)}
    s = h.engine(store, models).run_sync(h.specs(5), h.Out)
    assert (s.done, s.failed) == (3, 2)
    failed = [r for r in store.cells.rows() if r["status"] == "failed"]
    assert {r["error_kind"] for r in failed} == {"server"}
    assert all("overloaded_error" in r["error_message"] for r in failed)

    again = h.engine(store, models).run_sync(h.specs(5), h.Out)
    assert (again.done, again.cached) == (2, 3)
    assert len(asrv.custom_ids(asrv.created()[1])) == 2


def test_expired_requests_are_submitted_again_in_a_new_batch(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.script(Plan(outcome="expired", missing=["item 0002"]), Plan())
    s = h.engine(store, {"m": _batch(asrv, h)}).run_sync(h.specs(4), h.Out)
    assert (s.done, s.failed) == (4, 0)
    first, second = asrv.created()
    assert len(asrv.custom_ids(first)) == 4 and len(asrv.custom_ids(second)) == 1
    states = {b.batch_id: b.state for b in store.cells.batches()}
    assert states == {first: "expired", second: "completed"}


def test_a_result_the_provider_left_out_is_asked_again(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.script(Plan(omit=["item 0000"]), Plan())
    s = h.engine(store, {"m": _batch(asrv, h)}).run_sync(h.specs(3), h.Out)
    assert (s.done, s.failed) == (3, 0)
    assert [len(asrv.custom_ids(b)) for b in asrv.created()] == [3, 1]


def test_a_cancelled_batch_ends_its_unrun_cells_failed(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.script(Plan(outcome="canceled", missing=["item 0000", "item 0001"]))
    s = h.engine(store, {"m": _batch(asrv, h)}).run_sync(h.specs(3), h.Out)
    assert (s.done, s.failed) == (1, 2)
    failed = [r for r in store.cells.rows() if r["status"] == "failed"]
    assert {r["error_kind"] for r in failed} == {"batch_cancelled"}
    assert [b.state for b in store.cells.batches()] == ["cancelled"]


def test_a_batch_reply_that_is_not_the_schema_is_unparsed(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    asrv.script(Plan(replies={"item 0001": "no JSON here"}))
    s = h.engine(store, {"m": _batch(asrv, h)}).run_sync(h.specs(2), h.Out)
    assert (s.done, s.unparsed, s.failed) == (1, 1, 0)
    bad = next(r for r in store.cells.rows() if r["status"] == "unparsed")
    assert bad["response_text"] == "no JSON here" and bad["error_kind"] == "invalid_output"


def test_a_batch_sends_the_params_by_their_messages_api_names(
    asrv: AnthropicServer, store: Store, h: Any
) -> None:
    # The fake refuses a body with the chat-completions `stop`: it must come as stop_sequences.
    model = _batch(asrv, h, params={"top_k": 5, "metadata": {"user_id": "x"}, "stop": "END"})
    s = h.engine(store, {"m": model}).run_sync(h.specs(2), h.Out)
    assert s.done == 2
    req = asrv.batch_requests(asrv.created()[0])[0]["params"]
    assert req["stop_sequences"] == ["END"] and "stop" not in req and req["top_k"] == 5
