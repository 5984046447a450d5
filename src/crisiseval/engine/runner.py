"""The model-call engine: runs a batch of cells, resumably, within each endpoint's limits.

* Every call is a cell in the run store's journal (:attr:`Store.cells`). Cells are registered
  ``pending`` before any call; each result is written as soon as the writer gets to it (group
  commit), so a crash or ``kill -9`` loses at most the calls in flight. Cells already ``done`` or
  ``unparsed`` are never re-sent, nor are ``submitted`` ones (a provider batch holds them);
  ``failed`` and ``pending`` ones are sent again on the next run.
* Per endpoint: a pool of ``concurrency`` workers and a :class:`~crisiseval.engine.sender.Sender`
  (limits, deadline, retries). Infrastructure failures that outlast the retry budget end
  ``failed`` with their kind and never count as model behaviour.
* Output: an :class:`~crisiseval.engine.outputs.OutputParser` (a pydantic model is wrapped in
  :class:`~crisiseval.engine.outputs.JsonOutput`) validates the reply; a reply it rejects is
  re-asked a bounded number of times, then the cell is ``unparsed`` with the raw text kept.
* Batches: the cells of a model with ``batch: true`` skip the workers and go to a provider
  batch (:class:`~crisiseval.engine.batch.BatchRun`): submitted, polled, collected; ``submitted``
  ones are followed in the batch that holds them, so a killed run resumes polling.
* Seams: ``endpoint_factory`` makes the endpoint of a model (tests inject an in-process fake); the
  state of one call to :meth:`Engine.run` lives in a :class:`_Run`; cost has one formula
  (:func:`~crisiseval.engine.cost.cost_usd`; batch prices from
  :func:`~crisiseval.engine.batch_lines.batch_price`).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel
from rich.console import Console

from crisiseval.config import ModelConfig, Price
from crisiseval.engine.batch import BatchRun
from crisiseval.engine.batch_lines import batch_price
from crisiseval.engine.cells import CallSpec, CellKeys, cell_key
from crisiseval.engine.cost import Estimate, cost_usd, estimate
from crisiseval.engine.endpoints import (
    RETRYABLE,
    Endpoint,
    StructuredMode,
    make_endpoint,
    resolve_gguf,
)
from crisiseval.engine.gcpolicy import bulk_work, calls_in_flight
from crisiseval.engine.outputs import OutputError, OutputParser, as_parser
from crisiseval.engine.progress import BatchProgress, CallProgress, ProgressMode, progress_mode
from crisiseval.engine.sender import Sender, SendFailed, initial_mode
from crisiseval.errors import ConfigError
from crisiseval.store import CellOutcome, CellRow, NewCell, Store, now_iso

REASK_TEMPLATE = (
    "That reply could not be used: {error}. Answer again with only one JSON object that matches "
    "this JSON schema, and nothing else:\n{schema}"
)
REASK_TEXT_TEMPLATE = "That reply could not be used: {error}. Answer again in the format asked."

EndpointFactory = Callable[[str, ModelConfig], Endpoint]

CellResult = CellRow  # the name stages used before the journal API


@dataclass
class RunSummary:
    total: int = 0
    cached: int = 0
    done: int = 0
    unparsed: int = 0
    failed: int = 0
    pending: int = 0
    submitted: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [
            f"{self.total} cells",
            f"{self.cached} cached",
            f"{self.done} done",
            f"{self.unparsed} unparsed",
            f"{self.failed} failed",
        ]
        if self.pending:
            parts.append(f"{self.pending} not run")
        if self.submitted:
            parts.append(f"{self.submitted} in open batches")
        if self.failures:
            parts.append("failures: " + ", ".join(f"{k}={v}" for k, v in self.failures.items()))
        parts.append(f"tokens {self.tokens_in}/{self.tokens_out}")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.4f}")
        return "; ".join(parts)

    @property
    def retryable_failures(self) -> int:
        """Failed cells whose kind a re-run may fix (timeouts, 429, 5xx, connection...)."""
        return sum(n for kind, n in self.failures.items() if kind in RETRYABLE)


@dataclass
class _Job:
    key: str
    spec: CallSpec


class _Run:
    """The state of one :meth:`Engine.run`: its senders, summary, and the writer's buffer."""

    def __init__(self, engine: Engine, parser: OutputParser | None) -> None:
        self.engine = engine
        self.parser = parser
        self.summary = RunSummary()
        self.senders: dict[str, Sender] = {}
        self.buffer: list[CellOutcome] = []
        self.flush_needed = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None

    def sender(self, name: str) -> Sender:
        if name not in self.senders:
            e = self.engine
            self.senders[name] = Sender(
                name, e.model(name), e.endpoint(name), e._modes[name], e._rng
            )
        return self.senders[name]

    async def close(self) -> None:
        for name, sender in self.senders.items():
            self.engine._modes[name] = sender.mode  # a format fallback holds for later runs
        await self.engine._close_endpoints()

    # ------------------------------------------------------------------ writer
    async def write_loop(self) -> None:
        while True:
            await self.flush_needed.wait()
            self.flush_needed.clear()
            self.flush()
            await asyncio.sleep(0)

    def flush(self) -> None:
        if not self.buffer:
            return
        rows, self.buffer = self.buffer, []
        try:
            self.engine.store.cells.record(rows)
        except BaseException:
            self.buffer[:0] = rows  # not lost: the final flush (or the caller) sees them again
            raise

    def account(self, o: CellOutcome) -> None:
        """Count a result written by the batch path (workers count in :meth:`do_cell`)."""
        s = self.summary
        s.tokens_in += o.tokens_in
        s.tokens_out += o.tokens_out
        if o.cost_usd is not None:
            s.cost_usd += o.cost_usd
        if o.status == "done":
            s.done += 1
        elif o.status == "unparsed":
            s.unparsed += 1
        else:
            s.failed += 1
            s.failures[o.error_kind or "unknown"] += 1
        s.pending -= 1

    async def batches(
        self, name: str, jobs: list[_Job], progress: BatchProgress, tick: Callable[[], None]
    ) -> None:
        """The batch path of one model: its cells submitted (or followed) as provider batches."""
        e = self.engine

        def on_result(o: CellOutcome) -> None:
            self.account(o)
            tick()

        specs = {j.key: j.spec for j in jobs}
        cfg = e.model(name)
        kind: type[BatchRun] = BatchRun
        if cfg.provider == "anthropic":
            from crisiseval.engine.batch_anthropic import AnthropicBatchRun

            kind = AnthropicBatchRun
        run = kind(
            store=e.store,
            name=name,
            cfg=cfg,
            identity=e.endpoint(name).identity,
            parser=self.parser,
            params=e.params(name),
            price=e.price(name),
            specs=specs,
            progress=progress,
            on_result=on_result,
        )
        await run.run()
        left = sum(1 for st in e.store.cells.statuses(list(specs)).values() if st == "submitted")
        self.summary.submitted += left  # still in an open batch: the next run collects them
        self.summary.pending -= left

    # ------------------------------------------------------------------ workers
    async def worker(self, name: str, queue: asyncio.Queue[_Job], tick: Callable[[], None]) -> None:
        while True:
            if self.writer is not None and self.writer.done():
                # The store stopped taking results (disk full, locked): stop calling, or every
                # later answer would be paid for and lost.
                self.writer.result()
                raise RuntimeError("the result writer stopped")
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            outcome = await self.do_cell(name, job)
            # Appended after the await: the writer swaps the buffer list while calls run.
            self.buffer.append(outcome)
            self.flush_needed.set()
            self.summary.pending -= 1
            tick()

    async def do_cell(self, name: str, job: _Job) -> CellOutcome:
        """Send one cell, validate the reply, re-ask a bounded number of times."""
        s = self.summary
        sender = self.sender(name)
        parser = self.parser
        schema = parser.schema if parser is not None else None
        schema_name = parser.name if parser is not None else "output"
        params = self.engine.params(name)
        messages = [dict(m) for m in job.spec.messages]
        seed = int(job.key[:8], 16)
        t0 = time.monotonic()
        attempts = tin = tout = 0
        text = ""
        parsed: dict[str, Any] | None = None
        error_kind: str | None = None
        error_message: str | None = None
        status = "unparsed"
        for ask in range(sender.cfg.limits.reasks + 1):
            try:
                comp, n = await sender.send(messages, params, schema, schema_name, seed + ask)
            except SendFailed as f:
                attempts += f.attempts
                status, error_kind, error_message = "failed", f.error.kind, f.error.message
                s.failures[f.error.kind] += 1
                break
            attempts += n
            tin += comp.tokens_in
            tout += comp.tokens_out
            text = comp.text
            if parser is None:
                status = "done"
                break
            try:
                parsed = parser.parse(text)
            except OutputError as exc:
                reason = exc.reason
                if comp.finish_reason == "length":
                    reason = "the reply was cut off at max_tokens"
                elif comp.finish_reason == "content_filter":
                    reason = f"the model refused (a safety stop): {reason}"
                error_kind, error_message = "invalid_output", reason[:300]
                reask = (
                    REASK_TEMPLATE.format(
                        error=reason, schema=json.dumps(schema, separators=(",", ":"))
                    )
                    if schema is not None
                    else REASK_TEXT_TEMPLATE.format(error=reason)
                )
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": reask},
                ]
                continue
            status, error_kind, error_message = "done", None, None
            break
        s.tokens_in += tin
        s.tokens_out += tout
        cost: float | None = None
        price = self.engine.price(name)
        if price is not None:
            cost = cost_usd(price, tin, tout)
            s.cost_usd += cost
        if status == "done":
            s.done += 1
        elif status == "unparsed":
            s.unparsed += 1
        else:
            s.failed += 1
        return CellOutcome(
            key=job.key,
            status=status,
            response_text=text if status != "failed" else (text or None),
            parsed=parsed if status == "done" else None,
            tokens_in=tin,
            tokens_out=tout,
            latency_s=round(time.monotonic() - t0, 4),
            cost_usd=cost,
            attempts=attempts,
            error_kind=error_kind,
            error_message=error_message,
            updated_at=now_iso(),
        )


