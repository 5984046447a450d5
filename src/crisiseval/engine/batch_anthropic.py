"""Anthropic's message batches: the batch path of a ``provider: anthropic`` model with
``batch: true`` (:class:`~crisiseval.engine.batch.BatchRun` does the submitting, following,
resubmitting and storing; this class speaks the provider's side).

* A batch is one ``POST /v1/messages/batches`` whose requests are the cells' Messages API bodies
  (what :class:`~crisiseval.engine.anthropic.AnthropicEndpoint` sends), ``custom_id`` = the cell
  key (64 hex characters: within the API's limit). No file is uploaded. At most
  :data:`MAX_REQUESTS` requests or :data:`MAX_BYTES` a batch.
* Its ``processing_status`` (``in_progress``, ``canceling``, ``ended``) is polled; an ended
  batch counts as ``cancelled`` if a cancel was asked for, ``expired`` if requests expired, else
  ``completed``.
* Its results (``messages.batches.results``: one line a request, in any order) map back by
  ``custom_id``: ``succeeded`` → the message, validated like a synchronous reply (never
  re-asked); ``errored`` → a failed cell with the error's type and message (an infrastructure
  failure: ``overloaded_error`` and ``api_error`` are server trouble, ``rate_limit_error`` a rate
  limit, ``invalid_request_error`` an HTTP 400); ``expired`` and ``canceled`` requests were never
  run: the shared path submits an expired one again and ends a cancelled one ``failed``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from crisiseval.engine.anthropic import api_error, messages_request, parse_message, sdk
from crisiseval.engine.batch import FILE_TIMEOUT_S, BatchRun, NotFound, Polled
from crisiseval.engine.endpoints import InfraError, api_key
from crisiseval.store import CellOutcome

MAX_REQUESTS = 100_000
"""Requests in one message batch (Anthropic's limit)."""
MAX_BYTES = 200 * 1024 * 1024
"""Bytes of one batch's requests (Anthropic takes up to 256 MB)."""

# An errored request's error type as a failure kind (the names calls use).
_ERROR_KINDS = {
    "invalid_request_error": "http_400",
    "authentication_error": "http_401",
    "billing_error": "http_402",
    "permission_error": "http_403",
    "not_found_error": "http_404",
    "request_too_large": "http_413",
    "rate_limit_error": "rate_limit",
    "timeout_error": "timeout",
    "api_error": "server",
    "overloaded_error": "server",
}
# Result types of requests that never ran: the cell is still to do.
_NOT_RUN = frozenset({"expired", "canceled"})


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of an SDK timestamp (a datetime, or RFC 3339 text)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


class AnthropicBatchRun(BatchRun):
    """The batch path of an Anthropic model in one engine run."""

    max_lines: ClassVar[int] = MAX_REQUESTS
    max_bytes: ClassVar[int] = MAX_BYTES

    def _open_client(self) -> Any:
        key = api_key(self.name, self.cfg)
        self._key = key if self.cfg.api_key_env else ""
        return sdk().AsyncAnthropic(
            api_key=key,
            base_url=self.cfg.base_url,
            timeout=self.cfg.limits.timeout_s,
            max_retries=self.cfg.limits.max_retries,  # the SDK's own back-off, for these few calls
        )

    def _sdk_errors(self) -> tuple[type[Exception], ...]:
        return (sdk().AnthropicError,)

    def _api_error(self, exc: Exception) -> tuple[str, str]:
        err = api_error(exc, self._key, self.cfg.limits.timeout_s)
        return err.kind, err.message

    def _line(self, key: str) -> dict[str, Any]:
        """One request of the batch: the cell's Messages API body, ``custom_id`` its key. The
        output schema is asked for in the prompt, as the synchronous path does."""
        messages = self.specs[key].messages
        if self.parser is not None:
            from crisiseval.engine.sender import PROMPT_MODE_TEMPLATE

            schema = json.dumps(self.parser.schema, separators=(",", ":"))
            messages = [*messages[:-1], dict(messages[-1])]
            messages[-1]["content"] += PROMPT_MODE_TEMPLATE.format(schema=schema)
        return {"custom_id": key, "params": messages_request(self.cfg.model, messages, self.params)}

    async def _send(self, keys: list[str], data: bytes, digest: str) -> tuple[str, str, str | None]:
        requests = [json.loads(raw) for raw in data.splitlines() if raw.strip()]
        # The whole batch in one request (up to MAX_BYTES): a file's time, and never retried by
        # the SDK (the API takes no idempotency key: a retry after a lost reply would create a
        # second batch the store does not know).
        client = self.client.with_options(
            max_retries=0, timeout=max(FILE_TIMEOUT_S, self.cfg.limits.timeout_s)
        )
        batch = await client.messages.batches.create(requests=requests)
        return str(batch.id), _status(batch), None

    async def _poll(self, batch_id: str) -> Polled:
        anthropic = sdk()
        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except anthropic.NotFoundError as exc:
            raise NotFound(self._api_error(exc)[1]) from exc
        status = _status(batch)
        counts = batch.request_counts
        total = done = 0
        if counts is not None:
            done = counts.succeeded + counts.errored + counts.canceled + counts.expired
            total = done + counts.processing
        return Polled(
            batch_id=batch_id,
            status=status,
            shown=f"{batch.processing_status} {done}/{total}",
            created_at=_epoch(batch.created_at),
        )

    async def _lines(self, polled: Polled) -> list[dict[str, Any]]:
        decoder = await self.client.messages.batches.results(polled.batch_id)
        lines: list[dict[str, Any]] = []
        async for item in decoder:
            line = item.model_dump(mode="json") if hasattr(item, "model_dump") else item
            if isinstance(line, dict):
                lines.append(line)
        return lines

    def _outcome(self, key: str, line: dict[str, Any], latency: float) -> CellOutcome | None:
        result = line.get("result")
        kind = result.get("type") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(kind, str):
            return self._failed(key, "bad_response", "a result line without a result type")
        if kind in _NOT_RUN:
            return None
        if kind == "errored":
            outer = result.get("error")
            inner = outer.get("error") if isinstance(outer, dict) else None
            err = inner if isinstance(inner, dict) else outer if isinstance(outer, dict) else {}
            etype = str(err.get("type") or "error")
            return self._failed(
                key, _ERROR_KINDS.get(etype, "batch_error"), f"{etype}: {err.get('message') or ''}"
            )
        if kind != "succeeded":
            return self._failed(key, "bad_response", f"a result of unknown type {kind!r}")
        try:
            comp = parse_message(result.get("message"))
        except InfraError as exc:
            return self._failed(key, exc.kind, exc.message)
        return self._validated(key, comp, latency)


def _status(batch: Any) -> str:
    """A message batch's state in the shared vocabulary (OpenAI's status names)."""
    processing = getattr(batch, "processing_status", None)
    if processing == "in_progress":
        return "in_progress"
    if processing == "canceling":
        return "cancelling"
    if processing != "ended":
        return "in_progress"
    if getattr(batch, "cancel_initiated_at", None) is not None:
        return "cancelled"
    counts = getattr(batch, "request_counts", None)
    if counts is not None and counts.expired:
        return "expired"
    return "completed"
