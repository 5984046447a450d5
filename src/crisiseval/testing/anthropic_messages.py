"""What the fake Anthropic API (:mod:`crisiseval.testing.anthropicserver`) takes and answers: the
check of a Messages body (:func:`check_params`, strict enough to catch a client that forgot to
translate from OpenAI's shape) and the reply to one (:func:`make_message`)."""

from __future__ import annotations

import json
from typing import Any

from crisiseval.testing.mockserver import example_for_schema, messages_digest

SCHEMA_MARKER = "matches this JSON schema, and nothing else:\n"
"""Where a prompt hands over its JSON schema: the rest of the last user message."""

OPENAI_ONLY: dict[str, str] = {
    "response_format": "put the schema in the prompt (or use tools)",
    "seed": "the Messages API has no seed",
    "n": "the Messages API returns one reply per request",
    "frequency_penalty": "the Messages API has no frequency penalty",
    "presence_penalty": "the Messages API has no presence penalty",
    "stop": "send stop sequences as stop_sequences",
}
"""Keys of OpenAI's chat completions body the Messages API refuses, and what to do instead."""


# ---------------------------------------------------------------------- the body check
def _blocks_problem(where: str, blocks: Any, *, allow_empty: bool) -> str | None:
    """Why a content value (a string or a list of text blocks) is refused, or None."""
    if isinstance(blocks, str):
        if not blocks and not allow_empty:
            return f"{where}: text content must be non-empty"
        return None
    if not isinstance(blocks, list):
        return f"{where}: must be a string or a list of content blocks"
    if not blocks and not allow_empty:
        return f"{where}: must be non-empty"
    for j, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text":
            return f"{where}.{j}: this fake takes only text blocks ({{'type': 'text', ...}})"
        if not isinstance(block.get("text"), str):
            return f"{where}.{j}.text: must be a string"
        if not block["text"] and not allow_empty:
            return f"{where}.{j}.text: text content blocks must be non-empty"
    return None


def check_params(body: Any) -> str | None:
    """Why a Messages request body is refused (the message of a 400), or None when it is fine."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for key, hint in OPENAI_ONLY.items():
        if key in body:
            return f"{key}: Extra inputs are not permitted ({key!r} is OpenAI's; {hint})"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required (a non-empty string)"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required (a positive integer)"
    if body.get("stream"):
        return "stream: this fake does not stream"
    for key in ("temperature", "top_p"):
        v = body.get(key)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1
        ):
            return f"{key}: must be a number from 0 to 1"
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        return "stop_sequences: must be a list of strings"
    if "system" in body:
        problem = _blocks_problem("system", body["system"], allow_empty=True)
        if problem:
            return problem
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (a non-empty list)"
    last = len(messages) - 1
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"messages.{i}: must be an object with role and content"
        role = m.get("role")
        if role == "system":
            return (
                f'messages.{i}.role: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: must be 'user' or 'assistant'"
        if "content" not in m:
            return f"messages.{i}.content: Field required"
        final_assistant = i == last and role == "assistant"
        problem = _blocks_problem(
            f"messages.{i}.content", m["content"], allow_empty=final_assistant
        )
        if problem:
            return problem
    return None


# ---------------------------------------------------------------------- the replies
def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and "text" in b
        )
    return ""


def joined_text(params: dict[str, Any]) -> str:
    """The system text and every message's text, one after another (what ``replies``,
    ``fail``, ``missing`` and ``omit`` are matched against)."""
    parts = [_text_of(params["system"])] if params.get("system") else []
    parts += [_text_of(m.get("content")) for m in params.get("messages") or []]
    return "\n".join(parts)


def _schema_in_prompt(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON schema the last user message hands over, if it does."""
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        return None
    text = _text_of(users[-1].get("content"))
    at = text.find(SCHEMA_MARKER)
    if at < 0:
        return None
    try:
        schema, _ = json.JSONDecoder().raw_decode(text[at + len(SCHEMA_MARKER) :].lstrip())
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def make_message(params: dict[str, Any], replies: dict[str, str], msg_id: str) -> dict[str, Any]:
    """The Message the fake answers a (checked) Messages request with."""
    joined = joined_text(params)
    text: str | None = None
    for needle, reply in replies.items():
        if needle in joined:
            text = reply
            break
    if text is None:
        digest = messages_digest(params["messages"])
        schema = _schema_in_prompt(params["messages"])
        text = json.dumps(example_for_schema(schema, digest)) if schema else f"Fake {digest}."
    stop_reason = "end_turn"
    limit = int(params["max_tokens"]) * 4
    if len(text) > limit:
        text, stop_reason = text[:limit], "max_tokens"
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": str(params["model"]),
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(joined) // 4),
            "output_tokens": max(1, len(text) // 4),
        },
    }
