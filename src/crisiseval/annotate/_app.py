"""The annotation web app (FastAPI): pages, sessions, CSRF, security headers.

Security, in one place:

* a link token is exchanged on first visit (``/t/<token>``) for a random session id in an
  HttpOnly, SameSite=Strict cookie, then the browser is sent to a URL without the token; the
  store keeps only sha256 hashes of tokens and session ids;
* every POST needs the session's CSRF token (an HMAC of the session id, in a hidden field) and,
  when the browser sends one, an ``Origin`` of this server;
* an annotator's pages read and write only its own answers (its name comes from the session,
  never from the request); the admin session reads progress and agreement, not answers;
* every page is a Jinja2 template with autoescape on (dataset text is never marked safe) under a
  Content-Security-Policy that allows only this server's own script and stylesheet (no inline
  code, no other origin, no framing);
* only known hosts are served (no DNS rebinding onto 127.0.0.1); request bodies are capped;
* an unknown item is a 404; any error is a plain page — a stack trace never reaches the browser
  (it is logged on the server).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.exceptions import HTTPException

from crisiseval.annotate._answers import NOTE_CHARS, Answer, check_value
from crisiseval.annotate._desk import Desk, ItemView
from crisiseval.annotate._model import ADMIN, Target, Task
from crisiseval.annotate._tokens import csrf_token, same
from crisiseval.store import Store
from crisiseval.taxonomy import Rubric, Taxonomy

__all__ = ["CONTENT_SECURITY_POLICY", "COOKIE", "SECURITY_HEADERS", "create_app"]

log = logging.getLogger("crisiseval.annotate")

COOKIE = "crisiseval_annotate"
MAX_BODY = 16 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin: the browser still sends Origin on our own form posts (no-referrer would turn
    # it into "null"), and nothing leaves for another site
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_STATIC = {"annotate.js": "text/javascript", "annotate.css": "text/css"}
_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    415: "Unsupported",
    500: "Something went wrong",
}
NO_SESSION = (
    "Open the personal link you were given to start (links are secret: each opens one "
    "annotator's queue)."
)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("crisiseval.annotate", "templates"),
        autoescape=True,  # every template is HTML; dataset text is never marked safe
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _static_files() -> dict[str, bytes]:
    root = resources.files("crisiseval.annotate") / "static"
    return {name: (root / name).read_bytes() for name in _STATIC}


def _host_of(header: str) -> str:
    """The host name of a Host header (``[::1]:8000`` -> ``::1``)."""
    parts = urlsplit("//" + header)
    return (parts.hostname or "").lower()


def create_app(
    run_dir: Path,
    task: Task,
    *,
    taxonomy: Taxonomy,
    rubric: Rubric,
    allowed_hosts: Sequence[str] | None = LOCAL_HOSTS,
    secure_cookie: bool = False,
) -> FastAPI:
    """The app serving ``task``'s project of the store in ``run_dir`` (it must exist; the
    caller holds the run directory's lock). The store is opened when the server starts, in the
    server's thread. ``allowed_hosts``: the Host names served (None: any)."""
    env = _environment()
    static = _static_files()
    max_key = min(9, len(taxonomy.labels)) if task == "labels" else 5
    hosts = None if allowed_hosts is None else {h.lower().strip("[]") for h in allowed_hosts}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(run_dir, create=False)
        try:
            app.state.desk = Desk(store, task, taxonomy, rubric)
            yield
        finally:
            store.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def page(
        template: str, status: int = 200, *, session: str | None = None, **ctx: Any
    ) -> HTMLResponse:
        html = env.get_template(template).render(
            task=task, max_key=max_key, csrf=csrf_token(session) if session else None, **ctx
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def message(status: int, text: str) -> HTMLResponse:
        return page("message.html.j2", status, title=_TITLES.get(status, "Error"), message=text)

    def desk(request: Request) -> Desk:
        d: Desk = request.app.state.desk
        return d

    def who(request: Request) -> tuple[str, str]:
        """(principal, session id) of the request's session; 403 without a valid one."""
        session = request.cookies.get(COOKIE)
        principal = desk(request).principal(session)
        if principal is None or session is None:
            raise HTTPException(403, NO_SESSION)
        return principal, session

    def annotator_of(request: Request) -> tuple[str, str]:
        principal, session = who(request)
        if principal == ADMIN:
            raise HTTPException(403, "The admin link shows progress and agreement, not items.")
        return principal, session

    def target_of(request: Request, target_id: str) -> Target:
        target = desk(request).target(target_id)
        if target is None:
            raise HTTPException(404, "No such item in this queue.")
        return target

    async def form_of(request: Request, session: str) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            raise HTTPException(415, "Send the page's form.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, "The form is too large.")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "The form could not be read.") from None
        form: dict[str, str] = {}
        for key, value in pairs:
            if key in form:
                raise HTTPException(400, f"The form gives {key} twice.")
            form[key] = value
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "The form came from another site.")
        if not same(form.get("csrf", ""), csrf_token(session)):
            raise HTTPException(403, "The form has expired: reload the page and try again.")
        return form

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if hosts is not None and _host_of(request.headers.get("host", "")) not in hosts:
            return message(400, "This server does not answer to that host name.")
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        text = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else None
        return message(exc.status_code, text or "There is no such page.")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return message(400, "The request could not be read.")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("annotate: %s %s failed", request.method, request.url.path, exc_info=exc)
        return message(500, "The server could not do that. The error is logged on the server.")

    @app.get("/t/{token}")
    async def open_link(request: Request, token: str) -> Response:
        found = desk(request).login(token) if len(token) <= 128 else None
        if found is None:
            raise HTTPException(403, "This link is not valid (it may have been replaced).")
        principal, session = found
        response = RedirectResponse(
            "/admin" if principal == ADMIN else "/", status_code=303, headers=SECURITY_HEADERS
        )
        response.set_cookie(
            COOKIE, session, httponly=True, samesite="strict", path="/", secure=secure_cookie
        )
        return response

    @app.get("/")
    async def home(request: Request) -> Response:
        principal, session = who(request)
        if principal == ADMIN:
            return RedirectResponse("/admin", status_code=303, headers=SECURITY_HEADERS)
        d = desk(request)
        return page(
            "home.html.j2",
            session=session,
            title="Instructions",
            who=principal,
            progress=d.progress(principal),
            first_open=d.first_open(principal),
            first=d.order(principal)[0],
            scale=rubric.scale,
        )

    def item_page(
        request: Request,
        view: ItemView,
        session: str,
        annotator: str,
        *,
        status: int = 200,
        note: str | None = None,
        flagged: bool | None = None,
        error: str | None = None,
    ) -> HTMLResponse:
        current = view.current
        return page(
            "item.html.j2",
            status,
            session=session,
            title=f"Item {view.position} of {view.total}",
            who=annotator,
            view=view,
            progress=desk(request).progress(annotator),
            note=note if note is not None else (current.note or "" if current else ""),
            flagged=flagged if flagged is not None else bool(current and current.flagged),
            error=error,
        )

    @app.get("/item/{target_id}")
    async def item(request: Request, target_id: str) -> Response:
        annotator, session = annotator_of(request)
        target = target_of(request, target_id)
        view = desk(request).view(annotator, target)
        return item_page(request, view, session, annotator)

    @app.post("/item/{target_id}")
    async def answer(request: Request, target_id: str) -> Response:
        annotator, session = annotator_of(request)
        form = await form_of(request, session)
        target = target_of(request, target_id)
        d = desk(request)
        action = form.get("action", "answer")
        note = form.get("note", "").strip()
        flagged = form.get("flag") == "1"

        def again(error: str) -> Response:
            view = d.view(annotator, target)
            return item_page(
                request,
                view,
                session,
                annotator,
                status=400,
                note=note,
                flagged=flagged,
                error=error,
            )

        if len(note) > NOTE_CHARS:
            return again(f"The note is too long (at most {NOTE_CHARS} characters).")
        if action == "skip":
            result = Answer(note=note or None, flagged=flagged, skipped=True)
        elif action == "answer":
            raw = form.get("value", "").strip()
            value = None
            if raw:
                try:
                    value = check_value(task, raw, taxonomy)
                except ValueError as exc:
                    return again(str(exc).capitalize() + ".")
            if value is None and not flagged:
                what = "a label" if task == "labels" else "a score"
                return again(f"Choose {what}, skip the item (s), or flag it with a note (f).")
            result = Answer(value=value, note=note or None, flagged=flagged)
        else:
            return again("Unknown action.")
        d.save(annotator, target, result)
        following = d.next_after(annotator, target)
        where = f"/item/{following.target_id}" if following is not None else "/"
        return RedirectResponse(where, status_code=303, headers=SECURITY_HEADERS)

    @app.get("/admin")
    async def admin(request: Request) -> Response:
        principal, session = who(request)
        if principal != ADMIN:
            raise HTTPException(403, "This page is for the admin link.")
        return page(
            "admin.html.j2",
            session=session,
            title="Admin",
            who="admin",
            admin=desk(request).admin(),
        )

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        _principal, session = who(request)
        await form_of(request, session)
        desk(request).logout(session)
        response = message(200, "Signed out. Open your link again to continue.")
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/static/{name}")
    async def static_file(name: str) -> Response:
        if name not in static:
            raise HTTPException(404)
        return Response(static[name], media_type=_STATIC[name], headers=SECURITY_HEADERS)

    return app
