"""A loopback fake of Anthropic's Messages and Message Batches APIs, for the client's tests.

Routes (on 127.0.0.1, port 0 picks a free one; :attr:`AnthropicServer.base_url` has no ``/v1``,
as the SDK adds it): ``POST /v1/messages``, ``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}``, ``GET /v1/messages/batches/{id}/results`` (JSONL) and
``POST /v1/messages/batches/{id}/cancel``. Every request needs an ``anthropic-version`` header
and, when the server was given an ``api_key``, that key in an ``x-api-key`` header or as
``Authorization: Bearer <key>`` (what the installed SDK, 2.x, sends for ``api_key``). Errors have
the API's shape, ``{"type": "error", "error": {"type": ..., "message": ...}}``.

A Messages body (the one of ``POST /v1/messages`` and every batch request's ``params``) is checked
as the API does, strictly enough to catch a client that forgot to translate from OpenAI's shape:
``model``, a positive ``max_tokens``, a non-empty ``messages`` list of ``user``/``assistant``
messages whose content is a string or a list of text blocks, the system prompt in the top-level
``system`` field (a ``system`` role is refused), ``temperature`` and ``top_p`` within 0..1, and
none of OpenAI's ``response_format``, ``seed``, ``n``, ``frequency_penalty``,
``presence_penalty`` or ``stop`` (see
:func:`~crisiseval.testing.anthropic_messages.check_params`).

The reply text of a request is a scripted reply (the first of ``replies`` whose key is a
substring of the system and message texts joined), else, when the last user message carries
``matches this JSON schema, and nothing else:\\n`` followed by a JSON schema, a JSON object valid
for that schema (:func:`~crisiseval.testing.mockserver.example_for_schema`), else a short text.
A reply longer than ``max_tokens * 4`` characters is cut there with ``stop_reason: max_tokens``.
:meth:`AnthropicServer.fail_next` makes the next synchronous requests fail (429 with a
``retry-after`` header, 529 overloaded, ...).

What happens to a batch is scripted by a :class:`Plan` (the plans are used in order, one per
created batch, then :attr:`AnthropicServer.default`): how many polls it answers ``in_progress``,
how it ends (every request ran, the 24 h window ``expired`` or it was ``canceled``: the requests
in ``missing``, or all of them, get that result), which requests end ``errored``, which get no
result line at all (``omit``, a provider bug) and scripted reply texts. A batch whose shape is
wrong (no ``requests`` list, a bad or repeated ``custom_id``) is refused with a 400 and is not
created; a request whose ``params`` fail the check ends ``errored`` (``invalid_request_error``)
when the batch ends, as the API checks each request when it runs it. ``cancel`` ends the batch at
its next poll. Results come in the reverse of the input order (the API does not keep it), and
``request_counts`` always agrees with the result lines.

Everything received is kept for the tests: :meth:`AnthropicServer.log` (method, path, whether a key
came, as ``x-api-key`` or as a bearer token, time), :meth:`AnthropicServer.requests` (the bodies of
``POST /v1/messages``), :meth:`AnthropicServer.created` (batch ids in order) and
:meth:`AnthropicServer.batch_requests` (the parsed requests of a batch).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from crisiseval.testing._loopback import LoopbackServer
from crisiseval.testing.anthropic_messages import (
    check_params,
    joined_text,
    make_message,
)

Outcome = Literal["ended", "expired", "canceled"]


MAX_BATCH_REQUESTS = 100_000
WINDOW_S = 86_400.0
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
"""The API's error type of an HTTP status (any other status: ``api_error``)."""


@dataclass
class Plan:
    """What the fake does with one batch."""

    polls: int = 1
    """Polls answered ``in_progress`` before the batch ends (a huge number: until released)."""
    outcome: Outcome = "ended"
    """``ended``: every request ran; ``expired``/``canceled``: the requests in ``missing`` (every
    request when it is empty) get that result, the others ran."""
    fail: list[str] = field(default_factory=list)
    """Requests whose texts contain one of these end ``errored``."""
    fail_type: str = "api_error"
    fail_message: str | None = None
    """The message of an errored request (default: ``fake request failure (<fail_type>)``)."""
    missing: list[str] = field(default_factory=list)
    """The requests that expire or are canceled (``expired``/``canceled``; empty: all)."""
    replies: dict[str, str] = field(default_factory=dict)
    """Substring of a request's texts -> its reply text (e.g. text that is not JSON)."""
    omit: list[str] = field(default_factory=list)
    """Requests whose texts contain one of these get no result line at all."""


