"""The annotation app in a real headless Chromium (Playwright) against a real uvicorn server on a
free loopback port: keyboard labelling and reloads, per-annotator queues, a wrong link, an item
whose text holds a script, the admin page's kappa, flags, skips, a restart.

Skipped without Playwright or /usr/bin/chromium, except in CI (CRISISEVAL_REQUIRE_CHROMIUM=1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotate_support import ANSWER_INJECT, INJECT, response_of, start

from crisiseval.analysis import agreement as ag
from crisiseval.annotate import annotator_order, load_project
from crisiseval.sections import fmt_float
from crisiseval.store import Store
from crisiseval.taxonomy import LABELS


def _press(page: Any, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def _state(run_dir: Path, task: str = "labels") -> tuple[Any, Any, Any]:
    with Store.open(run_dir, read_only=True) as store:
        return (
            store.annotations(task=task, latest=True),
            store.labels_frame(),
            store.judgments_frame(),
        )


def test_labels_three_items_with_the_keyboard_and_keeps_progress_on_reload(
    run_dir: Path, serve: Any, page_for: Any
) -> None:
    served = serve(run_dir, "labels")
    page = page_for()
    page.goto(served.links["alice"])
    assert page.url == served.base + "/"  # the token is gone from the address bar
    assert "Content warning" in page.inner_text("#content-warning")
    assert page.get_attribute("html", "data-js") == "on"  # our script runs under the CSP
    start(page)
    visited = []
    for key in ("1", "3", "7"):
        visited.append(page.url.rsplit("/", 1)[1])
        _press(page, key)
    page.reload()
    assert page.inner_text("#answered") == "3"
    page.goto(served.base + "/")
    assert page.inner_text("#answered") == "3"
    assert page.inner_text("#start") == "Continue"
    page.goto(f"{served.base}/item/{visited[1]}")
    assert page.is_checked(f'input[value="{LABELS[2]}"]')
    assert page.inner_text("#current") == LABELS[2]
    # n and p move without answering
    _press(page, "n")
    assert page.url.endswith(visited[2])
    _press(page, "p")
    assert page.url.endswith(visited[1])
    answers, labels, _ = _state(run_dir)
    mine = {a.target_id: a.value for a in answers if a.annotator == "alice"}
    assert mine == dict(zip(visited, [LABELS[0], LABELS[2], LABELS[6]], strict=True))
    human = labels[labels["rater"] == "human:alice"].set_index("item_id")["label"].to_dict()
    assert human == mine  # ordinary human labels, no extra step


def test_a_second_annotator_sees_only_its_own_queue(
    run_dir: Path, serve: Any, page_for: Any
) -> None:
    served = serve(run_dir, "labels")
    alice = page_for()
    alice.goto(served.links["alice"])
    start(alice)
    first = alice.url.rsplit("/", 1)[1]
    alice.fill("#note", "alice's private note")
    alice.keyboard.press("Escape")  # leave the note: digits typed in it are text
    _press(alice, "2")
    bob = page_for()
    bob.goto(served.links["bob"])
    assert bob.inner_text("#whoami") == "bob"
    assert bob.inner_text("#answered") == "0"
    with Store.open(run_dir, read_only=True) as store:
        project = load_project(store, "labels")
    assert project is not None
    orders = {
        who: [t.target_id for t in annotator_order(project.targets, 0, who)]
        for who in ("alice", "bob")
    }
    assert orders["alice"] != orders["bob"]
    assert sorted(orders["alice"]) == sorted(orders["bob"])  # the same items, its own order
    assert bob.get_attribute("#start", "href") == f"/item/{orders['bob'][0]}"
    assert first == orders["alice"][0]
    bob.goto(f"{served.base}/item/{first}")
    assert bob.inner_text("#state").strip() == "Not answered yet."
    assert bob.locator('input[name="value"]:checked').count() == 0
    assert "alice" not in bob.content().replace('id="whoami"', "")
    assert bob.input_value("#note") == ""


def test_a_wrong_token_gets_403(run_dir: Path, serve: Any, page_for: Any) -> None:
    served = serve(run_dir, "labels")
    page = page_for()
    response = page.goto(served.base + "/t/not-a-valid-token")
    assert response is not None and response.status == 403
    assert "not valid" in page.inner_text("#message")
    response = page.goto(served.base + "/")
    assert response is not None and response.status == 403  # no session was made


def test_an_item_whose_text_holds_a_script_shows_it_as_text(
    run_dir: Path, item_ids: list[str], serve: Any, page_for: Any
) -> None:
    hostile = item_ids[3]
    labels = serve(run_dir, "labels")
    page = page_for()
    page.goto(labels.links["alice"])
    page.goto(f"{labels.base}/item/{hostile}")
    assert INJECT in page.inner_text("#input")
    assert page.get_attribute("html", "data-js") == "on"  # scripts run here: ours does
    assert "pwned" not in page.title()
    assert page.evaluate("window.pwned") is None
    assert page.locator("#input img").count() == 0
    scores = serve(run_dir, "scores", annotators=("carol",))
    page = page_for()
    page.goto(scores.links["carol"])
    page.goto(f"{scores.base}/item/{response_of(hostile)}")
    assert ANSWER_INJECT in page.inner_text("#answer")
    assert "pwned" not in page.title() and page.evaluate("window.pwned") is None
    # blinded: no respondent and no judge score on the page
    html = page.content()
    assert "resp-a" not in html and "judge-a" not in html


def test_the_admin_page_shows_the_kappa_of_the_submitted_labels(
    run_dir: Path, item_ids: list[str], serve: Any, page_for: Any
) -> None:
    served = serve(run_dir, "labels")
    given = {"alice": ["1", "2", "7"], "bob": ["1", "2", "1"]}
    for who, keys in given.items():
        page = page_for()
        page.goto(served.links[who])
        for item, key in zip(item_ids[:3], keys, strict=True):
            page.goto(f"{served.base}/item/{item}")
            _press(page, key)
    with Store.open(run_dir, read_only=True) as store:
        labels = store.labels_frame()
    fleiss = ag.fleiss_kappa(labels, ["human:alice", "human:bob"], invalid="category")
    cohen = ag.cohen_kappa(labels, "human:alice", "human:bob", invalid="category")
    assert fleiss.n_items == 3
    admin = page_for()
    admin.goto(served.links["admin"])
    assert admin.url == served.base + "/admin"
    cells = admin.locator("#t-live_fleiss tbody td").all_inner_texts()
    assert cells == ["2", "3", fmt_float(fleiss.value)]
    rows = admin.locator("#t-live_cohen tbody tr").all_inner_texts()
    pair = next(r for r in rows if r.startswith("human:alice\thuman:bob"))
    assert fmt_float(cohen.kappa) in pair
    progress = admin.locator("#progress-table tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in progress] == [["alice", "3"], ["bob", "3"]]
    # the admin link opens no item
    response = admin.goto(f"{served.base}/item/{item_ids[0]}")
    assert response is not None and response.status == 403


def test_flag_with_a_note_skip_and_score_on_the_scores_task(
    run_dir: Path, serve: Any, page_for: Any
) -> None:
    served = serve(run_dir, "scores", annotators=("carol",))
    page = page_for()
    page.goto(served.links["carol"])
    start(page)
    order = [page.url.rsplit("/", 1)[1]]
    assert page.inner_text("#category")  # the rubric's category is shown
    page.keyboard.press("f")
    assert page.is_checked("#flag")
    page.keyboard.type("the answer is cut off")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    order.append(page.url.rsplit("/", 1)[1])
    _press(page, "s")
    order.append(page.url.rsplit("/", 1)[1])
    _press(page, "4")
    answers, _, judgments = _state(run_dir, "scores")
    got = {a.target_id: a for a in answers}
    assert got[order[0]].flagged and got[order[0]].note == "the answer is cut off"
    assert got[order[0]].value is None
    assert got[order[1]].skipped
    assert got[order[2]].value == "4"
    human = judgments[judgments["judge"] == "human:carol"]
    assert human.set_index("response_id")["score"].to_dict() == {order[2]: 4.0}
    assert human["judge_kind"].tolist() == ["human"] and human["label"].notna().all()


def test_a_restart_of_the_server_loses_nothing(run_dir: Path, serve: Any, page_for: Any) -> None:
    first = serve(run_dir, "labels")
    page = page_for()
    page.goto(first.links["alice"])
    start(page)
    _press(page, "5")
    _press(page, "6")
    first.stop()
    again = serve(run_dir, "labels", annotators=None, links=first.links)
    assert again.port != first.port or again.base == first.base
    page.goto(again.base + "/")  # the same session cookie, a new server process state
    assert page.inner_text("#answered") == "2"
    fresh = page_for()
    fresh.goto(again.links["alice"])  # the link printed at the first start still works
    assert fresh.inner_text("#answered") == "2"
