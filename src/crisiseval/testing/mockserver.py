"""A scripted OpenAI-compatible HTTP server for tests, benchmarks and dry runs.

It answers ``POST /v1/chat/completions`` (and ``GET /v1/models``; ``POST /v1/moderations``, whose
``reply`` rules give category scores as JSON text, ``{"self-harm/intent": 0.9}``) on 127.0.0.1.
Without rules it replies with a deterministic JSON object that satisfies the request's JSON
schema (when the request asks for one) or a short text. Rules inject faults or scripted replies::

    {"match": "some text", "kind": "429", "times": 2, "retry_after": 0.2}

``match`` is a substring of any message (absent: every request); ``model`` the request's model
id (absent: any); ``times`` how many matching requests the rule serves (absent: all); the first
rule that matches serves the request. Kinds: ``reply`` (``text``), ``429``, ``500``, ``503``,
``400`` (``text`` as error message), ``timeout`` (waits ``delay`` s, default 30, before answering),
``reset`` (drops the connection), ``malformed`` (a body that is not JSON), ``truncated`` (a body
cut short), ``latency`` (adds ``delay`` s, then answers normally), ``trickle`` (sends a normal
reply one byte every ``delay`` s: each read is quick, the whole reply slow), ``empty`` (a
well-formed reply with no choices).

Control API: ``POST /_control/rules`` (JSON list; replaces the rules), ``GET /_control/log`` (one
entry per request: time, path, digest of the messages, response_format type, outcome, auth header
present), ``POST /_control/reset``. ``throttle_above=N`` answers 429 (with a short Retry-After)
to a request that arrives while more than N are in flight. ``MockServer.max_in_flight`` is the
most requests handled at once (for concurrency tests).

Requires ``aiohttp`` (installed with the ``dev`` extra). Run standalone with
``python -m crisiseval.testing.mockserver --port 8000 --latency 0.1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crisiseval.testing._loopback import LoopbackServer


@dataclass
class Rule:
    kind: str
    match: str | None = None
    model: str | None = None
    times: int | None = None
    text: str | None = None
    retry_after: float | None = None
    delay: float = 30.0
    served: int = 0

    def matches(self, joined: str, model: str | None) -> bool:
        """Whether the rule applies to a request (its messages joined, its model id)."""
        return (
            (self.match is None or self.match in joined)
            and (self.model is None or self.model == model)
            and (self.times is None or self.served < self.times)
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        return cls(
            kind=str(d["kind"]),
            match=d.get("match"),
            model=d.get("model"),
            times=d.get("times"),
            text=d.get("text"),
            retry_after=d.get("retry_after"),
            delay=float(d.get("delay", 30.0)),
        )


@dataclass
class ServerState:
    latency: float = 0.0
    api_key: str | None = None
    reject_json_schema: bool = False
    rules: list[Rule] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0  # chat requests being handled now
    max_in_flight: int = 0  # high-water mark of in_flight since start (or the last reset)
    throttle_above: int | None = None  # 429 (Retry-After) while more requests are in flight
    throttle_retry_after: float = 0.05
    arrivals: list[int] = field(default_factory=list)  # in_flight as each chat request arrives
    throttled: int = 0  # requests answered 429 by throttle_above
    unique_text: bool = False  # free-text replies carry a counter: identical requests differ
    served: int = 0


def messages_digest(messages: list[dict[str, Any]]) -> str:
    blob = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def example_for_schema(
    schema: dict[str, Any], seed: str, defs: dict[str, Any] | None = None
) -> Any:
    """A deterministic value valid for a (simple) JSON schema, varied by ``seed``."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_for_schema(defs[schema["$ref"].split("/")[-1]], seed, defs)
    h = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    if "enum" in schema:
        return schema["enum"][h % len(schema["enum"])]
    if "anyOf" in schema:
        return example_for_schema(schema["anyOf"][0], seed, defs)
    t = schema.get("type", "object")
    if t == "object":
        props = schema.get("properties", {})
        return {k: example_for_schema(v, seed + k, defs) for k, v in props.items()}
    if t == "integer":
        lo, hi = int(schema.get("minimum", 0)), int(schema.get("maximum", 100))
        return lo + h % (hi - lo + 1)
    if t == "number":
        flo, fhi = float(schema.get("minimum", 0)), float(schema.get("maximum", 1))
        return flo + (h % 1000) / 999 * (fhi - flo)
    if t == "boolean":
        return bool(h % 2)
    if t == "array":
        n = max(1, int(schema.get("minItems", 1)))
        return [example_for_schema(schema.get("items", {}), seed + str(i), defs) for i in range(n)]
    text = "mock reply " + seed[:8]
    max_len = schema.get("maxLength")
    return text[:max_len] if max_len else text


MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


def moderation_result(scores: dict[str, float]) -> dict[str, Any]:
    """One ``/v1/moderations`` result: ``scores`` (category -> score; the others 0), a category
    flagged at 0.5 or more, ``flagged`` when any is."""
    full = {c: float(scores.get(c, 0.0)) for c in MODERATION_CATEGORIES}
    flags = {c: v >= 0.5 for c, v in full.items()}
    return {
        "flagged": any(flags.values()),
        "categories": flags,
        "category_scores": full,
        "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
    }


def _completion(text: str, model: str, prompt_chars: int) -> dict[str, Any]:
    tin = max(1, prompt_chars // 4)
    tout = max(1, len(text) // 4)
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
    }


def make_app(state: ServerState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.arrivals.append(state.in_flight)
            overloaded = state.throttle_above is not None and state.in_flight > state.throttle_above
            state.throttled += int(overloaded)
        try:
            if overloaded:
                if state.latency:
                    await asyncio.sleep(state.latency / 5)
                return web.json_response(
                    {"error": {"message": "too many requests in flight", "type": "mock"}},
                    status=429,
                    headers={"Retry-After": str(state.throttle_retry_after)},
                )
            return await _chat(request)
        finally:
            with state.lock:
                state.in_flight -= 1

    async def _chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON body"}}, status=400)
        messages = body.get("messages") or []
        digest = messages_digest(messages)
        rf = body.get("response_format") or {}
        entry: dict[str, Any] = {
            "t": time.time(),
            "digest": digest,
            "response_format": rf.get("type"),
            "auth": request.headers.get("Authorization"),
            "model": body.get("model"),
        }
        with state.lock:
            state.log.append(entry)
        if state.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {state.api_key}"
        ):
            entry["outcome"] = "401"
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        joined = "\n".join(str(m.get("content", "")) for m in messages)
        rule: Rule | None = None
        with state.lock:
            for r in state.rules:
                if r.matches(joined, body.get("model")):
                    r.served += 1
                    rule = r
                    break
        kind = rule.kind if rule else "ok"
        entry["outcome"] = kind
        if state.latency:
            await asyncio.sleep(state.latency)
        if rule is not None:
            if kind in ("latency", "timeout"):
                await asyncio.sleep(rule.delay)
            elif kind in ("429", "500", "503", "400"):
                headers = {}
                if rule.retry_after is not None:
                    headers["Retry-After"] = str(rule.retry_after)
                msg = rule.text or f"mock error {kind}"
                return web.json_response(
                    {"error": {"message": msg, "type": "mock"}}, status=int(kind), headers=headers
                )
            elif kind == "reset":
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return web.Response(status=500)  # never sent: the connection is gone
            elif kind == "malformed":
                return web.Response(
                    text='{"id": "x", "choices": [ this is not json',
                    status=200,
                    content_type="application/json",
                )
            elif kind == "empty":
                reply = _completion("", str(body.get("model")), len(joined))
                reply["choices"] = []
                return web.json_response(reply)
            elif kind == "trickle":
                body = json.dumps(_completion("trickled", str(body.get("model")), 10)).encode()
                resp = web.StreamResponse(status=200, headers={"Content-Length": str(len(body))})
                resp.content_type = "application/json"
                await resp.prepare(request)
                for i in range(len(body)):
                    await resp.write(body[i : i + 1])
                    await asyncio.sleep(rule.delay)
                await resp.write_eof()
                return resp
            elif kind == "truncated":
                resp = web.StreamResponse(status=200, headers={"Content-Length": "500"})
                resp.content_type = "application/json"
                await resp.prepare(request)
                await resp.write(b'{"id": "chatcmpl-mock", "choices": [{"index": 0, "mess')
                transport = request.transport
                if transport is not None:
                    transport.close()
                return resp
        if state.reject_json_schema and rf.get("type") == "json_schema":
            entry["outcome"] = "rejected_json_schema"
            return web.json_response(
                {"error": {"message": "response_format json_schema is not supported"}}, status=500
            )
        if rule is not None and kind == "reply":
            text = rule.text or ""
        else:
            schema = None
            if rf.get("type") == "json_schema":
                schema = rf.get("json_schema", {}).get("schema")
            elif rf.get("type") == "json_object":
                schema = rf.get("schema")
            if schema:
                text = json.dumps(example_for_schema(schema, digest))
            elif state.unique_text:
                with state.lock:
                    state.served += 1
                    n = state.served
                text = f"Mock answer {digest} #{n}."
            else:
                text = f"Mock answer {digest}."
        return web.json_response(_completion(text, str(body.get("model")), len(joined)))

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "mock", "object": "model"}]})

    async def moderations(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON body"}}, status=400)
        raw = body.get("input")
        inputs = [str(raw)] if isinstance(raw, str) else [str(x) for x in raw or []]
        entry: dict[str, Any] = {
            "t": time.time(),
            "path": "/v1/moderations",
            "digest": messages_digest([{"content": x} for x in inputs]),
            "auth": request.headers.get("Authorization"),
            "model": body.get("model"),
        }
        with state.lock:
            state.log.append(entry)
        results = []
        for text in inputs:
            rule: Rule | None = None
            with state.lock:
                for r in state.rules:
                    if r.matches(text, body.get("model")):
                        r.served += 1
                        rule = r
                        break
            entry["outcome"] = rule.kind if rule else "ok"
            if rule is not None and rule.kind in ("429", "500", "503", "400"):
                headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after else {}
                return web.json_response(
                    {"error": {"message": rule.text or f"mock error {rule.kind}"}},
                    status=int(rule.kind),
                    headers=headers,
                )
            given = json.loads(rule.text or "{}") if rule and rule.kind == "reply" else {}
            results.append(moderation_result(given))
        return web.json_response(
            {"id": "modr-mock", "model": str(body.get("model")), "results": results}
        )

    async def set_rules(request: web.Request) -> web.Response:
        data = await request.json()
        with state.lock:
            state.rules = [Rule.from_dict(d) for d in data]
        return web.json_response({"rules": len(state.rules)})

    async def get_log(request: web.Request) -> web.Response:
        with state.lock:
            return web.json_response(list(state.log))

    async def reset(request: web.Request) -> web.Response:
        with state.lock:
            state.rules.clear()
            state.log.clear()
            state.max_in_flight = state.in_flight
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/moderations", moderations)
    app.router.add_post("/_control/rules", set_rules)
    app.router.add_get("/_control/log", get_log)
    app.router.add_post("/_control/reset", reset)
    return app


class MockServer(LoopbackServer):
    """The mock server on 127.0.0.1 in a background thread (port 0 picks a free port)."""

    thread_name = "mockserver"
    backlog = 1024

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        api_key: str | None = None,
        reject_json_schema: bool = False,
        throttle_above: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.state = ServerState(
            latency=latency,
            api_key=api_key,
            reject_json_schema=reject_json_schema,
            throttle_above=throttle_above,
        )

    def make_app(self) -> web.Application:
        return make_app(self.state)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        with self.state.lock:
            self.state.rules = [Rule.from_dict(d) for d in rules]

    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.log)

    @property
    def max_in_flight(self) -> int:
        """The most chat requests handled at once since start (or the last reset)."""
        with self.state.lock:
            return self.state.max_in_flight

    def reset(self) -> None:
        with self.state.lock:
            self.state.rules.clear()
            self.state.log.clear()
            self.state.max_in_flight = self.state.in_flight


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Scripted OpenAI-compatible mock server (loopback).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    p.add_argument("--reject-json-schema", action="store_true")
    p.add_argument(
        "--throttle-above", type=int, help="answer 429 while more requests are in flight"
    )
    p.add_argument(
        "--unique-text",
        action="store_true",
        help="free-text replies differ even for identical requests (as real samples do)",
    )
    p.add_argument("--rules", help="JSON file with a list of rules")
    args = p.parse_args(argv)
    state = ServerState(
        latency=args.latency,
        reject_json_schema=args.reject_json_schema,
        throttle_above=args.throttle_above,
        unique_text=args.unique_text,
    )
    if args.rules:
        with open(args.rules, encoding="utf-8") as fh:
            state.rules = [Rule.from_dict(d) for d in json.load(fh)]
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(
            make_app(state),
            host=args.host,
            port=args.port,
            access_log=None,
            print=None,
            backlog=1024,
        )


if __name__ == "__main__":
    main()
