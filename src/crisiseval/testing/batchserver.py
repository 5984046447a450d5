"""A loopback fake of an OpenAI-compatible files + batches API, for the batch backend's tests.

Routes (on 127.0.0.1, port 0 picks a free one): ``POST /v1/files`` (multipart upload, any
purpose), ``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}`` and
``POST /v1/batches/{id}/cancel``. A batch is checked when it is created (its file exists and was
uploaded for ``batch``, the endpoint is ``/v1/chat/completions``, every line is a JSON object with
a unique ``custom_id``, ``method: POST``, that ``url`` and a body with ``model`` and
``messages``); a batch that fails the check is ``failed`` with the reason in ``errors``.

What happens to a batch is scripted by a :class:`Plan` (the plans are used in order, one per
created batch, then :attr:`BatchServer.default`): how many polls it answers ``in_progress``, its
final status (``completed``, ``expired``, ``cancelled`` or ``failed``), which lines fail (a line
whose messages contain one of ``fail``: an error line with HTTP ``fail_status``), which lines get
no result (``missing``: written as a ``batch_expired``/``batch_cancelled`` error line as OpenAI
does, or left out) and scripted reply texts. Every other line gets a deterministic reply: a JSON
object valid for the line's ``response_format`` schema
(:func:`~crisiseval.testing.mockserver.example_for_schema`), else a short text.

Everything received is kept for the tests: :meth:`BatchServer.log` (method, path, whether an
``Authorization`` header came), :meth:`BatchServer.created` (batch ids in order) and
:meth:`BatchServer.lines` (the parsed input lines of a batch).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from crisiseval.testing._loopback import LoopbackServer
from crisiseval.testing.mockserver import example_for_schema, messages_digest

CHAT = "/v1/chat/completions"
FinalStatus = Literal["completed", "expired", "cancelled", "failed"]


@dataclass
class Plan:
    """What the fake does with one batch."""

    status: FinalStatus = "completed"
    polls: int = 1
    """Polls answered ``in_progress`` before the batch ends (a huge number: until released)."""
    fail: list[str] = field(default_factory=list)
    """Lines whose messages contain one of these end as error lines."""
    fail_status: int = 500
    fail_message: str | None = None
    """The error message of a failed line (default: ``fake line failure <status>``)."""
    missing: list[str] = field(default_factory=list)
    """Lines that get no result (for ``expired``/``cancelled``, empty means every line)."""
    missing_as: Literal["error", "absent"] = "error"
    """A missing line: an error line with code ``batch_expired``/``batch_cancelled``, or none."""
    replies: dict[str, str] = field(default_factory=dict)
    """Substring of the messages -> the reply text of that line (e.g. text that is not JSON)."""
    error: str = "the batch could not be processed"
    """The reason of a ``failed`` batch."""


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    plan: Plan
    created_at: int
    polls_left: int
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    metadata: dict[str, str] | None = None
    ended_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86_400,
            "completed_at": self.ended_at if self.status == "completed" else None,
            "expired_at": self.ended_at if self.status == "expired" else None,
            "cancelled_at": self.ended_at if self.status == "cancelled" else None,
            "failed_at": self.ended_at if self.status == "failed" else None,
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }


@dataclass
class _State:
    api_key: str | None
    default: Plan
    plans: list[Plan] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (purpose, bytes)
    batches: dict[str, _Batch] = field(default_factory=dict)
    inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # batch id -> lines
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self.ids):05d}"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "fake"}}, status=status)


def _joined(line: dict[str, Any]) -> str:
    msgs = (line.get("body") or {}).get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))


def _check_lines(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], str | None]:
    """The input file's lines, or the reason the batch is refused."""
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            return [], f"line {n}: not JSON"
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            return [], f"line {n}: no custom_id"
        if line["custom_id"] in seen:
            return [], f"line {n}: custom_id {line['custom_id']} is used twice"
        seen.add(line["custom_id"])
        if line.get("method") != "POST" or line.get("url") != endpoint:
            return [], f"line {n}: method must be POST and url {endpoint}"
        body = line.get("body")
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            return [], f"line {n}: the body needs model and messages"
        lines.append(line)
    if not lines:
        return [], "the input file has no requests"
    return lines, None


