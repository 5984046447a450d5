"""The model-call engine: runs a batch of cells, resumably, within each endpoint's limits.

* Every call is a cell in the run store. Cells are written ``pending`` before any call; each result
  is committed as soon as the writer gets to it (group commit), so a crash or ``kill -9`` loses at
  most the calls in flight. Cells already ``done`` or ``unparsed`` are never re-sent; ``failed``
  and ``pending`` ones are sent again on the next run.
* Per endpoint: a pool of ``concurrency`` workers, optional requests/tokens-per-minute buckets,
  per-call timeout, bounded retries with exponential back-off and jitter honouring ``Retry-After``.
* Infrastructure failures that outlast the retry budget end ``failed`` with their kind (timeout,
  connection, rate_limit, server, http_4xx, ...) and never count as model behaviour.
* Structured output: a pydantic model's JSON schema is requested (``json_schema`` response format,
  falling back to ``json_object`` + schema, then to schema-in-prompt, for servers that reject it),
  the reply is validated, re-asked a bounded number of times, then the cell is ``unparsed`` with
  the raw text kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from crisiseval.config import ModelConfig, Price
from crisiseval.engine.cells import (
    CallSpec,
    cell_key,
    extract_json,
    max_tokens_of,
    messages_tokens,
)
from crisiseval.engine.endpoints import (
    Completion,
    Endpoint,
    InfraError,
    StructuredMode,
    make_endpoint,
    resolve_gguf,
)
from crisiseval.engine.limits import TokenBucket, backoff_delay
from crisiseval.errors import ConfigError
from crisiseval.store import Store, now_iso

log = logging.getLogger("crisiseval.engine")

REASK_TEMPLATE = (
    "That reply could not be used: {error}. Answer again with only one JSON object that matches "
    "this JSON schema, and nothing else:\n{schema}"
)
PROMPT_MODE_TEMPLATE = (
    "\n\nReply with only one JSON object that matches this JSON schema, and nothing else:\n{schema}"
)


@dataclass
class CellResult:
    key: str
    status: str
    parsed: dict[str, Any] | None
    text: str | None
    error_kind: str | None
    error_message: str | None
    context: dict[str, Any]
    item_id: str | None
    run_index: int
    model: str


@dataclass
class RunSummary:
    total: int = 0
    cached: int = 0
    done: int = 0
    unparsed: int = 0
    failed: int = 0
    pending: int = 0
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
        if self.failures:
            parts.append("failures: " + ", ".join(f"{k}={v}" for k, v in self.failures.items()))
        parts.append(f"tokens {self.tokens_in}/{self.tokens_out}")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.4f}")
        return "; ".join(parts)


@dataclass
class Estimate:
    calls: int
    tokens_in: int
    tokens_out_max: int
    cost_usd_max: float | None
    per_model: dict[str, dict[str, float]]


@dataclass
class _Job:
    key: str
    spec: CallSpec


class Engine:
    """Runs cells for the models of one experiment against one run store."""

    def __init__(
        self,
        store: Store,
        models: dict[str, ModelConfig],
        *,
        prices: dict[str, Price] | None = None,
        progress: bool | None = None,
        console: Console | None = None,
        seed: int = 0,
    ) -> None:
        self.store = store
        self.models = models
        self.prices = prices or {}
        self.console = console or Console(stderr=True)
        self.progress = self.console.is_terminal if progress is None else progress
        self._endpoints: dict[str, Endpoint] = {}
        self._modes: dict[str, StructuredMode] = {}
        self._rpm: dict[str, TokenBucket] = {}
        self._tpm: dict[str, TokenBucket] = {}
        self._rng = random.Random(seed)
        self._buffer: list[tuple[Any, ...]] = []
        self._flush_needed: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._summary = RunSummary()

    # ------------------------------------------------------------------ setup
    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"unknown model {name!r} (models defined: {known})")
        return self.models[name]

    def endpoint(self, name: str) -> Endpoint:
        if name not in self._endpoints:
            cfg = self.model(name)
            self._endpoints[name] = make_endpoint(name, cfg)
            self._modes.setdefault(name, self._initial_mode(cfg))
            # Buckets hold an asyncio lock bound to one event loop: new ones with each client.
            if cfg.limits.rpm:
                self._rpm[name] = TokenBucket(cfg.limits.rpm)
            if cfg.limits.tpm:
                self._tpm[name] = TokenBucket(cfg.limits.tpm)
        return self._endpoints[name]

    @staticmethod
    def _initial_mode(cfg: ModelConfig) -> StructuredMode:
        return (
            "json_schema"
            if cfg.structured_output == "auto" and cfg.provider == "openai"
            else "json_object"
            if cfg.structured_output == "auto"
            else cfg.structured_output
        )

    def preflight(self, names: Sequence[str], *, connect: bool = True) -> None:
        """Fail before any call: unknown model, missing key variable, missing GGUF, dead URL.

        With ``connect=False`` (a dry run) only what needs neither keys nor network is checked:
        the model names and local GGUF files.
        """
        for name in dict.fromkeys(names):
            cfg = self.model(name)
            if cfg.provider == "llama_cpp":
                resolve_gguf(cfg, name)
            if not connect:
                continue
            self.endpoint(name)
            if cfg.provider == "openai" and cfg.base_url:
                check_reachable(name, cfg.base_url)

    def price(self, name: str) -> Price | None:
        cfg = self.model(name)
        return cfg.price or self.prices.get(cfg.model) or self.prices.get(name)

    def params(self, name: str) -> dict[str, Any]:
        return dict(self.model(name).params)

    def key_for(self, spec: CallSpec, schema: dict[str, Any] | None) -> str:
        ep = self.endpoint(spec.model)
        return cell_key(spec, endpoint=ep.identity, params=self.params(spec.model), schema=schema)

    # ------------------------------------------------------------------ estimate
    def estimate(self, specs: Sequence[CallSpec]) -> Estimate:
        """Dry-run: prompt tokens (estimated) x runs, output capped by max_tokens, price bound."""
        per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        total_cost: float | None = 0.0
        for s in specs:
            cfg = self.model(s.model)
            tin = messages_tokens(s.messages)
            tout = int(
                cfg.params.get("max_tokens") or cfg.params.get("max_completion_tokens") or 512
            )
            d = per[s.model]
            d["calls"] += 1
            d["tokens_in"] += tin
            d["tokens_out_max"] += tout
            price = self.price(s.model)
            if price is None:
                total_cost = None if cfg.provider == "openai" else total_cost
            else:
                c = tin / 1e6 * price.input_per_m + tout / 1e6 * price.output_per_m
                d["cost_usd_max"] += c
                if total_cost is not None:
                    total_cost += c
        return Estimate(
            calls=len(specs),
            tokens_in=int(sum(d["tokens_in"] for d in per.values())),
            tokens_out_max=int(sum(d["tokens_out_max"] for d in per.values())),
            cost_usd_max=total_cost,
            per_model={k: dict(v) for k, v in per.items()},
        )

    # ------------------------------------------------------------------ run
    def run_sync(
        self,
        specs: Sequence[CallSpec],
        output_model: type[BaseModel] | None = None,
        *,
        description: str = "calls",
    ) -> RunSummary:
        return asyncio.run(self.run(specs, output_model, description=description))

    async def run(
        self,
        specs: Sequence[CallSpec],
        output_model: type[BaseModel] | None = None,
        *,
        description: str = "calls",
    ) -> RunSummary:
        schema = output_model.model_json_schema() if output_model is not None else None
        summary = RunSummary()
        self._summary = summary
        jobs: dict[str, _Job] = {}
        rows = []
        ts = now_iso()
        for spec in specs:
            key = self.key_for(spec, schema)
            summary.keys.append(key)
            if key in jobs:
                continue
            jobs[key] = _Job(key, spec)
            request = {
                "messages": spec.messages,
                "params": self.params(spec.model),
                "schema": output_model.__name__ if output_model is not None else None,
                "endpoint": self.endpoint(spec.model).identity,
            }
            rows.append(
                (
                    key,
                    spec.role,
                    spec.model,
                    self.endpoint(spec.model).identity,
                    spec.run_index,
                    spec.prompt_version,
                    spec.item_id,
                    json.dumps(spec.context, ensure_ascii=False, sort_keys=True),
                    json.dumps(request, ensure_ascii=False),
                    ts,
                    ts,
                )
            )
        summary.total = len(jobs)
        with self.store.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO cells(key, role, model, endpoint, run_index, "
                "prompt_version, item_id, context, request, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                rows,
            )
        status = self._statuses(list(jobs))
        todo: dict[str, list[_Job]] = defaultdict(list)
        for key, job in jobs.items():
            if status.get(key) in ("done", "unparsed"):
                summary.cached += 1
            else:
                todo[job.spec.model].append(job)
        n_todo = sum(len(v) for v in todo.values())
        summary.pending = n_todo
        if n_todo == 0:
            await self._close_endpoints()
            return summary

        self._flush_needed = asyncio.Event()
        writer = asyncio.create_task(self._writer())
        self._writer_task = writer
        progress = self._make_progress()
        task_id = (
            progress.add_task(description, total=n_todo, tokens="0/0", cost="")
            if progress
            else None
        )
        if progress:
            progress.start()

        def tick() -> None:
            if progress is not None and task_id is not None:
                cost = f"${summary.cost_usd:.4f}" if summary.cost_usd else ""
                progress.update(
                    task_id,
                    advance=1,
                    tokens=f"{summary.tokens_in}/{summary.tokens_out}",
                    cost=cost,
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
                workers += [
                    asyncio.create_task(self._worker(name, queue, output_model, schema, tick))
                    for _ in range(n)
                ]
            await asyncio.gather(*workers)
            failure = writer.exception() if writer.done() and not writer.cancelled() else None
            if failure is not None:  # the last results could not be written: say so
                raise failure
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            if progress:
                progress.stop()
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            try:
                self._flush()  # whatever finished before a cancel is kept
            finally:
                await self._close_endpoints()
        return summary

    async def _close_endpoints(self) -> None:
        # Clients belong to the event loop that made them: the next run opens fresh ones.
        for ep in self._endpoints.values():
            await ep.aclose()
        self._endpoints.clear()

    def _statuses(self, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for k, s in self.store.conn.execute(
                f"SELECT key, status FROM cells WHERE key IN ({marks})", chunk
            ):
                out[k] = s
        return out

    def _make_progress(self) -> Progress | None:
        if not self.progress:
            return None
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TextColumn("[cyan]{task.fields[tokens]} tok"),
            TextColumn("{task.fields[cost]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )

    # ------------------------------------------------------------------ workers
    async def _worker(
        self,
        name: str,
        queue: asyncio.Queue[_Job],
        output_model: type[BaseModel] | None,
        schema: dict[str, Any] | None,
        tick: Callable[[], None],
    ) -> None:
        while True:
            writer = self._writer_task
            if writer is not None and writer.done():
                # The store stopped taking results (disk full, locked): stop calling, or every
                # later answer would be paid for and lost.
                writer.result()
                raise RuntimeError("the result writer stopped")
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            row = await self._do_cell(name, job, output_model, schema)
            self._buffer.append(row)
            assert self._flush_needed is not None
            self._flush_needed.set()
            self._summary.pending -= 1
            tick()

    async def _do_cell(
        self,
        name: str,
        job: _Job,
        output_model: type[BaseModel] | None,
        schema: dict[str, Any] | None,
    ) -> tuple[Any, ...]:
        s = self._summary
        cfg = self.model(name)
        params = self.params(name)
        messages = [dict(m) for m in job.spec.messages]
        seed = int(job.key[:8], 16)
        t0 = time.monotonic()
        attempts = 0
        tin = tout = 0
        text = ""
        parsed: dict[str, Any] | None = None
        error_kind: str | None = None
        error_message: str | None = None
        status = "unparsed"
        for ask in range(cfg.limits.reasks + 1):
            try:
                comp, n = await self._call(name, messages, params, schema, seed + ask)
            except _Failed as f:
                attempts += f.attempts
                status, error_kind, error_message = "failed", f.error.kind, f.error.message
                s.failures[f.error.kind] += 1
                break
            attempts += n
            tin += comp.tokens_in
            tout += comp.tokens_out
            text = comp.text
            if output_model is None:
                status = "done"
                break
            try:
                value = output_model.model_validate_json(extract_json(text))
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                reason = f"{err['msg']}" + (f" at {loc}" if loc else "")
                if comp.finish_reason == "length":
                    reason = "the reply was cut off at max_tokens"
                error_kind, error_message = "invalid_output", reason[:300]
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": REASK_TEMPLATE.format(
                            error=reason, schema=json.dumps(schema, separators=(",", ":"))
                        ),
                    },
                ]
                continue
            parsed = value.model_dump(mode="json")
            status, error_kind, error_message = "done", None, None
            break
        s.tokens_in += tin
        s.tokens_out += tout
        cost: float | None = None
        price = self.price(name)
        if price is not None:
            cost = tin / 1e6 * price.input_per_m + tout / 1e6 * price.output_per_m
            s.cost_usd += cost
        if status == "done":
            s.done += 1
        elif status == "unparsed":
            s.unparsed += 1
        else:
            s.failed += 1
        return (
            status,
            text if status != "failed" else (text or None),
            json.dumps(parsed, ensure_ascii=False) if parsed is not None else None,
            tin,
            tout,
            round(time.monotonic() - t0, 4),
            cost,
            attempts,
            error_kind,
            error_message,
            now_iso(),
            job.key,
        )

    async def _call(
        self,
        name: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        seed: int,
    ) -> tuple[Completion, int]:
        """One completion with bounded retries; returns it and the number of attempts."""
        ep = self.endpoint(name)
        lim = self.model(name).limits
        attempt = 0
        while True:
            attempt += 1
            mode = self._modes[name]
            sent = messages
            if schema is not None and mode == "prompt":
                sent = [*messages[:-1], dict(messages[-1])]
                sent[-1]["content"] += PROMPT_MODE_TEMPLATE.format(
                    schema=json.dumps(schema, separators=(",", ":"))
                )
            if name in self._rpm:
                await self._rpm[name].acquire(1)
            est = 0
            if name in self._tpm:
                est = messages_tokens(sent) + max_tokens_of(params)
                await self._tpm[name].acquire(est)
            try:
                comp = await ep.complete(sent, params, schema, "output", mode, seed)
            except InfraError as err:
                if self._downgrade(name, mode, err, schema):
                    attempt -= 1  # the server refused the format, not the call: not a retry
                    continue
                if not err.retryable or attempt > lim.max_retries:
                    raise _Failed(err, attempt) from None
                delay = backoff_delay(
                    attempt,
                    base=lim.backoff_base_s,
                    cap=lim.backoff_max_s,
                    retry_after=(
                        min(err.retry_after, lim.retry_after_max_s)
                        if err.retry_after is not None
                        else None
                    ),
                    rng=self._rng,
                )
                log.debug(
                    "model %s: %s; retry %d/%d in %.2fs",
                    name,
                    err.kind,
                    attempt,
                    lim.max_retries,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if name in self._tpm:
                self._tpm[name].adjust(comp.tokens_in + comp.tokens_out - est)
            return comp, attempt

    def _downgrade(
        self, name: str, mode: StructuredMode, err: InfraError, schema: dict[str, Any] | None
    ) -> bool:
        """Fall back to a simpler structured-output mode when the server rejects the current one."""
        if schema is None or self.model(name).structured_output != "auto":
            return False
        if err.status not in (400, 422, 500, 501) or mode == "prompt":
            return False
        body = err.body.lower()
        if not any(w in body for w in ("response_format", "json_schema", "schema", "grammar")):
            return False
        new: StructuredMode = "json_object" if mode == "json_schema" else "prompt"
        if self._modes[name] == mode:
            log.info("model %s: server rejected %s output; falling back to %s", name, mode, new)
            self._modes[name] = new
        return True

    # ------------------------------------------------------------------ writer
    async def _writer(self) -> None:
        assert self._flush_needed is not None
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            self._flush()
            await asyncio.sleep(0)

    def _flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        try:
            self._write(rows)
        except BaseException:
            self._buffer[:0] = rows  # not lost: the final flush (or the caller) sees them again
            raise

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        with self.store.transaction() as c:
            c.executemany(
                "UPDATE cells SET status=?, response_text=?, parsed=?, tokens_in=?, tokens_out=?, "
                "latency_s=?, cost_usd=?, attempts=attempts+?, error_kind=?, error_message=?, "
                "updated_at=? WHERE key=?",
                rows,
            )

    # ------------------------------------------------------------------ results
    def results(self, keys: Sequence[str]) -> dict[str, CellResult]:
        out: dict[str, CellResult] = {}
        ks = list(dict.fromkeys(keys))
        for start in range(0, len(ks), 500):
            chunk = ks[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.store.conn.execute(
                "SELECT key, status, parsed, response_text, error_kind, error_message, context, "
                f"item_id, run_index, model FROM cells WHERE key IN ({marks})",
                chunk,
            ):
                out[row[0]] = CellResult(
                    key=row[0],
                    status=row[1],
                    parsed=json.loads(row[2]) if row[2] else None,
                    text=row[3],
                    error_kind=row[4],
                    error_message=row[5],
                    context=json.loads(row[6]),
                    item_id=row[7],
                    run_index=row[8],
                    model=row[9],
                )
        return out


class _Failed(Exception):
    def __init__(self, error: InfraError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


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


class _RateColumn(ProgressColumn):
    """Calls per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /s" if speed is None else f"{speed:.1f}/s", style="magenta")
