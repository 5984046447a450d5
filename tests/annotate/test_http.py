"""The annotation app's security over plain HTTP, against a real uvicorn server on a free
loopback port: token exchange and cookie flags, headers, CSRF, Origin, scoping to the session's
annotator, 403/404/413/415/400 pages, a generic 500 page, static files, logout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from annotate_support import Client, response_of
from fastapi import FastAPI

from crisiseval.annotate import load_project
from crisiseval.annotate._app import CONTENT_SECURITY_POLICY
from crisiseval.annotate._tokens import csrf_token
from crisiseval.store import Store


def _signed_in(served: Any, who: str = "alice") -> Client:
    client = Client(served.base)
    reply = client.open_link(served.links[who])
    assert reply.status == 303
    return client


def _csrf(client: Client, path: str = "/") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.body)
    assert match, page.body[:500]
    return match.group(1)


def _answers(run_dir: Path, task: str = "labels") -> dict[tuple[str, str], Any]:
    with Store.open(run_dir, read_only=True) as store:
        return {(a.annotator, a.target_id): a for a in store.annotations(task=task)}


def test_the_token_becomes_an_httponly_strict_cookie(run_dir: Path, serve: Any) -> None:
    served = serve(run_dir)
    client = Client(served.base)
    token = served.links["alice"].rsplit("/", 1)[1]
    reply = client.open_link(served.links["alice"])
    assert reply.status == 303 and reply.header("location") == "/"
    cookie = reply.header("set-cookie") or ""
    assert re.match(r"crisiseval_annotate=[A-Za-z0-9_-]{40,};", cookie)
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert token not in cookie
    home = client.get("/")
    assert home.status == 200 and 'id="whoami">alice<' in home.body
    for name, value in {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }.items():
        assert home.header(name) == value
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "<script>" not in home.body  # no inline script: the CSP would refuse it anyway
    # only hashes are kept: neither the link token nor the session id is in the store
    session = client.cookie.split("=", 1)[1] if client.cookie else ""
    raw = b"".join(p.read_bytes() for p in run_dir.glob("crisiseval.sqlite*"))
    assert token.encode() not in raw and session.encode() not in raw


def test_without_a_valid_session_every_page_is_403(
    run_dir: Path, item_ids: list[str], serve: Any
) -> None:
    served = serve(run_dir)
    client = Client(served.base)
    assert client.get("/t/wrong").status == 403
    assert client.cookie is None
    for path in ("/", f"/item/{item_ids[0]}", "/admin"):
        reply = client.get(path)
        assert reply.status == 403, path
        assert "personal link" in reply.body
    client.cookie = "crisiseval_annotate=forged-session-id"
    assert client.get("/").status == 403
    reply = client.post(f"/item/{item_ids[0]}", {"value": "self_harm", "csrf": "x"})
    assert reply.status == 403
    assert _answers(run_dir) == {}


def test_unknown_item_is_404(run_dir: Path, serve: Any) -> None:
    served = serve(run_dir)
    client = _signed_in(served)
    reply = client.get("/item/it_0000000000000000")
    assert reply.status == 404 and "No such item" in reply.body
    csrf = _csrf(client)
    assert client.post("/item/it_0000000000000000", {"csrf": csrf, "value": "1"}).status == 404
    assert client.get("/no/such/page").status == 404


def test_every_post_needs_the_sessions_csrf_token(
    run_dir: Path, item_ids: list[str], serve: Any
) -> None:
    served = serve(run_dir)
    alice = _signed_in(served)
    bob = _signed_in(served, "bob")
    target = f"/item/{item_ids[0]}"
    form = {"value": "self_harm", "action": "answer"}
    assert alice.post(target, form).status == 403  # none
    assert alice.post(target, {**form, "csrf": "0" * 64}).status == 403  # wrong
    assert alice.post(target, {**form, "csrf": _csrf(bob)}).status == 403  # another session's
    good = {**form, "csrf": _csrf(alice)}
    foreign = alice.post(target, good, headers={"Origin": "http://evil.example"})
    assert foreign.status == 403 and "another site" in foreign.body
    assert _answers(run_dir) == {}
    ok = alice.post(target, good, headers={"Origin": served.base})
    assert ok.status == 303
    assert _answers(run_dir)[("alice", item_ids[0])].value == "self_harm"
    assert alice.post("/logout", {}).status == 403  # logout is a POST too


def test_an_annotator_can_neither_read_nor_write_anothers_answers(
    run_dir: Path, item_ids: list[str], serve: Any
) -> None:
    served = serve(run_dir)
    alice = _signed_in(served)
    bob = _signed_in(served, "bob")
    target = f"/item/{item_ids[1]}"
    alice.post(
        target,
        {"csrf": _csrf(alice), "value": "self_harm", "note": "alice-secret-note", "flag": "1"},
    )
    page = bob.get(target)
    assert "alice-secret-note" not in page.body and "Not answered yet." in page.body
    assert "checked" not in re.sub(r'id="flag"[^>]*', "", page.body.split("<fieldset>")[1])
    # a form naming alice still writes bob's answer only
    reply = bob.post(
        target,
        {"csrf": _csrf(bob), "value": "no_crisis", "annotator": "alice", "action": "answer"},
    )
    assert reply.status == 303
    answers = _answers(run_dir)
    assert answers[("alice", item_ids[1])].value == "self_harm"
    assert answers[("bob", item_ids[1])].value == "no_crisis"
    assert "alice-secret-note" not in bob.get("/").body
    # the admin page is the admin's only; the admin link opens no item
    assert bob.get("/admin").status == 403
    admin = _signed_in(served, "admin")
    assert admin.get(target).status == 403
    assert admin.get("/").status == 303  # to /admin
    assert admin.get("/admin").status == 200


def test_bad_forms_are_refused_with_a_page(run_dir: Path, item_ids: list[str], serve: Any) -> None:
    served = serve(run_dir)
    client = _signed_in(served)
    target = f"/item/{item_ids[0]}"
    csrf = _csrf(client)
    big = client.post(target, {"csrf": csrf, "note": "x" * 20000})
    assert big.status == 413
    json_body = client.request(
        "POST", target, body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert json_body.status == 415
    unknown = client.post(target, {"csrf": csrf, "value": "not-a-label"})
    assert unknown.status == 400 and "unknown label" in unknown.body.lower()
    empty = client.post(target, {"csrf": csrf, "note": "kept text"})
    assert empty.status == 400 and "Choose a label" in empty.body
    assert "kept text" in empty.body  # the note is not lost
    twice = client.request(
        "POST",
        target,
        body=f"csrf={csrf}&value=self_harm&value=no_crisis".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status == 400
    assert _answers(run_dir) == {}


def test_a_failure_shows_a_generic_500_page(run_dir: Path, serve: Any) -> None:
    def add_failing_route(app: FastAPI) -> None:
        async def boom() -> None:
            raise RuntimeError("internal detail /secret/path.py")

        app.add_api_route("/boom", boom)

    served = serve(run_dir, routes=add_failing_route)
    reply = Client(served.base).get("/boom")
    assert reply.status == 500
    assert "Traceback" not in reply.body and "secret" not in reply.body
    assert "RuntimeError" not in reply.body and "logged on the server" in reply.body
    assert reply.header("content-security-policy") == CONTENT_SECURITY_POLICY


def test_unknown_host_names_are_refused(run_dir: Path, serve: Any) -> None:
    served = serve(run_dir)
    client = Client(served.base)
    rebound = client.get(
        "/t/" + served.links["alice"].rsplit("/", 1)[1], headers={"Host": "evil.example"}
    )
    assert rebound.status == 400 and client.cookie is None
    assert client.get("/", headers={"Host": f"localhost:{served.port}"}).status == 403


def test_static_files_and_logout(run_dir: Path, serve: Any) -> None:
    served = serve(run_dir)
    client = _signed_in(served)
    js = client.get("/static/annotate.js")
    assert js.status == 200 and js.header(
        "content-type",
    ).startswith("text/javascript")
    assert "keydown" in js.body
    assert client.get("/static/annotate.css").header("content-type").startswith("text/css")
    assert client.get("/static/../_app.py").status == 404
    assert client.get("/static/other.js").status == 404
    csrf = _csrf(client)
    cookie = client.cookie
    reply = client.post("/logout", {"csrf": csrf})
    assert reply.status == 200 and "Signed out" in reply.body
    client.cookie = cookie
    assert client.get("/").status == 403  # the session is gone, not just the cookie


def test_the_csrf_token_is_tied_to_the_session(run_dir: Path, serve: Any) -> None:
    served = serve(run_dir)
    client = _signed_in(served)
    session = (client.cookie or "").split("=", 1)[1]
    assert _csrf(client) == csrf_token(session)
    with Store.open(run_dir, read_only=True) as store:
        project = load_project(store, "labels")
    assert project is not None and len(project.sessions) == 1
    assert session not in project.model_dump_json()


def test_a_scores_answer_is_a_human_judgment(
    run_dir: Path, item_ids: list[str], serve: Any
) -> None:
    served = serve(run_dir, "scores", annotators=("carol",))
    client = _signed_in(served, "carol")
    rid = response_of(item_ids[2])
    assert client.post(f"/item/{rid}", {"csrf": _csrf(client), "value": "9"}).status == 400
    assert client.post(f"/item/{rid}", {"csrf": _csrf(client), "value": "2"}).status == 303
    with Store.open(run_dir, read_only=True) as store:
        j = store.judgments_frame()
    row = j[j["judge"] == "human:carol"].iloc[0]
    assert (row["response_id"], row["score"], row["judge_kind"]) == (rid, 2.0, "human")
    assert row["label"] == "no_crisis" and row["judge_run"] == 0


def test_a_conversation_is_shown_turn_by_turn(
    run_dir: Path, item_ids: list[str], serve: Any
) -> None:
    from crisiseval.store import ResponseRecord, TurnRecord

    turns = (
        TurnRecord(index=0, role="user", text="I have been feeling low"),
        TurnRecord(index=1, role="assistant", text="I'm here. <b>not bold</b>"),
    )
    with Store.open(run_dir) as store:
        store.upsert_responses(
            [
                ResponseRecord(
                    response_id="rs_conversation01",
                    item_id=item_ids[0],
                    respondent="resp-a",
                    run_index=1,
                    status="ok",
                    origin="converse",
                    kind="conversation",
                    turns=turns,
                )
            ]
        )
    served = serve(run_dir, "conversations", annotators=("dana",))
    client = _signed_in(served, "dana")
    page = client.get("/item/rs_conversation01")
    assert page.status == 200
    assert 'class="turn role-user"><span class="who">person</span>' in page.body
    assert 'class="turn role-assistant"><span class="who">assistant</span>' in page.body
    assert "I&#39;m here. &lt;b&gt;not bold&lt;/b&gt;" in page.body
    assert "resp-a" not in page.body
    reply = client.post("/item/rs_conversation01", {"csrf": _csrf(client), "value": "3"})
    assert reply.status == 303
    with Store.open(run_dir, read_only=True) as store:
        scored = store.judgments_frame("conversation")
    assert scored[["judge", "score"]].values.tolist() == [["human:dana", 3.0]]