class Engine:
    """Runs cells for the models of one experiment against one run store."""

    def __init__(
        self,
        store: Store,
        models: dict[str, ModelConfig],
        *,
        prices: dict[str, Price] | None = None,
        progress: bool | ProgressMode | None = None,
        console: Console | None = None,
        seed: int = 0,
        endpoint_factory: EndpointFactory | None = None,
    ) -> None:
        self.store = store
        self.models = models
        self.prices = prices or {}
        # Progress goes to stdout: a bar on a terminal, status lines in a log (``> log.txt``).
        self.console = console or Console(emoji=False, highlight=False)
        self.progress: ProgressMode = (
            progress_mode(self.console)
            if progress is None
            else ("bar" if progress else "off")
            if isinstance(progress, bool)
            else progress
        )
        self.endpoint_factory: EndpointFactory = endpoint_factory or make_endpoint
        self._endpoints: dict[str, Endpoint] = {}
        self._modes: dict[str, StructuredMode] = {}
        self._rng = random.Random(seed)
        self._finished: dict[str, CellRow] = {}

    # ------------------------------------------------------------------ setup
    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"unknown model {name!r} (models defined: {known})")
        return self.models[name]

    def endpoint(self, name: str) -> Endpoint:
        if name not in self._endpoints:
            cfg = self.model(name)
            self._endpoints[name] = self.endpoint_factory(name, cfg)
            self._modes.setdefault(name, initial_mode(cfg))
        return self._endpoints[name]

    def preflight(self, names: Sequence[str], *, connect: bool = True) -> None:
        """Fail before any call: unknown model, missing key variable, missing GGUF, dead URL.

        With ``connect=False`` (a dry run) only what needs neither keys nor network is checked:
        the model names and local GGUF files.
        """
        for name in dict.fromkeys(names):
            cfg = self.model(name)
            if cfg.provider == "llama_cpp" and self.endpoint_factory is make_endpoint:
                resolve_gguf(cfg, name)
            if not connect:
                continue
            self.endpoint(name)
            if cfg.provider != "llama_cpp" and self.endpoint_factory is make_endpoint:
                for url in cfg.all_base_urls():
                    check_reachable(name, url)

    def price(self, name: str) -> Price | None:
        """The price of a call of ``name``: its list price, or for a batch model the batch price."""
        cfg = self.model(name)
        listed = cfg.price or self.prices.get(cfg.model) or self.prices.get(name)
        return batch_price(cfg, listed) if cfg.batch else listed

    def params(self, name: str) -> dict[str, Any]:
        return dict(self.model(name).params)

    def key_for(self, spec: CallSpec, schema: dict[str, Any] | None) -> str:
        ep = self.endpoint(spec.model)
        return cell_key(spec, endpoint=ep.identity, params=self.params(spec.model), schema=schema)

    def estimate(self, specs: Sequence[CallSpec]) -> Estimate:
        """Dry run: prompt tokens (estimated) x runs, output capped by max_tokens, price bound."""
        return estimate(specs, self.model, self.price)

    # ------------------------------------------------------------------ run
    def run_sync(
        self,
        specs: Sequence[CallSpec],
        output: type[BaseModel] | OutputParser | None = None,
        *,
        description: str = "calls",
    ) -> RunSummary:
        with calls_in_flight():
            return asyncio.run(self.run(specs, output, description=description))

    def _register(
        self, specs: Sequence[CallSpec], parser: OutputParser | None, summary: RunSummary
    ) -> tuple[dict[str, _Job], dict[str, str]]:
        """The distinct cells of ``specs`` and the journal status of those already in it; the
        others are registered as pending. A cell already in the journal costs its key and one
        status lookup: its request is neither rebuilt nor written again (a resumed run)."""
        schema = parser.schema if parser is not None else None
        keys = CellKeys(schema)
        fixed: dict[str, tuple[str, dict[str, Any]]] = {}
        jobs: dict[str, _Job] = {}
        for spec in specs:
            if spec.model not in fixed:
                fixed[spec.model] = (self.endpoint(spec.model).identity, self.params(spec.model))
            identity, params = fixed[spec.model]
            key = keys.key(spec, endpoint=identity, params=params)
            summary.keys.append(key)
            if key not in jobs:
                jobs[key] = _Job(key, spec)
        # One read of the cells already in the journal: their statuses now, and the results of
        # the finished ones for :meth:`results` after the run (finished cells are never re-sent,
        # so those rows stay true).
        known = self.store.cells.results(list(jobs))
        status = {key: row.status for key, row in known.items()}
        self._finished = {k: row for k, row in known.items() if row.status in ("done", "unparsed")}
        del known
        new = [key for key in jobs if key not in status]
        schema_name = parser.name if parser is not None else None

        def cell(job: _Job) -> NewCell:
            spec = job.spec
            identity, params = fixed[spec.model]
            request = {
                "messages": spec.messages,
                "params": params,
                "schema": schema_name,
                "endpoint": identity,
            }
            return NewCell(
                key=job.key,
                role=spec.role,
                model=spec.model,
                endpoint=identity,
                run_index=spec.run_index,
                prompt_version=spec.prompt_version,
                item_id=spec.item_id,
                context=spec.context,
                request=request,
            )

        summary.total = len(jobs)
        if new:
            # Made as the journal writes them, a chunk at a time.
            self.store.cells.register((cell(jobs[k]) for k in new), now=now_iso())
        for key in new:
            status[key] = "pending"
        return jobs, status

    async def run(
        self,
        specs: Sequence[CallSpec],
        output: type[BaseModel] | OutputParser | None = None,
        *,
        description: str = "calls",
    ) -> RunSummary:
        parser = as_parser(output)
        state = _Run(self, parser)
        summary = state.summary
        with bulk_work():  # keys and rows of every cell: no cycles among them
            jobs, status = self._register(specs, parser, summary)
        todo: dict[str, list[_Job]] = defaultdict(list)
        batched: dict[str, list[_Job]] = defaultdict(list)
        for key, job in jobs.items():
            st = status.get(key)
            if st in ("done", "unparsed"):
                summary.cached += 1
            elif self.model(job.spec.model).batch:
                batched[job.spec.model].append(job)  # submitted, or followed in its batch
            elif st == "submitted":
                summary.submitted += 1  # a provider batch holds it: not sent twice
            else:
                todo[job.spec.model].append(job)
        n_todo = sum(len(v) for v in todo.values()) + sum(len(v) for v in batched.values())
        summary.pending = n_todo
        if n_todo == 0:
            await state.close()
            return summary

        state.writer = asyncio.create_task(state.write_loop())
        progress = (
            BatchProgress(self.progress, self.console, description, n_todo)
            if batched
            else CallProgress(self.progress, self.console, description, n_todo)
        )
        progress.start()
        failed_before = [0]

        def tick() -> None:
            failed = summary.failed > failed_before[0]
            failed_before[0] = summary.failed
            backed_off = [
                f"{name} <= {s.slots.current}"
                for name, s in state.senders.items()
                if s.slots.current < s.slots.maximum
            ]
            progress.advance(
                failed=failed,
                tokens=f"{summary.tokens_in}/{summary.tokens_out}",
                cost=f"${summary.cost_usd:.4f}" if summary.cost_usd else "",
                flight=f"in flight {', '.join(backed_off)}" if backed_off else "",
            )

        workers: list[asyncio.Task[None]] = []
        try:
            for name, model_jobs in todo.items():
                queue: asyncio.Queue[_Job] = asyncio.Queue()
                for job in model_jobs:
                    queue.put_nowait(job)
                cfg = self.model(name)
                # One in-process model computes one call at a time; more workers would only queue
                # (and make per-call latency meaningless).
                limit = 1 if cfg.provider == "llama_cpp" else cfg.limits.concurrency
                n = min(limit, len(model_jobs))
                workers += [asyncio.create_task(state.worker(name, queue, tick)) for _ in range(n)]
            for name, model_jobs in batched.items():
                assert isinstance(progress, BatchProgress)
                workers.append(asyncio.create_task(state.batches(name, model_jobs, progress, tick)))
            await asyncio.gather(*workers)
            writer = state.writer
            failure = writer.exception() if writer.done() and not writer.cancelled() else None
            if failure is not None:  # the last results could not be written: say so
                raise failure
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            progress.stop()
            state.writer.cancel()
            await asyncio.gather(state.writer, return_exceptions=True)
            try:
                state.flush()  # whatever finished before a cancel is kept
            finally:
                await state.close()
        return summary

    async def _close_endpoints(self) -> None:
        # Clients belong to the event loop that made them: the next run opens fresh ones.
        for ep in self._endpoints.values():
            await ep.aclose()
        self._endpoints.clear()

    # ------------------------------------------------------------------ results
    def results(self, keys: Sequence[str]) -> dict[str, CellRow]:
        """The cells of ``keys`` as stored: those found finished before the last run from that
        read, the others read now."""
        finished, self._finished = self._finished, {}
        out = self.store.cells.results([k for k in keys if k not in finished])
        for key in keys:
            row = finished.get(key)
            if row is not None:
                out[key] = row
        return out


def check_reachable(name: str, base_url: str, timeout: float = 5.0) -> None:
    """A TCP connection to the endpoint's host, so a dead URL fails before any call."""
    u = urlparse(base_url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ConfigError(f"model {name!r}: base_url {base_url!r} is not an http(s) URL")
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((u.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"model {name!r}: cannot reach base_url {base_url} ({reason})") from exc