def _reply(line: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The chat completion of one input line."""
    body = line["body"]
    joined = _joined(line)
    text: str | None = None
    for needle, reply in plan.replies.items():
        if needle in joined:
            text = reply
            break
    if text is None:
        digest = messages_digest(body["messages"])
        rf = body.get("response_format") or {}
        schema = None
        if rf.get("type") == "json_schema":
            schema = (rf.get("json_schema") or {}).get("schema")
        elif rf.get("type") == "json_object":
            schema = rf.get("schema")
        text = json.dumps(example_for_schema(schema, digest)) if schema else f"Fake {digest}."
    tin, tout = max(1, len(joined) // 4), max(1, len(text) // 4)
    return {
        "id": "chatcmpl-fakebatch",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
    }


def _finish(state: _State, b: _Batch, status: str) -> None:
    """End a batch: write its output and error files as the plan says (lock held)."""
    plan = b.plan
    b.status = status
    b.ended_at = int(time.time())
    if status == "failed":
        b.errors = [{"code": "failed", "message": plan.error, "line": None, "param": None}]
        return
    lines = state.inputs.get(b.id, [])
    out: list[str] = []
    err: list[str] = []
    ok = failed = 0
    for n, line in enumerate(lines):
        joined = _joined(line)
        rid = f"batch_req_{b.id}_{n}"
        gone = status in ("expired", "cancelled") and not plan.missing
        if gone or any(m in joined for m in plan.missing):
            if plan.missing_as == "error":
                code = "batch_cancelled" if status == "cancelled" else "batch_expired"
                err.append(
                    json.dumps(
                        {
                            "id": rid,
                            "custom_id": line["custom_id"],
                            "response": None,
                            "error": {"code": code, "message": f"not run: the batch {status}"},
                        }
                    )
                )
            continue
        if any(f in joined for f in plan.fail):
            failed += 1
            err.append(
                json.dumps(
                    {
                        "id": rid,
                        "custom_id": line["custom_id"],
                        "response": {
                            "status_code": plan.fail_status,
                            "request_id": rid,
                            "body": {
                                "error": {
                                    "message": plan.fail_message
                                    or f"fake line failure {plan.fail_status}",
                                    "type": "server_error",
                                }
                            },
                        },
                        "error": None,
                    }
                )
            )
            continue
        ok += 1
        out.append(
            json.dumps(
                {
                    "id": rid,
                    "custom_id": line["custom_id"],
                    "response": {"status_code": 200, "request_id": rid, "body": _reply(line, plan)},
                    "error": None,
                }
            )
        )
    b.counts = {"total": len(lines), "completed": ok, "failed": failed}
    if out:
        b.output_file_id = state.new_id("file-out")
        state.files[b.output_file_id] = ("batch_output", ("\n".join(out) + "\n").encode())
    if err:
        b.error_file_id = state.new_id("file-err")
        state.files[b.error_file_id] = ("batch_output", ("\n".join(err) + "\n").encode())


def make_app(state: _State) -> web.Application:
    @web.middleware
    async def guard(
        request: web.Request, handler: Any
    ) -> web.StreamResponse:  # the log and the key check, for every route
        entry = {
            "t": time.time(),
            "method": request.method,
            "path": request.path,
            "auth": request.headers.get("Authorization") is not None,
        }
        with state.lock:
            state.log.append(entry)
        if state.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {state.api_key}"
        ):
            return _error(401, "invalid api key")
        response: web.StreamResponse = await handler(request)
        return response

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        purpose = str(form.get("purpose") or "")
        upload = form.get("file")
        if not purpose or not isinstance(upload, web.FileField):
            return _error(400, "a multipart body with file and purpose is needed")
        data = upload.file.read()
        with state.lock:
            fid = state.new_id("file")
            state.files[fid] = (purpose, data)
        return web.json_response(
            {
                "id": fid,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": purpose,
                "status": "processed",
            }
        )

    async def content(request: web.Request) -> web.Response:
        with state.lock:
            f = state.files.get(request.match_info["file_id"])
        if f is None:
            return _error(404, "no such file")
        return web.Response(body=f[1], content_type="application/octet-stream")

    async def create(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid JSON body")
        fid = str(body.get("input_file_id") or "")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be 24h")
        with state.lock:
            f = state.files.get(fid)
            if f is None:
                return _error(400, f"no such file: {fid}")
            plan = state.plans.pop(0) if state.plans else state.default
            b = _Batch(
                id=state.new_id("batch"),
                input_file_id=fid,
                endpoint=str(body.get("endpoint")),
                plan=plan,
                created_at=int(time.time()),
                polls_left=plan.polls,
                metadata=body.get("metadata"),
            )
            state.batches[b.id] = b
            reason = None
            if f[0] != "batch":
                reason = f"the input file was uploaded for {f[0]!r}, not 'batch'"
            elif b.endpoint != CHAT:
                reason = f"unsupported endpoint {b.endpoint}"
            else:
                lines, reason = _check_lines(f[1], b.endpoint)
                state.inputs[b.id] = lines
                b.counts["total"] = len(lines)
            if reason is not None:
                b.status = "failed"
                b.ended_at = b.created_at
                b.errors = [{"code": "invalid_request", "message": reason}]
            return web.json_response(b.as_json())

    async def retrieve(request: web.Request) -> web.Response:
        with state.lock:
            b = state.batches.get(request.match_info["batch_id"])
            if b is None:
                return _error(404, "no such batch")
            if b.status in ("validating", "in_progress", "cancelling"):
                if b.polls_left > 0:
                    b.polls_left -= 1
                    if b.status == "validating":
                        b.status = "in_progress"
                else:
                    final = "cancelled" if b.status == "cancelling" else b.plan.status
                    _finish(state, b, final)
            return web.json_response(b.as_json())

    async def cancel(request: web.Request) -> web.Response:
        with state.lock:
            b = state.batches.get(request.match_info["batch_id"])
            if b is None:
                return _error(404, "no such batch")
            if b.status in ("validating", "in_progress"):
                b.status = "cancelling"
                b.polls_left = 0
            return web.json_response(b.as_json())

    app = web.Application(middlewares=[guard], client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}/content", content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches/{batch_id}", retrieve)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel)
    return app


class BatchServer(LoopbackServer):
    """The fake on 127.0.0.1 in a background thread; ``with BatchServer() as srv: ...``."""

    thread_name = "batchserver"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        plans: list[Plan] | None = None,
        default: Plan | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.state = _State(api_key=api_key, default=default or Plan(), plans=list(plans or []))

    def make_app(self) -> web.Application:
        return make_app(self.state)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def default(self) -> Plan:
        return self.state.default

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

    # ------------------------------------------------------------------ what it saw
    def log(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(e) for e in self.state.log]

    def created(self) -> list[str]:
        """The ids of the batches created, in order (failed ones included)."""
        with self.state.lock:
            return list(self.state.batches)

    def lines(self, batch_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.inputs.get(batch_id, []))

    def custom_ids(self, batch_id: str) -> list[str]:
        return [str(line["custom_id"]) for line in self.lines(batch_id)]

    def batch(self, batch_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.batches[batch_id].as_json()

    def polls(self, batch_id: str) -> int:
        path = f"/v1/batches/{batch_id}"
        return sum(1 for e in self.log() if e["method"] == "GET" and e["path"] == path)
