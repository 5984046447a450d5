"""Sending: one completion from one endpoint, within its limits, retried when it is worth it.

Per endpoint the sender keeps the structured-output mode that works (falling back from
``json_schema`` to ``json_object`` to schema-in-prompt when a server rejects one), the
requests/tokens-per-minute buckets and the adaptive limit of calls in flight
(:class:`~crisiseval.engine.limits.AdaptiveLimit`: halved when the server pushes back with a 429,
a timeout or a 503, grown back while calls succeed). Each attempt has a wall-clock deadline
(``timeout_s``) around the whole request, so a server that trickles bytes cannot hold a call past
it; a missed deadline is a ``timeout`` failure, retried like one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

from crisiseval.config import ModelConfig
from crisiseval.engine.cells import max_tokens_of, messages_tokens
from crisiseval.engine.endpoints import Completion, Endpoint, InfraError, StructuredMode
from crisiseval.engine.limits import AdaptiveLimit, TokenBucket, backoff_delay

log = logging.getLogger("crisiseval.engine")

PUSH_BACK = frozenset({"rate_limit", "timeout"})
"""Failures that mean "too much at once" (with HTTP 503, :func:`_pushes_back`)."""

PROMPT_MODE_TEMPLATE = (
    "\n\nReply with only one JSON object that matches this JSON schema, and nothing else:\n{schema}"
)


class SendFailed(Exception):
    """The call failed for good (not retryable, or out of retries)."""

    def __init__(self, error: InfraError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


def _pushes_back(err: InfraError) -> bool:
    return err.kind in PUSH_BACK or err.status == 503


def initial_mode(cfg: ModelConfig) -> StructuredMode:
    if cfg.structured_output != "auto":
        return cfg.structured_output
    if cfg.provider == "anthropic":
        return "prompt"  # the Messages API has no response format: the schema goes in the prompt
    return "json_schema" if cfg.provider == "openai" else "json_object"


@dataclass
class Sender:
    """Sends calls to one endpoint (one per model name and event loop)."""

    name: str
    cfg: ModelConfig
    endpoint: Endpoint
    mode: StructuredMode
    rng: random.Random

    def __post_init__(self) -> None:
        # Buckets hold an asyncio lock bound to one event loop: a sender lives in one run.
        lim = self.cfg.limits
        self.rpm = TokenBucket(lim.rpm) if lim.rpm else None
        self.tpm = TokenBucket(lim.tpm) if lim.tpm else None
        self.slots = AdaptiveLimit(lim.concurrency, lim.min_concurrency, adaptive=lim.adaptive)

    async def send(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        seed: int,
    ) -> tuple[Completion, int]:
        """One completion with bounded retries; returns it and the number of attempts."""
        lim = self.cfg.limits
        attempt = 0
        while True:
            attempt += 1
            mode = self.mode
            sent = messages
            if schema is not None and mode == "prompt":
                sent = [*messages[:-1], dict(messages[-1])]
                sent[-1]["content"] += PROMPT_MODE_TEMPLATE.format(
                    schema=json.dumps(schema, separators=(",", ":"))
                )
            if self.rpm is not None:
                await self.rpm.acquire(1)
            est = 0
            if self.tpm is not None:
                est = messages_tokens(sent) + max_tokens_of(params)
                await self.tpm.acquire(est)
            started = await self.slots.acquire()
            try:
                comp = await self._attempt(sent, params, schema, schema_name, mode, seed)
            except InfraError as err:
                self.slots.release()
                if _pushes_back(err) and self.slots.push_back(started):
                    log.info(
                        "model %s: %s; calls in flight limited to %d",
                        self.name,
                        err.kind,
                        self.slots.current,
                    )
                if self._downgrade(mode, err, schema):
                    attempt -= 1  # the server refused the format, not the call: not a retry
                    continue
                if not err.retryable or attempt > lim.max_retries:
                    raise SendFailed(err, attempt) from None
                retry_after = (
                    min(err.retry_after, lim.retry_after_max_s)
                    if err.retry_after is not None
                    else None
                )
                delay = backoff_delay(
                    attempt,
                    base=lim.backoff_base_s,
                    cap=lim.backoff_max_s,
                    retry_after=retry_after,
                    rng=self.rng,
                )
                log.debug(
                    "model %s: %s; retry %d/%d in %.2fs",
                    self.name,
                    err.kind,
                    attempt,
                    lim.max_retries,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except BaseException:
                self.slots.release()
                raise
            self.slots.release()
            self.slots.success()
            if self.tpm is not None:
                self.tpm.adjust(comp.tokens_in + comp.tokens_out - est)
            return comp, attempt

    async def _attempt(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:
        call = self.endpoint.complete(messages, params, schema, schema_name, mode, seed)
        if not getattr(self.endpoint, "cancellable", True):
            # An in-process model cannot be interrupted mid-computation: no deadline.
            return await call
        deadline = self.cfg.limits.timeout_s
        try:
            # In this task (``wait_for`` on 3.11 wraps each call in a task of its own).
            async with asyncio.timeout(deadline):
                return await call
        except TimeoutError:
            raise InfraError(
                "timeout", f"no complete reply within the {deadline:g}s deadline (timeout_s)"
            ) from None

    def _downgrade(
        self, mode: StructuredMode, err: InfraError, schema: dict[str, Any] | None
    ) -> bool:
        """Fall back to a simpler structured-output mode when the server rejects the current one."""
        if schema is None or self.cfg.structured_output != "auto":
            return False
        if err.status not in (400, 422, 500, 501) or mode == "prompt":
            return False
        body = err.body.lower()
        if not any(w in body for w in ("response_format", "json_schema", "schema", "grammar")):
            return False
        new: StructuredMode = "json_object" if mode == "json_schema" else "prompt"
        if self.mode == mode:
            log.info(
                "model %s: server rejected %s output; falling back to %s", self.name, mode, new
            )
            self.mode = new
        return True
