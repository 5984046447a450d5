"""Cells: one model call each, identified by a content hash of everything that shapes its answer."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CallSpec(BaseModel):
    """What a stage asks the engine to call. ``context`` is stored, not hashed."""

    model_config = ConfigDict(frozen=False)

    role: str
    model: str
    messages: list[dict[str, str]]
    run_index: int = 0
    prompt_version: str = "v1"
    item_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


def cell_key(
    spec: CallSpec,
    *,
    endpoint: str,
    params: dict[str, Any],
    schema: dict[str, Any] | None,
) -> str:
    """Content address of a call: role, endpoint identity, messages, params, run, prompt version.

    The model's config name is not part of it (renaming a model in the YAML keeps the cache), the
    endpoint identity is (provider, base URL or GGUF hash, model id). The run index makes "3 runs"
    three cells even at temperature 0.
    """
    blob = json.dumps(
        {
            "role": spec.role,
            "endpoint": endpoint,
            "messages": spec.messages,
            "params": params,
            "schema": schema,
            "run": spec.run_index,
            "prompt_version": spec.prompt_version,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class CellKeys:
    """:func:`cell_key` for the many specs of one run, byte for byte the same keys, with the JSON
    of each message list encoded once (the runs of a call and the judges of an answer share one
    list) and each model's fixed parts once: the canonical JSON of an object with sorted keys is
    its parts' canonical JSON joined in key order."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self._schema = _canonical(schema)
        self._models: dict[tuple[str, str], tuple[str, str]] = {}
        self._messages: dict[int, tuple[list[dict[str, str]], str]] = {}

    def key(self, spec: CallSpec, *, endpoint: str, params: dict[str, Any]) -> str:
        fixed = self._models.get((spec.model, endpoint))
        if fixed is None:
            fixed = (_canonical(endpoint), _canonical(params))
            self._models[(spec.model, endpoint)] = fixed
        held = self._messages.get(id(spec.messages))
        if held is None or held[0] is not spec.messages:
            held = (spec.messages, _canonical(spec.messages))
            self._messages[id(spec.messages)] = held
        blob = (
            '{"endpoint":' + fixed[0] + ',"messages":' + held[1] + ',"params":' + fixed[1]
            + ',"prompt_version":' + _canonical(spec.prompt_version)
            + ',"role":' + _canonical(spec.role) + ',"run":' + str(int(spec.run_index))
            + ',"schema":' + self._schema + "}"
        )  # fmt: skip
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON object in a model's reply: unwraps a code fence, else takes the outermost {...}."""
    m = _FENCE.match(text)
    if m:
        return m.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        return text[start : end + 1]
    return text


# Output budget assumed when a model's params set no max_tokens (estimates, TPM, local calls).
DEFAULT_MAX_TOKENS = 512


def max_tokens_of(params: dict[str, Any]) -> int:
    value = params.get("max_tokens") or params.get("max_completion_tokens")
    return int(value) if value else DEFAULT_MAX_TOKENS


def estimate_tokens(text: str) -> int:
    """A provider-neutral estimate (about four characters a token for English text)."""
    return max(1, (len(text) + 3) // 4)


def messages_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content", "")) + 4 for m in messages)
