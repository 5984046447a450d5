"""Cells: one model call each, identified by a content hash of everything that shapes its answer."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any


def _messages(value: Any) -> list[dict[str, str]]:
    """Chat messages, checked and kept as the same list: the runs of a call (and the judges of
    an answer) share one list, which the engine encodes once."""
    if not isinstance(value, list):
        raise ValueError("messages must be a list of dicts of strings (role, content)")
    for m in value:
        if not isinstance(m, dict):
            raise ValueError("messages must be a list of dicts of strings (role, content)")
        for k, v in m.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("messages must be a list of dicts of strings (role, content)")
    return value


@dataclass(slots=True, kw_only=True)
class CallSpec:
    """What a stage asks the engine to call. ``context`` is stored, not hashed.

    A plain dataclass that checks its fields: a stage makes one per call (127,512 for the
    study's full shape), and a pydantic model cost ten times as much to build on every resume.
    """

    role: str
    model: str
    messages: list[dict[str, str]]
    run_index: int = 0
    prompt_version: str = "v1"
    item_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _messages(self.messages)
        if not isinstance(self.role, str) or not isinstance(self.model, str):
            raise ValueError("role and model must be strings")
        if not isinstance(self.prompt_version, str):
            raise ValueError("prompt_version must be a string")
        if type(self.run_index) is not int or self.run_index < 0:
            raise ValueError("run_index must be an integer from 0")
        if self.item_id is not None and not isinstance(self.item_id, str):
            raise ValueError("item_id must be a string or None")
        if not isinstance(self.context, dict):
            raise ValueError("context must be a dict")

    def replace(self, **changes: Any) -> CallSpec:
        """A copy with ``changes`` (checked like a new spec)."""
        return dataclasses.replace(self, **changes)


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
    """:func:`cell_key` for the many specs of one run, byte for byte the same keys, with each
    distinct message list (the runs of a call and the judges of an answer send the same one)
    encoded and hashed once: the canonical JSON of an object with sorted keys is its parts'
    canonical JSON joined in key order, and the endpoint and messages come first, so the hash
    of that prefix is computed once and copied for each run."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self._schema = _canonical(schema)
        self._params: dict[int, tuple[dict[str, Any], str]] = {}
        # (id of the list, endpoint) -> (the list, the hash of the prefix): the list is held so
        # that its id is not reused meanwhile.
        self._prefixes: dict[tuple[int, str], tuple[list[dict[str, str]], Any]] = {}
        # (id of params, prompt version, role, run) -> the encoded rest of the object after the
        # messages: a stage has a handful.
        self._rests: dict[tuple[int, str, str, int], bytes] = {}

    def key(self, spec: CallSpec, *, endpoint: str, params: dict[str, Any]) -> str:
        held = self._prefixes.get((id(spec.messages), endpoint))
        if held is None or held[0] is not spec.messages:
            if len(self._prefixes) >= 64:  # stages emit the specs of one list together
                self._prefixes.clear()
            prefix = '{"endpoint":' + _canonical(endpoint) + ',"messages":'
            prefix += _canonical(spec.messages)
            held = (spec.messages, hashlib.sha256(prefix.encode("utf-8")))
            self._prefixes[(id(spec.messages), endpoint)] = held
        encoded_params = self._params.get(id(params))
        if encoded_params is None or encoded_params[0] is not params:
            encoded_params = self._params[id(params)] = (params, _canonical(params))
            self._rests.clear()  # keyed by the id of a params dict that may be gone
        tail = (id(params), spec.prompt_version, spec.role, spec.run_index)
        rest = self._rests.get(tail)
        if rest is None:
            rest = self._rests[tail] = (
                ',"params":' + encoded_params[1]
                + ',"prompt_version":' + _canonical(spec.prompt_version)
                + ',"role":' + _canonical(spec.role) + ',"run":' + str(int(spec.run_index))
                + ',"schema":' + self._schema + "}"
            ).encode("utf-8")  # fmt: skip
        digest = held[1].copy()
        digest.update(rest)
        return str(digest.hexdigest())


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
