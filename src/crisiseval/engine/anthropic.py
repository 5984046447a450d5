"""Anthropic's Messages API (``provider: anthropic``), through the official ``anthropic`` SDK (the
optional extra ``crisiseval[anthropic]``).

The engine speaks OpenAI-style chat messages; this module translates them: system messages become
the request's ``system`` text, the model's ``params`` their Messages API names (``stop`` →
``stop_sequences``; ``max_tokens`` is required there and defaults as for every model), and a
reply's text blocks, token counts and stop reason come back as a :class:`Completion`. The Messages
API has no response format: a structured output is asked for in the prompt (the sender's
``prompt`` mode) and validated (and re-asked) like any other reply.

:class:`AnthropicEndpoint` sends one call at a time; :mod:`crisiseval.engine.batch` sends the same
requests as message batches when the model sets ``batch: true``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from crisiseval.config import ModelConfig, endpoint_identity
from crisiseval.engine.cells import max_tokens_of
from crisiseval.engine.endpoints import (
    Completion,
    InfraError,
    StructuredMode,
    api_key,
    sdk_error,
)
from crisiseval.errors import ConfigError

MESSAGES_PATH = "/v1/messages"
OPENING = "(The conversation starts.)"
"""The first user turn of a conversation that starts with the assistant (the API wants the user
first): a simulated user that opened the conversation sees its own first words as the
assistant's."""

# A chat-completions parameter and its Messages API name (the others are sent as they are).
_RENAMED = {"stop": "stop_sequences", "max_completion_tokens": "max_tokens"}
# Never sent: the seed is for local models, and the Messages API has none.
_DROPPED = frozenset({"seed"})

# A reply's stop reason in the chat-completions vocabulary the engine reads.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def sdk() -> Any:
    """The ``anthropic`` module, or a one-line error naming the extra to install."""
    try:
        import anthropic
    except ImportError as exc:
        raise ConfigError(
            "provider: anthropic needs the anthropic SDK: pip install 'crisiseval[anthropic]'"
        ) from exc
    return anthropic


def messages_request(
    model: str, messages: Sequence[dict[str, str]], params: dict[str, Any]
) -> dict[str, Any]:
    """The Messages API body of one call: ``model``, ``max_tokens``, ``system`` (the system
    messages' text, joined by blank lines) and the conversation as the API takes it:

    * a turn with no text (an empty reply asked again, an empty answer in a conversation's
      history) is left out: the API refuses empty text, and an empty turn says nothing;
    * turns of the same role that then follow each other are joined by a blank line (what the
      API does with them anyway);
    * a conversation that does not start with the user (a simulated user's view of a
      conversation it opened) starts with :data:`OPENING`.
    """
    system = [m.get("content", "") for m in messages if m.get("role") == "system"]
    turns: list[dict[str, str]] = []
    for m in messages:
        role, content = m.get("role", ""), m.get("content", "")
        if role == "system" or not content.strip():
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": f"{turns[-1]['content']}\n\n{content}"}
        else:
            turns.append({"role": role, "content": content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": OPENING})
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens_of(params)}
    if system:
        body["system"] = "\n\n".join(system)
    body["messages"] = turns
    for key, value in params.items():
        if key in _DROPPED or key in ("max_tokens", "max_completion_tokens"):
            continue
        name = _RENAMED.get(key, key)
        if name == "stop_sequences" and isinstance(value, str):
            value = [value]
        body[name] = value
    return body


def parse_message(data: Any) -> Completion:
    """A Messages API reply (a ``message`` object) as a :class:`Completion`; anything else is a
    ``bad_response`` (an infrastructure failure)."""
    try:
        blocks = data["content"]
        text = "".join(
            b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
        )
        usage = data.get("usage") or {}
        tokens_in = sum(
            int(usage.get(k) or 0)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        tokens_out = int(usage.get("output_tokens") or 0)
        stop = data.get("stop_reason")
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        head = json.dumps(data)[:200] if isinstance(data, dict | list) else str(data)[:200]
        raise InfraError(
            "bad_response", f"malformed message: {type(exc).__name__}: {head}"
        ) from exc
    if not isinstance(text, str):
        raise InfraError("bad_response", "the message's content is not text")
    return Completion(
        text=text,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        finish_reason=_FINISH.get(stop, stop) if isinstance(stop, str) else None,
    )


def api_error(exc: Exception, key: str | None, timeout_s: float) -> InfraError:
    """The :class:`InfraError` of an exception from the anthropic SDK (its error types are the
    openai SDK's: the same mapping, 529 overloaded as server trouble)."""
    return sdk_error(exc, key, timeout_s, sdk())


class AnthropicEndpoint:
    """A model behind Anthropic's Messages API, one ``POST /v1/messages`` a call."""

    def __init__(self, name: str, cfg: ModelConfig) -> None:
        sdk()  # a missing extra is a config error before any call
        self.name = name
        self.cfg = cfg
        self.identity = endpoint_identity(cfg)
        self._key = api_key(name, cfg)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The SDK client, made at the first call; the key lives in it and nowhere else. The
        SDK's own retries are off: the engine's are bounded and honour Retry-After."""
        if self._client is None:
            self._client = sdk().AsyncAnthropic(
                api_key=self._key,
                base_url=self.cfg.base_url,
                timeout=self.cfg.limits.timeout_s,
                max_retries=0,
            )
        return self._client

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:
        anthropic = sdk()
        body = messages_request(self.cfg.model, messages, params)
        try:
            # The SDK's generic POST (its auth, version header, timeout and error types); the
            # reply is read by :func:`parse_message`, as a batch's replies are.
            raw = await self.client.post(MESSAGES_PATH, cast_to=bytes, body=body)
        except (anthropic.AnthropicError, ValueError) as exc:
            raise api_error(exc, self._key, self.cfg.limits.timeout_s) from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            head = raw[:200].decode("utf-8", "replace")
            raise InfraError("bad_response", f"the reply is not JSON: {head}") from exc
        return parse_message(data)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
        self._client = None
