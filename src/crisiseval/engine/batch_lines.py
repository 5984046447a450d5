"""What goes into a provider batch file: one chat-completions request a line, split into files
the provider accepts, and the price of a call in a batch (:mod:`crisiseval.engine.batch` runs
them)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Final

from crisiseval.config import ModelConfig, Price
from crisiseval.engine.sender import PROMPT_MODE_TEMPLATE

CHAT_ENDPOINT: Final = "/v1/chat/completions"
MAX_LINES = 50_000
"""Requests in one batch (OpenAI's limit)."""
MAX_BYTES = 190 * 1024 * 1024
"""Bytes of one input file (OpenAI takes up to 200 MB)."""


def batch_price(cfg: ModelConfig, list_price: Price | None) -> Price | None:
    """The price of a call in a batch: ``batch_price`` if given, else the list price less
    ``batch_discount`` (default 0.5: half price, as providers charge); None without either."""
    if cfg.batch_price is not None:
        return cfg.batch_price
    if list_price is None:
        return None
    share = 1.0 - cfg.batch_discount
    return Price(
        input_per_m=list_price.input_per_m * share, output_per_m=list_price.output_per_m * share
    )


def request_body(
    cfg: ModelConfig,
    messages: Sequence[dict[str, str]],
    params: dict[str, Any],
    schema: dict[str, Any] | None,
    schema_name: str,
) -> dict[str, Any]:
    """The chat-completions body of one batch line: what the synchronous path sends, with the
    structured output as ``json_schema`` (unless the model sets ``structured_output``)."""
    mode = "json_schema" if cfg.structured_output == "auto" else cfg.structured_output
    sent = [dict(m) for m in messages]
    body: dict[str, Any] = {"model": cfg.model, "messages": sent}
    body.update((k, v) for k, v in params.items() if k not in body)
    if schema is not None:
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": False},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif sent:
            sent[-1]["content"] = sent[-1].get("content", "") + PROMPT_MODE_TEMPLATE.format(
                schema=json.dumps(schema, separators=(",", ":"))
            )
    return body


def jsonl_chunks(
    lines: Sequence[tuple[str, bytes]], *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[list[str], bytes]]:
    """(keys, file content) of each batch file: ``lines`` are (key, one JSON line) in order."""
    keys: list[str] = []
    parts: list[bytes] = []
    size = 0
    for key, line in lines:
        if keys and (len(keys) >= max_lines or size + len(line) + 1 > max_bytes):
            yield keys, b"\n".join(parts) + b"\n"
            keys, parts, size = [], [], 0
        keys.append(key)
        parts.append(line)
        size += len(line) + 1
    if keys:
        yield keys, b"\n".join(parts) + b"\n"
