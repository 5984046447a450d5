"""The loopback fake of Anthropic's Messages and Message Batches APIs, driven through the official
``anthropic`` SDK: replies, the body and header checks, scripted faults, and batches from creation
to their typed results (succeeded, errored, expired, canceled, left out)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel, Field

from crisiseval.testing.anthropic_messages import SCHEMA_MARKER
from crisiseval.testing.anthropicserver import AnthropicServer, Plan

KEY = "sk-ant-fake"
MODEL = "claude-fake-1"


class Verdict(BaseModel):
    label: str
    score: int = Field(ge=1, le=5)
    ok: bool


@pytest.fixture
def srv() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=KEY) as server:
        yield server


def _client(srv: AnthropicServer, key: str = KEY, **kw: Any) -> Any:
    return anthropic.AsyncAnthropic(base_url=srv.base_url, api_key=key, max_retries=0, **kw)


def _params(text: str, **kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **kw,
    }


def _req(custom_id: str, text: str) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": _params(text)}


# ---------------------------------------------------------------------- POST /v1/messages
async def test_message_round_trip() -> None:
    with AnthropicServer(api_key=KEY, replies={"scripted": "A scripted answer."}) as srv:
        client = _client(srv)
        msg = await client.messages.create(
            model=MODEL,
            max_tokens=100,
            system="You are terse.",
            messages=[{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
        )
        assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL
        assert msg.id.startswith("msg_fake")
        assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
        text = msg.content[0].text
        assert text.startswith("Fake ") and text.endswith(".")
        joined = "You are terse.\nHello there"
        assert msg.usage.input_tokens == len(joined) // 4
        assert msg.usage.output_tokens == len(text) // 4
        assert msg._request_id and msg._request_id.startswith("req_fake")

        # the system text takes part in matching scripted replies
        msg = await client.messages.create(
            model=MODEL,
            max_tokens=100,
            system="a scripted system prompt",
            messages=[{"role": "user", "content": "anything"}],
        )
        assert msg.content[0].text == "A scripted answer."
        assert [b["messages"][0]["content"] for b in srv.requests()][1] == "anything"
        assert len(srv.requests()) == 2
        assert all(e["auth"] for e in srv.log())


async def test_schema_in_prompt_and_cut_off(srv: AnthropicServer) -> None:
    client = _client(srv)
    schema = json.dumps(Verdict.model_json_schema())
    prompt = f"Rate this. Answer with one JSON object that {SCHEMA_MARKER}{schema}"
    msg = await client.messages.create(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    assert msg.stop_reason == "end_turn"
    verdict = Verdict.model_validate_json(msg.content[0].text)
    assert 1 <= verdict.score <= 5

    # the same request with a tiny budget: cut to max_tokens * 4 characters
    msg = await client.messages.create(
        model=MODEL, max_tokens=2, messages=[{"role": "user", "content": prompt}]
    )
    assert msg.stop_reason == "max_tokens"
    assert len(msg.content[0].text) == 8
    with pytest.raises(ValueError):
        json.loads(msg.content[0].text)


async def test_body_checks(srv: AnthropicServer) -> None:
    client = _client(srv)
    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "hi"},
            ],
        )
    assert err.value.status_code == 400
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "system" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"stop": ["\n"]},
        )
    assert "stop_sequences" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"response_format": {"type": "json_object"}},
        )
    assert "response_format" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await client.messages.create(
            model=MODEL, max_tokens=0, messages=[{"role": "user", "content": "hi"}]
        )


async def test_auth_and_version_headers(srv: AnthropicServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as err:
        await _client(srv, key="sk-wrong").messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.status_code == 401
    assert err.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    no_version = _client(srv, default_headers={"anthropic-version": anthropic.Omit()})
    with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
        await no_version.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    # the key also goes through as an x-api-key header (the SDK itself sends a bearer token)
    by_header = _client(
        srv, key="sk-unused", default_headers={"Authorization": anthropic.Omit(), "x-api-key": KEY}
    )
    msg = await by_header.messages.create(
        model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.type == "message"
    log = srv.log()
    assert [e["path"] for e in log] == ["/v1/messages"] * 3
    assert [(e["bearer"], e["x_api_key"]) for e in log] == [(True, False)] * 2 + [(False, True)]


async def test_fail_next(srv: AnthropicServer) -> None:
    client = _client(srv)
    srv.fail_next(1, status=429, retry_after=7)
    srv.fail_next(1, status=529)
    with pytest.raises(anthropic.RateLimitError) as rate:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "one"}]
        )
    assert rate.value.response.headers["retry-after"] == "7"
    assert rate.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.APIStatusError) as over:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "two"}]
        )
    assert over.value.status_code == 529
    assert isinstance(over.value, anthropic.InternalServerError)
    assert over.value.body["error"]["type"] == "overloaded_error"
    msg = await client.messages.create(
        model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "three"}]
    )
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert [b["messages"][0]["content"] for b in srv.requests()] == ["one", "two", "three"]


# ---------------------------------------------------------------------- batches
async def _results(client: Any, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result async for r in await client.messages.batches.results(batch_id)}


async def test_batch_lifecycle(srv: AnthropicServer) -> None:
    client = _client(srv)
    srv.script(Plan(polls=2, fail=["boom"], fail_type="overloaded_error", replies={"hi": "Hey."}))
    batch = await client.messages.batches.create(
        requests=[_req("a-1", "say hi"), _req("b_2", "boom goes this"), _req("c3", "plain")]
    )
    assert batch.id == "msgbatch_fake00001" and srv.created() == [batch.id]
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 3
    assert (batch.expires_at - batch.created_at).total_seconds() == 86_400
    assert batch.ended_at is None and batch.cancel_initiated_at is None
    assert srv.custom_ids(batch.id) == ["a-1", "b_2", "c3"]
    assert srv.batch_requests(batch.id)[2]["params"]["messages"][0]["content"] == "plain"

    with pytest.raises(anthropic.NotFoundError):  # no results before it ends
        await client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)

    states = [(await client.messages.batches.retrieve(batch.id)).processing_status for _ in "abc"]
    assert states == ["in_progress", "in_progress", "ended"]
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.ended_at is not None
    assert ended.results_url == f"{srv.base_url}/v1/messages/batches/{batch.id}/results"
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 2, 1)

    lines = [r async for r in await client.messages.batches.results(batch.id)]
    assert [r.custom_id for r in lines] == ["c3", "b_2", "a-1"]  # not the input order
    by_id = {r.custom_id: r.result for r in lines}
    assert by_id["a-1"].type == "succeeded"
    assert by_id["a-1"].message.content[0].text == "Hey."
    assert by_id["c3"].message.content[0].text.startswith("Fake ")
    assert by_id["c3"].message.usage.output_tokens >= 1
    assert by_id["b_2"].type == "errored"
    assert by_id["b_2"].error.error.type == "overloaded_error"
    assert srv.polls(batch.id) == 5  # three polls, the retrieve above and results()' own


async def test_batch_expired_canceled_and_omitted(srv: AnthropicServer) -> None:
    client = _client(srv)
    srv.script(
        Plan(polls=0, outcome="expired", missing=["late"], omit=["lost"]),
        Plan(polls=0, outcome="canceled"),
    )
    reqs = [_req("x1", "on time"), _req("x2", "late one"), _req("x3", "lost one")]
    first = await client.messages.batches.create(requests=reqs)
    second = await client.messages.batches.create(requests=reqs[:2])
    one = await client.messages.batches.retrieve(first.id)
    assert one.processing_status == "ended"
    assert (one.request_counts.succeeded, one.request_counts.expired) == (1, 1)
    assert sum(dict(one.request_counts).values()) == 2  # the omitted request is nowhere
    results = await _results(client, first.id)
    assert sorted(results) == ["x1", "x2"]
    assert results["x1"].type == "succeeded" and results["x2"].type == "expired"

    two = await client.messages.batches.retrieve(second.id)
    assert two.cancel_initiated_at is not None and two.request_counts.canceled == 2
    assert {r.type for r in (await _results(client, second.id)).values()} == {"canceled"}


async def test_batch_cancel(srv: AnthropicServer) -> None:
    client = _client(srv)
    srv.default.polls = 10**6  # until canceled
    batch = await client.messages.batches.create(requests=[_req("k1", "a"), _req("k2", "b")])
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "in_progress"
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.canceled == 2
    assert {r.type for r in (await _results(client, batch.id)).values()} == {"canceled"}
    assert srv.batch(batch.id)["processing_status"] == "ended"

    held = await client.messages.batches.create(requests=[_req("k1", "a")])
    assert (await client.messages.batches.retrieve(held.id)).processing_status == "in_progress"
    srv.release()
    released = await client.messages.batches.retrieve(held.id)
    assert released.processing_status == "ended" and released.request_counts.succeeded == 1
    assert released.cancel_initiated_at is None


async def test_refused_batch_and_unknown_id(srv: AnthropicServer) -> None:
    client = _client(srv)
    with pytest.raises(anthropic.BadRequestError, match=r"requests\.1\.custom_id") as err:
        await client.messages.batches.create(requests=[_req("ok", "a"), _req("not ok!", "b")])
    assert err.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError, match=r"requests\.1\.custom_id"):
        await client.messages.batches.create(requests=[_req("same", "a"), _req("same", "b")])
    assert srv.created() == []

    # Bad params do not refuse the batch: that request ends errored when the batch runs.
    srv.script(Plan(polls=0))
    bad_params = {"custom_id": "p", "params": _params("x", seed=1)}
    batch = await client.messages.batches.create(requests=[bad_params, _req("fine", "y")])
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
    results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
    assert results["fine"].type == "succeeded"
    assert results["p"].type == "errored"
    assert results["p"].error.error.type == "invalid_request_error"
    assert "seed" in results["p"].error.error.message

    with pytest.raises(anthropic.NotFoundError) as err404:
        await client.messages.batches.retrieve("msgbatch_nope")
    assert err404.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.cancel("msgbatch_nope")
