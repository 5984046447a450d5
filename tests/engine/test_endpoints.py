"""The OpenAI-compatible endpoint's own reading of a chat completion body, and how SDK errors
from the aiohttp transport become failure kinds (the loopback tests cover the same paths end to
end: tests/engine/test_engine_faults.py)."""

from __future__ import annotations

import json

import aiohttp
import httpx
import openai
import pytest

from crisiseval.engine.endpoints import InfraError, parse_chat_completion, sdk_error


def body(**over: object) -> bytes:
    data: dict[str, object] = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    data.update(over)
    return json.dumps(data).encode()


def test_a_chat_completion_gives_its_text_tokens_and_finish_reason() -> None:
    c = parse_chat_completion(body())
    assert (c.text, c.tokens_in, c.tokens_out, c.finish_reason) == ("hi", 12, 3, "stop")


def test_null_content_is_empty_text_and_missing_usage_counts_nothing() -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": None}
    c = parse_chat_completion(body(choices=[choice], usage=None))
    assert (c.text, c.tokens_in, c.tokens_out, c.finish_reason) == ("", 0, 0, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html>gateway</html>", "malformed response body"),
        (body(choices=[]), "no choices"),
        (body(choices="nope"), "malformed response body"),
        (b"[1, 2]", "malformed response body"),
        (body(choices=[{"message": {"content": ["a", "list"]}}]), "not text"),
    ],
)
def test_a_body_that_is_not_a_chat_completion_is_a_bad_response(raw: bytes, message: str) -> None:
    with pytest.raises(InfraError) as info:
        parse_chat_completion(raw)
    assert info.value.kind == "bad_response" and info.value.retryable
    assert message in info.value.message


def _timeout_caused_by(cause: BaseException) -> openai.APITimeoutError:
    """What the SDK raises when its aiohttp transport fails: APITimeoutError <- httpx <- aiohttp."""
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    exc = openai.APITimeoutError(request=request)  # type: ignore[arg-type]
    middle = RuntimeError("ConnectTimeout")
    middle.__cause__ = cause
    exc.__cause__ = middle
    return exc


def test_a_dropped_connection_is_a_connection_failure_not_a_timeout() -> None:
    dropped = _timeout_caused_by(aiohttp.ServerDisconnectedError())
    assert sdk_error(dropped, "sk-secret", 30.0).kind == "connection"
    reset = _timeout_caused_by(ConnectionResetError(104, "Connection reset by peer"))
    assert sdk_error(reset, None, 30.0).kind == "connection"


def test_a_real_timeout_stays_a_timeout() -> None:
    slow = _timeout_caused_by(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))
    err = sdk_error(slow, None, 7.0)
    assert (err.kind, err.message) == ("timeout", "timed out after 7.0s")
    assert sdk_error(_timeout_caused_by(TimeoutError()), None, 7.0).kind == "timeout"
