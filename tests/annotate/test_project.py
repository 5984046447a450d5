"""Starting and resuming an annotation project: the queue is built once, links are issued once
(only their hashes are stored), restarts keep both, options that disagree with the stored queue
are refused, annotators are added and revoked, names are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisiseval.annotate import (
    NOT_AVAILABLE,
    ProjectRequest,
    check_annotator_name,
    load_project,
    prepare_project,
)
from crisiseval.annotate._tokens import digest
from crisiseval.errors import InputError
from crisiseval.store import ResponseRecord, Store, TurnRecord


def _prepare(run_dir: Path, **kw: object):  # type: ignore[no-untyped-def]
    with Store.open(run_dir) as store:
        return prepare_project(store, ProjectRequest(**kw))  # type: ignore[arg-type]


def test_first_start_builds_the_queue_and_issues_links(run_dir: Path) -> None:
    prepared = _prepare(run_dir, task="labels", annotators=("alice", "bob"), n=4, seed=2)
    assert prepared.created and set(prepared.issued) == {"alice", "bob", "admin"}
    project = prepared.project
    assert len(project.targets) == 4 and project.queue.strategy == "random"
    assert project.annotators == {n: digest(prepared.issued[n]) for n in ("alice", "bob")}
    assert project.admin == digest(prepared.issued["admin"])
    with Store.open(run_dir, read_only=True) as store:
        assert load_project(store, "labels") == project
    raw = (run_dir / "crisiseval.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in run_dir.glob("crisiseval.sqlite-*")
    )
    for token in prepared.issued.values():
        assert token.encode() not in raw


def test_a_restart_keeps_the_queue_and_the_links(run_dir: Path) -> None:
    first = _prepare(run_dir, task="labels", annotators=("alice", "bob"), strategy="random", n=4)
    again = _prepare(run_dir, task="labels")
    assert not again.created and again.issued == {}
    assert again.project.targets == first.project.targets
    assert again.project.annotators == first.project.annotators
    assert set(again.kept) == {"alice", "bob", "admin"}
    same = _prepare(run_dir, task="labels", strategy="random", n=4)
    assert same.project.targets == first.project.targets
    with pytest.raises(InputError, match=r"--strategy stratified \(stored: random\).*--new-queue"):
        _prepare(run_dir, task="labels", strategy="stratified")
    rebuilt = _prepare(run_dir, task="labels", strategy="disagreement", new_queue=True)
    assert rebuilt.created and rebuilt.project.queue.strategy == "disagreement"
    assert rebuilt.project.annotators == first.project.annotators  # links survive a new queue


def test_new_tokens_replace_a_link_and_end_its_sessions(run_dir: Path) -> None:
    first = _prepare(run_dir, task="labels", annotators=("alice", "bob"))
    from crisiseval.annotate._desk import Desk
    from crisiseval.taxonomy import load_rubric, load_taxonomy

    with Store.open(run_dir) as store:
        desk = Desk(store, "labels", load_taxonomy(), load_rubric())
        assert desk.login("wrong") is None
        _who, alice_session = desk.login(first.issued["alice"]) or ("", "")
        _who, bob_session = desk.login(first.issued["bob"]) or ("", "")
        assert desk.principal(alice_session) == "alice"
    again = _prepare(run_dir, task="labels", new_tokens=("alice",))
    assert set(again.issued) == {"alice"}
    with Store.open(run_dir) as store:
        desk = Desk(store, "labels", load_taxonomy(), load_rubric())
        assert desk.principal(alice_session) is None  # its session ended
        assert desk.principal(bob_session) == "bob"
        assert desk.login(first.issued["alice"]) is None  # the old link is dead
        assert desk.login(again.issued["alice"]) is not None
        assert desk.login(first.issued["admin"]) is not None
    everyone = _prepare(run_dir, task="labels", new_tokens=("all",))
    assert set(everyone.issued) == {"alice", "bob", "admin"}
    with pytest.raises(InputError, match="--new-tokens: carol is not an annotator"):
        _prepare(run_dir, task="labels", new_tokens=("carol",))


def test_annotators_are_added_and_revoked(run_dir: Path) -> None:
    _prepare(run_dir, task="scores", annotators=("alice", "bob"))
    again = _prepare(run_dir, task="scores", annotators=("alice", "carol"))
    assert set(again.issued) == {"carol"}
    assert again.revoked == ("bob",)
    assert set(again.project.annotators) == {"alice", "carol"}


def test_annotator_names(run_dir: Path) -> None:
    for bad in ("", "a b", "human:x", "admin", "all", "-x", "x" * 41, "a@b"):
        with pytest.raises(InputError):
            check_annotator_name(bad)
    assert check_annotator_name("dr.smith_2") == "dr.smith_2"
    with pytest.raises(InputError, match="given twice"):
        _prepare(run_dir, task="labels", annotators=("alice", "Alice"))
    with pytest.raises(InputError, match="name at least one annotator"):
        _prepare(run_dir, task="labels")
    # the imported expert H1 has labels here: an annotator may not take that name
    with pytest.raises(
        InputError, match=r"annotator 'H1': human:H1 already has labels .*import:test"
    ):
        _prepare(run_dir, task="labels", annotators=("H1",))
    with Store.open(run_dir, read_only=True) as store:
        assert load_project(store, "labels") is None  # nothing half-made


def test_conversations_are_not_available_without_conversations(run_dir: Path) -> None:
    with pytest.raises(InputError) as err:
        _prepare(run_dir, task="conversations", annotators=("alice",))
    assert str(err.value) == NOT_AVAILABLE and "not available yet" in NOT_AVAILABLE


def test_conversations_are_served_with_their_turns(run_dir: Path, item_ids: list[str]) -> None:
    from crisiseval.annotate._desk import Desk
    from crisiseval.taxonomy import load_rubric, load_taxonomy

    turns = (
        TurnRecord(index=0, role="user", text="I have been feeling low"),
        TurnRecord(index=1, role="assistant", text="I'm sorry to hear that. <b>not bold</b>"),
        TurnRecord(index=2, role="user", text="It's getting worse"),
    )
    conversation = ResponseRecord(
        response_id="rs_conversation01",
        item_id=item_ids[0],
        respondent="resp-a",
        run_index=1,
        text=None,
        status="ok",
        origin="converse",
        kind="conversation",
        turns=turns,
    )
    with Store.open(run_dir) as store:
        store.upsert_responses([conversation])
    prepared = _prepare(run_dir, task="conversations", annotators=("alice",))
    assert [t.target_id for t in prepared.project.targets] == ["rs_conversation01"]
    assert prepared.project.targets[0].label == "suicidal_ideation"  # the item's majority label
    with Store.open(run_dir) as store:
        desk = Desk(store, "conversations", load_taxonomy(), load_rubric())
        view = desk.view("alice", prepared.project.targets[0])
    assert [(t.role, t.text) for t in view.conversation] == [(t.role, t.text) for t in turns]
    assert [c.value for c in view.choices] == ["1", "2", "3", "4", "5"]
    assert view.category == "Suicidal ideation"
