"""Provider batches: the calls of a model with ``batch: true`` answered by an OpenAI-compatible
batch API (files + batches, through the official ``openai`` SDK) instead of one request each.

For the cells of one :meth:`~crisiseval.engine.runner.Engine.run` (one stage) and one model:

1. The cells to send are written as JSONL, one ``POST /v1/chat/completions`` request a line,
   ``custom_id`` = the cell key, the body the synchronous path would send (model, messages,
   params; the output schema as a ``json_schema`` response format). More than :data:`MAX_LINES`
   lines or :data:`MAX_BYTES` make several batches.
2. The file is uploaded (``files.create(purpose="batch")``) and the batch created
   (``batches.create``, 24 h window). The batch and its cells (``submitted`` with the batch id)
   are written in one transaction: a killed process finds them and polls the same batch again.
3. The batch is polled every ``batch_poll_s`` for at most ``batch_max_wait_s`` in one run (its
   state shows in the progress); past that the run returns and the cells stay submitted.
4. When it ends, its output and error files are downloaded (``files.content``) and each line is
   mapped back by ``custom_id``. A reply is validated like a synchronous one, but a batch cannot
   re-ask: a reply the output parser rejects is ``unparsed`` with its raw text. An error line is
   a ``failed`` cell with its reason: an infrastructure failure, never model behaviour. The
   results, the batch's final state and the return of its cells without a line to ``pending``
   are one transaction.
5. Cells without a line: of an ``expired`` batch (or a ``completed`` one that left lines out)
   only they are submitted again, in a new batch, up to :data:`RESUBMITS` times in one run; of
   a ``cancelled`` or ``failed`` batch they end ``failed`` (``batch_cancelled``,
   ``batch_failed``) and the next run submits them again, as it does every failed cell.

Cost is counted at the batch price (:func:`~crisiseval.engine.batch_lines.batch_price`). The
API key is read from the model's
``api_key_env`` into the SDK client only: never logged, never stored, removed from any error text.

Known window: a process killed after the provider accepted a batch and before the store recorded
it (one HTTP round trip) leaves a batch the store does not know; its cells are submitted again
on the next run. The batch carries ``metadata.source = "crisiseval"`` and the sha256 of its
input file, so it can be found and cancelled in the provider's console.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from crisiseval.config import ModelConfig, Price
from crisiseval.engine.batch_lines import (
    CHAT_ENDPOINT,
    MAX_BYTES,
    MAX_LINES,
    jsonl_chunks,
    request_body,
)
from crisiseval.engine.cells import CallSpec
from crisiseval.engine.cost import cost_usd
from crisiseval.engine.endpoints import Completion, api_key, redact, status_kind
from crisiseval.engine.outputs import OutputError, OutputParser
from crisiseval.engine.progress import BatchProgress
from crisiseval.store import BatchRecord, CellOutcome, Store, now_iso
from crisiseval.store.records import BatchState

if TYPE_CHECKING:
    import openai

log = logging.getLogger("crisiseval.engine")

RESUBMITS = 2
"""How many times one run submits again the lines an expired batch left without a result."""
FILE_TIMEOUT_S = 600.0
"""The least time an upload or a download is given (files can be large)."""

_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
# Error codes of lines that were never run: not failures, the cell is simply still to do.
_NOT_RUN = frozenset({"batch_expired", "batch_cancelled"})
_STATES: dict[str, BatchState] = {
    "validating": "validating",
    "in_progress": "in_progress",
    "finalizing": "finalizing",
    "cancelling": "finalizing",  # on its way to ``cancelled``
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


@dataclass
class Polled:
    """One look at a batch, in the vocabulary of :data:`_STATES` (OpenAI's status names)."""

    batch_id: str
    status: str
    shown: str
    """What the progress shows (the provider's status and how many lines are done)."""
    created_at: float | None = None
    """When the provider created it (seconds since the epoch): the latency of its cells."""
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    """Why the whole batch failed, if it did."""

    @property
    def ended(self) -> bool:
        return self.status in _ENDED


class NotFound(Exception):
    """The provider does not know the batch."""


async def _all(tasks: list[asyncio.Task[None]], more: Awaitable[None] | None = None) -> None:
    """Await ``more`` (which may add tasks), then the tasks; if anything fails or the run is
    cancelled, cancel the tasks and raise."""
    try:
        if more is not None:
            await more
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class BatchRun:
    """The batch path of one model in one engine run.

    ``specs`` are the run's cells of this model (by key) that are not finished: ``pending`` or
    ``failed`` ones are submitted, ``submitted`` ones are followed in the batch that holds them.
    ``on_result`` gets each result of these cells once it is in the store.

    The provider's side is a handful of methods (:meth:`_open_client`, :meth:`_line`,
    :meth:`_send`, :meth:`_poll`, :meth:`_lines`, :meth:`_outcome`, :meth:`_api_error`); this
    class speaks OpenAI's files + batches API, and
    :class:`~crisiseval.engine.batch_anthropic.AnthropicBatchRun` Anthropic's message batches.
    Submitting, following, resubmitting and storing are shared.
    """

    max_lines: ClassVar[int] = MAX_LINES
    max_bytes: ClassVar[int] = MAX_BYTES

    def __init__(
        self,
        *,
        store: Store,
        name: str,
        cfg: ModelConfig,
        identity: str,
        parser: OutputParser | None,
        params: dict[str, Any],
        price: Price | None,
        specs: dict[str, CallSpec],
        progress: BatchProgress,
        on_result: Callable[[CellOutcome], None],
    ) -> None:
        self.store = store
        self.name = name
        self.cfg = cfg
        self.identity = identity
        self.parser = parser
        self.params = params
        self.price = price
        self.specs = specs
        self.progress = progress
        self.on_result = on_result
        self.deadline = time.monotonic() + cfg.batch_max_wait_s
        self._key = ""
        self._client: Any = None

    # ------------------------------------------------------------------ client (provider)
    def _open_client(self) -> openai.AsyncOpenAI:
        """An SDK client for the model's endpoint; the key lives in it and nowhere else."""
        cfg = self.cfg
        key = api_key(self.name, cfg)
        self._key = key if cfg.api_key_env else ""
        import openai  # imported by the commands that call a model, not by every command

        return openai.AsyncOpenAI(
            api_key=key,
            base_url=cfg.base_url,
            timeout=cfg.limits.timeout_s,
            max_retries=cfg.limits.max_retries,  # the SDK's own back-off, for these few calls
        )

    @property
    def client(self) -> Any:
        assert self._client is not None, "BatchRun.run opens the client"
        return self._client

    def _sdk_errors(self) -> tuple[type[Exception], ...]:
        """The exceptions of a failed API call (the provider's SDK's base error)."""
        import openai

        return (openai.OpenAIError,)

    def _api_error(self, exc: Exception) -> tuple[str, str]:
        """(kind, message) of a failed API call, the key removed."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return "timeout", f"timed out after {self.cfg.limits.timeout_s:g}s"
        if isinstance(exc, openai.APIConnectionError):
            return "connection", redact(f"connection error: {exc}", self._key)
        if isinstance(exc, openai.APIStatusError):
            body = redact(str(getattr(exc, "body", "") or exc.message), self._key)[:500]
            return status_kind(exc.status_code), f"HTTP {exc.status_code}: {body}"
        return "bad_response", redact(f"{type(exc).__name__}: {exc}", self._key)[:500]

    # ------------------------------------------------------------------ OpenAI's side
    def _line(self, key: str) -> dict[str, Any]:
        """One input line: the chat-completions request of a cell, ``custom_id`` its key."""
        schema = self.parser.schema if self.parser is not None else None
        schema_name = self.parser.name if self.parser is not None else "output"
        body = request_body(self.cfg, self.specs[key].messages, self.params, schema, schema_name)
        return {"custom_id": key, "method": "POST", "url": CHAT_ENDPOINT, "body": body}

    async def _send(self, keys: list[str], data: bytes, digest: str) -> tuple[str, str, str | None]:
        """Upload one input file and create its batch: (batch id, status, input file id)."""
        upload = await self.client.files.create(
            file=(f"crisiseval-{digest[:16]}.jsonl", data, "application/jsonl"),
            purpose="batch",
            timeout=max(FILE_TIMEOUT_S, self.cfg.limits.timeout_s),
        )
        # Never retried by the SDK: a retry after a reply that was lost could create a second
        # batch the store does not know (and pay twice); a failed creation fails the cells.
        batch = await self.client.with_options(max_retries=0).batches.create(
            input_file_id=upload.id,
            endpoint=CHAT_ENDPOINT,
            completion_window="24h",
            metadata={"source": "crisiseval", "input_sha256": digest},
        )
        return str(batch.id), str(batch.status), str(upload.id)

    async def _poll(self, batch_id: str) -> Polled:
        import openai

        try:
            batch = await self.client.batches.retrieve(batch_id)
        except openai.NotFoundError as exc:
            raise NotFound(self._api_error(exc)[1]) from exc
        counts = batch.request_counts
        done = f" {counts.completed + counts.failed}/{counts.total}" if counts else ""
        error = None
        if batch.errors and batch.errors.data:
            first = batch.errors.data[0]
            error = redact(f"{first.code or 'error'}: {first.message or ''}", self._key)[:500]
        return Polled(
            batch_id=batch_id,
            status=batch.status,
            shown=f"{batch.status}{done}",
            created_at=float(batch.created_at),
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            error=error,
        )

    async def _lines(self, polled: Polled) -> list[dict[str, Any]]:
        """The lines of a finished batch's output file, then its error file."""
        lines: list[dict[str, Any]] = []
        for file_id in (polled.output_file_id, polled.error_file_id):
            if not file_id:
                continue
            content = await self.client.files.content(
                file_id, timeout=max(FILE_TIMEOUT_S, self.cfg.limits.timeout_s)
            )
            lines.extend(self._jsonl(content.text, polled.batch_id))
        return lines

    def _outcome(self, key: str, line: dict[str, Any], latency: float) -> CellOutcome | None:
        """One result line as a cell outcome; None for a line that was never run."""
        response = line.get("response")
        error = line.get("error")
        if isinstance(response, dict) and response.get("status_code") is not None:
            try:
                code = int(response["status_code"])
            except (TypeError, ValueError):
                return self._failed(key, "bad_response", "a result line with a bad status_code")
            body = response.get("body")
            if code == 200:
                if not isinstance(body, dict):
                    return self._failed(key, "bad_response", "HTTP 200 without a JSON body")
                return self._reply(key, body, latency)
            message: Any = body
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                message = body["error"].get("message") or body["error"]
            return self._failed(key, status_kind(code), f"HTTP {code}: {message}")
        if isinstance(error, dict):
            code_text = str(error.get("code") or "error")
            if code_text in _NOT_RUN:
                return None
            return self._failed(key, "batch_error", f"{code_text}: {error.get('message') or ''}")
        return self._failed(key, "bad_response", "a result line with neither response nor error")

    def _reply(self, key: str, body: dict[str, Any], latency: float) -> CellOutcome:
        """A chat completion from a batch."""
        try:
            usage = body.get("usage") or {}
            tin = int(usage.get("prompt_tokens") or 0)
            tout = int(usage.get("completion_tokens") or 0)
            choices = body.get("choices") or []
            if not choices:
                return self._failed(key, "bad_response", "the response had no choices", tin, tout)
            choice = choices[0]
            text = str((choice.get("message") or {}).get("content") or "")
            finish = choice.get("finish_reason")
        except (AttributeError, TypeError, ValueError) as exc:
            return self._failed(key, "bad_response", f"malformed response body: {exc}")
        return self._validated(
            key, Completion(text, tin, tout, finish if isinstance(finish, str) else None), latency
        )

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        held = self.store.cells.batch_of(list(self.specs))
        fresh = [k for k in self.specs if k not in held]
        open_batches: dict[str, int] = {}
        for batch_id in held.values():
            open_batches[batch_id] = open_batches.get(batch_id, 0) + 1
        self._client = self._open_client()
        try:
            tasks = [asyncio.create_task(self._follow(b, n, 0)) for b, n in open_batches.items()]
            if fresh:
                tasks.append(asyncio.create_task(self._submit(fresh, 0)))
            await _all(tasks)
        finally:
            client, self._client = self._client, None
            await client.close()

    async def _submit(self, keys: Sequence[str], rnd: int) -> None:
        lines = []
        for key in keys:
            line = self._line(key)
            blob = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            lines.append((key, blob))
        follow: list[asyncio.Task[None]] = []

        async def create_all() -> None:
            chunks = jsonl_chunks(lines, max_lines=self.max_lines, max_bytes=self.max_bytes)
            for chunk, data in chunks:
                batch_id = await self._create(chunk, data)
                if batch_id is not None:  # polled while the next file uploads
                    follow.append(asyncio.create_task(self._follow(batch_id, len(chunk), rnd)))

        await _all(follow, create_all())

    async def _create(self, keys: list[str], data: bytes) -> str | None:
        """Send one batch; its id, or None when the provider refused (the cells are then
        ``failed`` with the reason)."""
        digest = hashlib.sha256(data).hexdigest()
        try:
            batch_id, status, input_file_id = await self._send(keys, data, digest)
        except self._sdk_errors() as exc:
            kind, message = self._api_error(exc)
            log.warning("model %s: batch not submitted (%s): %s", self.name, kind, message)
            self._record([self._failed(k, kind, f"batch submission: {message}") for k in keys])
            return None
        now = now_iso()
        record = BatchRecord(
            batch_id=batch_id,
            model=self.name,
            endpoint=self.identity,
            state=_STATES.get(status, "submitted"),
            n_cells=len(keys),
            input_file_id=input_file_id,
            created_at=now,
            updated_at=now,
        )
        if record.state in _ENDED:
            record = record.model_copy(update={"state": "submitted"})  # ended: seen when polled
        self.store.cells.submit_batch(record, keys)
        log.info("model %s: batch %s submitted (%d calls)", self.name, batch_id, len(keys))
        self.progress.batch_state(batch_id, f"{status} 0/{len(keys)}")
        return batch_id

    async def _follow(self, batch_id: str, n_cells: int, rnd: int) -> None:
        """Poll one batch until it ends (then collect it) or this run's wait is over."""
        record = self.store.cells.batch(batch_id)
        if record is None:  # cells point to a batch the store lost: follow it all the same
            now = now_iso()
            record = BatchRecord(
                batch_id=batch_id,
                model=self.name,
                endpoint=self.identity,
                state="submitted",
                n_cells=n_cells,
                created_at=now,
                updated_at=now,
            )
        first = True
        while True:
            if not first:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    log.warning(
                        "model %s: batch %s is still %s after %gs (batch_max_wait_s): its cells "
                        "stay submitted; run again to collect them",
                        self.name,
                        batch_id,
                        record.state,
                        self.cfg.batch_max_wait_s,
                    )
                    self.progress.batch_state(batch_id, None)
                    return
                await asyncio.sleep(min(self.cfg.batch_poll_s, left))
            first = False
            try:
                polled = await self._poll(batch_id)
            except NotFound as exc:
                await self._close(record, None, [], f"the provider does not know it ({exc})", rnd)
                return
            except self._sdk_errors() as exc:
                kind, message = self._api_error(exc)
                log.warning(
                    "model %s: batch %s: poll failed (%s): %s", self.name, batch_id, kind, message
                )
                continue
            self.progress.batch_state(batch_id, polled.shown)
            state = _STATES.get(polled.status, "in_progress")
            if not polled.ended:
                if state != record.state:
                    record = record.model_copy(update={"state": state, "updated_at": now_iso()})
                    self.store.cells.save_batch(record)
                continue
            try:
                lines = await self._lines(polled)
            except self._sdk_errors() as exc:
                kind, message = self._api_error(exc)
                log.warning(
                    "model %s: batch %s: results not downloaded (%s): %s; trying again",
                    self.name,
                    batch_id,
                    kind,
                    message,
                )
                continue
            await self._close(record, polled, lines, polled.error, rnd)
            return

    def _jsonl(self, text: str, batch_id: str) -> list[dict[str, Any]]:
        """The JSON objects of a results file (a line that is not one is logged and skipped)."""
        lines: list[dict[str, Any]] = []
        for raw in text.splitlines():
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                log.warning("model %s: batch %s: a result line is not JSON", self.name, batch_id)
                continue
            if isinstance(line, dict):
                lines.append(line)
        return lines

    async def _close(
        self,
        record: BatchRecord,
        polled: Polled | None,
        lines: list[dict[str, Any]],
        error: str | None,
        rnd: int,
    ) -> None:
        """Map a finished batch's lines to its cells, store everything at once, and submit
        again what an expired batch left without a result."""
        status = polled.status if polled is not None else "failed"
        held = self.store.cells.batch_keys(record.batch_id)
        wanted = set(held)
        created = polled.created_at if polled is not None else None
        latency = max(0.0, time.time() - created) if created is not None else 0.0
        outcomes: dict[str, CellOutcome] = {}
        for line in lines:
            key = line.get("custom_id")
            if not isinstance(key, str) or key not in wanted or key in outcomes:
                continue
            outcome = self._outcome(key, line, latency)
            if outcome is not None:
                outcomes[key] = outcome
        answered = len(outcomes)
        missing = [k for k in held if k not in outcomes]
        again: list[str] = []
        if missing:
            if status in ("expired", "completed") and rnd < RESUBMITS:
                again = [k for k in missing if k in self.specs]  # the others go back to pending
            else:
                kind = {
                    "expired": "batch_expired",
                    "completed": "batch_incomplete",
                    "cancelled": "batch_cancelled",
                }.get(status, "batch_failed")
                why = {
                    "expired": f"no result before the batch expired ({rnd + 1} submissions)",
                    "completed": f"the batch completed without this line ({rnd + 1} submissions)",
                    "cancelled": "the batch was cancelled before this request ran",
                }.get(status, f"the batch failed: {error or 'no reason given'}")
                for k in missing:
                    outcomes[k] = self._failed(k, kind, why)
        final = record.model_copy(
            update={
                "state": _STATES.get(status, "failed"),
                "output_file_id": polled.output_file_id if polled is not None else None,
                "error_file_id": polled.error_file_id if polled is not None else None,
                "error": error,
                "updated_at": now_iso(),
            }
        )
        released = self.store.cells.close_batch(final, list(outcomes.values()))
        for o in outcomes.values():
            if o.key in self.specs:
                self.on_result(o)
        self.progress.batch_state(record.batch_id, None)
        log.info(
            "model %s: batch %s %s: %d results, %d without one",
            self.name,
            record.batch_id,
            status,
            answered,
            len(missing),
        )
        again = [k for k in again if k in set(released)]
        if again:
            log.info("model %s: submitting the %d missing calls again", self.name, len(again))
            await self._submit(again, rnd + 1)

    # ------------------------------------------------------------------ lines -> outcomes
    def _record(self, outcomes: list[CellOutcome]) -> None:
        self.store.cells.record(outcomes)
        for o in outcomes:
            if o.key in self.specs:
                self.on_result(o)

    def _failed(
        self, key: str, kind: str, message: str, tokens_in: int = 0, tokens_out: int = 0
    ) -> CellOutcome:
        return CellOutcome(
            key=key,
            status="failed",
            response_text=None,
            parsed=None,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=0.0,
            cost_usd=cost_usd(self.price, tokens_in, tokens_out)
            if self.price is not None
            else None,
            attempts=1,
            error_kind=kind,
            error_message=redact(message, self._key)[:500],
            updated_at=now_iso(),
        )

    def _validated(self, key: str, comp: Completion, latency: float) -> CellOutcome:
        """A reply from a batch, validated like a synchronous one but never re-asked: a reply
        the output parser rejects is ``unparsed`` with its raw text."""
        text, tin, tout = comp.text, comp.tokens_in, comp.tokens_out
        status = "done"
        parsed: dict[str, Any] | None = None
        error_kind: str | None = None
        error_message: str | None = None
        if self.parser is not None:
            try:
                parsed = self.parser.parse(text)
            except OutputError as exc:
                reason = exc.reason
                if comp.finish_reason == "length":
                    reason = "the reply was cut off at max_tokens"
                elif comp.finish_reason == "content_filter":
                    reason = f"the model refused (a safety stop): {reason}"
                status, error_kind, error_message = "unparsed", "invalid_output", reason[:300]
        return CellOutcome(
            key=key,
            status=status,
            response_text=text,
            parsed=parsed,
            tokens_in=tin,
            tokens_out=tout,
            latency_s=round(latency, 4),
            cost_usd=cost_usd(self.price, tin, tout) if self.price is not None else None,
            attempts=1,
            error_kind=error_kind,
            error_message=error_message,
            updated_at=now_iso(),
        )
