"""An in-process fake endpoint: the mock server's replies without HTTP.

``FakeEndpoint`` answers like :mod:`crisiseval.testing.mockserver` does (a deterministic JSON
object valid for the requested schema, or a short text), so a stage, pipeline or CLI test goes
through the real engine, store and parsers without a server. Rules script replies and failures::

    FakeRules([{"match": "goodbye", "kind": "reply", "text": "not json"},
               {"kind": "500", "times": 2}])

Kinds: ``reply`` (``text``), ``429``/``500``/``503``/``400``/``401``/``413`` (an HTTP error, as
the OpenAI endpoint raises it), ``timeout``, ``connection``. Loopback-HTTP tests remain for what
HTTP itself must prove (retries on real status codes, resets, deadlines); use this for the rest.

A :class:`FakeBackend` holds the rules and the log of requests, with the mock server's control
API (``set_rules``, ``requests``, ``base_url``); ``backend.factory`` is the ``endpoint_factory``
for :class:`~crisiseval.engine.Engine`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from crisiseval.config import ModelConfig, endpoint_identity
from crisiseval.engine.endpoints import Completion, Endpoint, InfraError, StructuredMode
from crisiseval.testing.mockserver import Rule, example_for_schema, messages_digest

_HTTP_KIND = {"429": "rate_limit", "500": "server", "503": "server"}


class FakeBackend:
    """Scripted replies and a request log shared by the fake endpoints it makes."""

    # Part of the models' endpoint identity (so cell keys look like a server's); never reached.
    base_url = "http://127.0.0.1:9/v1"

    def __init__(self, rules: Sequence[dict[str, Any]] = ()) -> None:
        self.rules = [Rule.from_dict(r) for r in rules]
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def set_rules(self, rules: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self.rules = [Rule.from_dict(r) for r in rules]

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def factory(self, name: str, cfg: ModelConfig) -> Endpoint:
        """An ``endpoint_factory`` for the engine."""
        return FakeEndpoint(name, cfg, self)

    def pick(self, joined: str, model: str | None = None) -> Rule | None:
        with self._lock:
            for r in self.rules:
                if r.matches(joined, model):
                    r.served += 1
                    return r
        return None


class FakeEndpoint:
    """An endpoint that answers in-process (see the module docstring)."""

    cancellable = True

    def __init__(self, name: str, cfg: ModelConfig, rules: FakeBackend) -> None:
        self.name = name
        self.cfg = cfg
        self.identity = endpoint_identity(cfg) if cfg.provider == "openai" else f"fake|{cfg.model}"
        self.rules = rules

    async def complete(
        self,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: dict[str, Any] | None,
        schema_name: str,
        mode: StructuredMode,
        seed: int,
    ) -> Completion:
        digest = messages_digest(messages)
        joined = "\n".join(str(m.get("content", "")) for m in messages)
        rule = self.rules.pick(joined, self.cfg.model)
        kind = rule.kind if rule is not None else "ok"
        fmt = None if schema is None or mode == "prompt" else mode
        with self.rules._lock:
            self.rules.log.append(
                {"model": self.cfg.model, "digest": digest, "outcome": kind, "response_format": fmt}
            )
        if rule is not None and kind not in ("reply", "ok"):
            if kind == "timeout":
                raise InfraError("timeout", "fake timeout")
            if kind == "connection":
                raise InfraError("connection", "fake connection error")
            status = int(kind)
            msg = rule.text or f"fake error {kind}"
            raise InfraError(
                _HTTP_KIND.get(kind, f"http_{kind}"),
                f"HTTP {status}: {msg}",
                retry_after=rule.retry_after,
                status=status,
                body=msg,
            )
        if rule is not None:
            text = rule.text or ""
        elif schema is not None:
            text = json.dumps(example_for_schema(schema, digest))
        else:
            text = f"Mock answer {digest}."
        return Completion(
            text=text,
            tokens_in=max(1, len(joined) // 4),
            tokens_out=max(1, len(text) // 4),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        return None