@dataclass
class _Batch:
    id: str
    plan: Plan
    requests: list[dict[str, Any]]
    created_at: float
    polls_left: int
    status: Literal["in_progress", "canceling", "ended"] = "in_progress"
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    results: bytes | None = None

    def as_json(self, base_url: str) -> dict[str, Any]:
        counts = self.counts or {
            "processing": len(self.requests),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        ended = self.status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": dict(counts),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + WINDOW_S),
            "ended_at": rfc3339(self.ended_at),
            "cancel_initiated_at": rfc3339(self.cancel_initiated_at),
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


@dataclass
class _Fault:
    status: int
    error_type: str
    retry_after: str | None


@dataclass
class _State:
    api_key: str | None
    default: Plan
    plans: list[Plan] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    base_url: str = ""
    batches: dict[str, _Batch] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # POST /v1/messages, in order
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    batch_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    request_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def rfc3339(t: float | None) -> str | None:
    """A time as the API writes it (``2024-08-20T18:37:24.100435Z``), or None."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, message: str, error_type: str | None = None) -> web.Response:
    kind = error_type or ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status)


def _finish(state: _State, b: _Batch, outcome: Outcome) -> None:
    """End a batch: write its result lines as the plan says (lock held)."""
    plan = b.plan
    now = time.time()
    b.status = "ended"
    b.ended_at = now
    if outcome == "canceled" and b.cancel_initiated_at is None:
        b.cancel_initiated_at = now
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    lines: list[str] = []
    for req in b.requests:
        params = req["params"]
        problem = check_params(params)
        joined = "" if problem else joined_text(params)
        if any(o in joined for o in plan.omit):
            continue
        result: dict[str, Any]
        not_run = outcome != "ended" and (
            not plan.missing or any(m in joined for m in plan.missing)
        )
        if not_run:
            result = {"type": outcome}
        elif problem:
            # The API checks each request's params when it runs it: an errored result, not a
            # refused batch.
            result = {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": problem},
                },
            }
        elif any(f in joined for f in plan.fail):
            message = plan.fail_message or f"fake request failure ({plan.fail_type})"
            result = {
                "type": "errored",
                "error": {"type": "error", "error": {"type": plan.fail_type, "message": message}},
            }
        else:
            msg_id = f"msg_fake{next(state.message_ids):05d}"
            result = {"type": "succeeded", "message": make_message(params, plan.replies, msg_id)}
        counts[str(result["type"])] += 1
        lines.append(json.dumps({"custom_id": req["custom_id"], "result": result}))
    lines.reverse()  # the API does not keep the input order
    b.counts = counts
    b.results = "".join(line + "\n" for line in lines).encode()


def _check_batch(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A batch body's requests, or the reason the whole batch is refused."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        return [], "requests: Field required (a list)"
    requests = body["requests"]
    if not requests:
        return [], "requests: must hold at least one request"
    if len(requests) > MAX_BATCH_REQUESTS:
        return [], f"requests: at most {MAX_BATCH_REQUESTS} requests (got {len(requests)})"
    seen: set[str] = set()
    for i, req in enumerate(requests):
        if not isinstance(req, dict):
            return [], f"requests.{i}: must be an object with custom_id and params"
        cid = req.get("custom_id")
        if not isinstance(cid, str) or not CUSTOM_ID.fullmatch(cid):
            return [], f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$ (got {cid!r})"
        if cid in seen:
            return [], f"requests.{i}.custom_id: {cid!r} is used twice; custom_ids must be unique"
        seen.add(cid)
        if not isinstance(req.get("params"), dict):
            return [], f"requests.{i}.params: must be an object"
    return requests, None


# ---------------------------------------------------------------------- the app
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(state: _State) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # the log, the key and version checks, JSON errors and a request-id, for every route
        x_api_key = request.headers.get("x-api-key")
        bearer = request.headers.get("Authorization")
        entry = {
            "t": time.time(),
            "method": request.method,
            "path": request.path,
            "auth": x_api_key is not None or bearer is not None,
            "x_api_key": x_api_key is not None,
            "bearer": bearer is not None,
        }
        with state.lock:
            state.log.append(entry)
            request_id = f"req_fake{next(state.request_ids):05d}"
        response: web.StreamResponse
        key = state.api_key
        if key is not None and x_api_key != key and bearer != f"Bearer {key}":
            response = _error(401, "invalid x-api-key")
        elif not request.headers.get("anthropic-version"):
            response = _error(400, "anthropic-version: header is required")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # no such route, wrong method
                response = _error(exc.status, exc.reason)
        response.headers["request-id"] = request_id
        return response

    async def read_json(request: web.Request) -> tuple[Any, web.Response | None]:
        try:
            return await request.json(), None
        except ValueError:
            return None, _error(400, "the body is not valid JSON")

    async def messages(request: web.Request) -> web.Response:
        body, bad = await read_json(request)
        if bad is not None:
            return bad
        with state.lock:
            if isinstance(body, dict):
                state.bodies.append(body)
            fault = state.faults.pop(0) if state.faults else None
            replies = dict(state.replies)
            msg_id = f"msg_fake{next(state.message_ids):05d}"
        if fault is not None:
            response = _error(fault.status, f"fake {fault.error_type}", fault.error_type)
            if fault.retry_after is not None:
                response.headers["retry-after"] = fault.retry_after
            return response
        problem = check_params(body)
        if problem:
            return _error(400, problem)
        return web.json_response(make_message(body, replies, msg_id))

    async def create(request: web.Request) -> web.Response:
        body, bad = await read_json(request)
        if bad is not None:
            return bad
        requests, problem = _check_batch(body)
        if problem:
            return _error(400, problem)
        with state.lock:
            plan = state.plans.pop(0) if state.plans else state.default
            b = _Batch(
                id=f"msgbatch_fake{next(state.batch_ids):05d}",
                plan=plan,
                requests=requests,
                created_at=time.time(),
                polls_left=plan.polls,
            )
            state.batches[b.id] = b
            return web.json_response(b.as_json(state.base_url))

    async def retrieve(request: web.Request) -> web.Response:
        with state.lock:
            b = state.batches.get(request.match_info["batch_id"])
            if b is None:
                return _error(404, "no such message batch")
            if b.status != "ended":
                if b.polls_left > 0:
                    b.polls_left -= 1
                else:
                    _finish(state, b, "canceled" if b.status == "canceling" else b.plan.outcome)
            return web.json_response(b.as_json(state.base_url))

    async def results(request: web.Request) -> web.Response:
        with state.lock:
            b = state.batches.get(request.match_info["batch_id"])
            if b is None:
                return _error(404, "no such message batch")
            if b.results is None:
                return _error(404, f"the results of {b.id} are not ready: it has not ended")
            return web.Response(body=b.results, content_type="application/binary")

    async def cancel(request: web.Request) -> web.Response:
        with state.lock:
            b = state.batches.get(request.match_info["batch_id"])
            if b is None:
                return _error(404, "no such message batch")
            if b.status == "in_progress":
                b.status = "canceling"
                b.cancel_initiated_at = time.time()
                b.polls_left = 0
            return web.json_response(b.as_json(state.base_url))

    app = web.Application(middlewares=[guard], client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/batches", create)
    app.router.add_get("/v1/messages/batches/{batch_id}", retrieve)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", results)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", cancel)
    return app


class AnthropicServer(LoopbackServer):
    """The fake on 127.0.0.1 in a background thread; ``with AnthropicServer() as srv: ...``."""

    thread_name = "anthropicserver"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        plans: list[Plan] | None = None,
        default: Plan | None = None,
        replies: dict[str, str] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.state = _State(
            api_key=api_key,
            default=default or Plan(),
            plans=list(plans or []),
            replies=dict(replies or {}),
        )

    def make_app(self) -> web.Application:
        return make_app(self.state)

    def started(self) -> None:
        self.state.base_url = self.base_url  # results_url names it

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url`` (no ``/v1``: the SDK adds it)."""
        return f"http://{self.host}:{self.port}"

    @property
    def default(self) -> Plan:
        """The plan of a batch created once the scripted plans are used up."""
        return self.state.default

    @property
    def replies(self) -> dict[str, str]:
        """Scripted replies of ``POST /v1/messages`` (substring -> text); edit it in place."""
        return self.state.replies

    # ------------------------------------------------------------------ scripting
    def script(self, *plans: Plan) -> None:
        """The plans of the next batches created, in order (replaces those not used yet)."""
        with self.state.lock:
            self.state.plans = list(plans)

    def release(self) -> None:
        """Every open batch ends at its next poll."""
        with self.state.lock:
            for b in self.state.batches.values():
                b.polls_left = 0

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        retry_after: float | str | None = None,
        error_type: str | None = None,
    ) -> None:
        """The next ``n`` ``POST /v1/messages`` answer ``status`` with its error type (or
        ``error_type``), and a ``retry-after`` header when one is given."""
        fault = _Fault(
            status=status,
            error_type=error_type or ERROR_TYPES.get(status, "api_error"),
            retry_after=None if retry_after is None else str(retry_after),
        )
        with self.state.lock:
            self.state.faults.extend([fault] * n)

    # ------------------------------------------------------------------ what it saw
    def log(self) -> list[dict[str, Any]]:
        """Every request: ``t``, ``method``, ``path``, ``auth`` (a key came), ``x_api_key`` and
        ``bearer`` (which header carried it)."""
        with self.state.lock:
            return [dict(e) for e in self.state.log]

    def requests(self) -> list[dict[str, Any]]:
        """The bodies received on ``POST /v1/messages``, in order (refused ones included)."""
        with self.state.lock:
            return list(self.state.bodies)

    def created(self) -> list[str]:
        """The ids of the batches created, in order (refused bodies create none)."""
        with self.state.lock:
            return list(self.state.batches)

    def batch_requests(self, batch_id: str) -> list[dict[str, Any]]:
        """The requests of a batch (``custom_id`` and ``params``), in the order sent."""
        with self.state.lock:
            b = self.state.batches.get(batch_id)
            return list(b.requests) if b is not None else []

    def custom_ids(self, batch_id: str) -> list[str]:
        return [str(r["custom_id"]) for r in self.batch_requests(batch_id)]

    def batch(self, batch_id: str) -> dict[str, Any]:
        """A batch's JSON as the API would answer it now (without counting as a poll)."""
        with self.state.lock:
            return self.state.batches[batch_id].as_json(self.state.base_url)

    def polls(self, batch_id: str) -> int:
        """How many times the batch was retrieved (the SDK's ``results()`` retrieves it too)."""
        path = f"/v1/messages/batches/{batch_id}"
        return sum(1 for e in self.log() if e["method"] == "GET" and e["path"] == path)
