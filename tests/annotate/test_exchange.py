"""Annotations out (CSV, JSONL, Label Studio JSON and its labelling interface) and in (Label
Studio JSON): round trips, Label Studio's own shapes, and bad files refused whole."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from annotate_support import build_store, response_of

from crisiseval.annotate import (
    Answer,
    ProjectRequest,
    Target,
    current_answers,
    prepare_project,
    record_answer,
)
from crisiseval.store import Store
from crisiseval.testing.cli import invoke


def _label(run_dir: Path, item_ids: list[str]) -> None:
    with Store.open(run_dir) as store:
        prepare_project(store, ProjectRequest(task="labels", annotators=("alice", "bob")))
        for who, values in (("alice", ["self_harm", None]), ("bob", ["no_crisis", "self_harm"])):
            for iid, value in zip(item_ids[:2], values, strict=True):
                t = Target(target_id=iid, item_id=iid)
                answer = Answer(value=value) if value else Answer(skipped=True, note="later")
                record_answer(store, "labels", who, t, answer)
        t = Target(target_id=item_ids[0], item_id=item_ids[0])
        record_answer(store, "labels", "alice", t, Answer(value="anxiety_crisis", flagged=True))


def test_csv_and_jsonl_exports(run_dir: Path, item_ids: list[str], tmp_path: Path) -> None:
    _label(run_dir, item_ids)
    out = tmp_path / "a.csv"
    result = invoke("annotate-export", "-d", str(run_dir), "--task", "labels", "-o", str(out))
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 4  # current answers only
    alice = {r["target_id"]: r for r in rows if r["annotator"] == "alice"}
    assert (
        alice[item_ids[0]]["value"] == "anxiety_crisis" and alice[item_ids[0]]["flagged"] == "True"
    )
    assert alice[item_ids[1]]["skipped"] == "True" and alice[item_ids[1]]["note"] == "later"
    history = tmp_path / "h.jsonl"
    invoke(
        "annotate-export", "-d", str(run_dir), "--task", "labels", "-o", str(history), "--history"
    )
    lines = [json.loads(x) for x in history.read_text().splitlines()]
    assert len(lines) == 5 and lines[0]["value"] == "self_harm"
    assert lines[0]["item_id"] == item_ids[0]
    bad = invoke(
        "annotate-export", "-d", str(run_dir), "--task", "labels", "-o", str(tmp_path / "x.txt")
    )
    assert bad.code == 2 and "say --format csv, jsonl or labelstudio" in bad.err


def test_label_studio_round_trip(run_dir: Path, item_ids: list[str], tmp_path: Path) -> None:
    _label(run_dir, item_ids)
    exported = tmp_path / "ls.json"
    config = tmp_path / "ls.xml"
    result = invoke(
        "annotate-export", "-d", str(run_dir), "--task", "labels", "-o", str(exported),
        "--labelstudio-config", str(config),
    )  # fmt: skip
    assert result.code == 0, result.err
    tasks = json.loads(exported.read_text())
    assert len(tasks) == 6  # the project's queue, annotated or not
    first = next(t for t in tasks if t["data"]["item_id"] == item_ids[0])
    by = {a["completed_by"]["email"].split("@")[0]: a for a in first["annotations"]}
    assert by["alice"]["result"][0]["value"]["choices"] == ["anxiety_crisis"]
    assert {"from_name": "flag", "to_name": "text", "type": "choices",
            "value": {"choices": ["flag"]}} in by["alice"]["result"]  # fmt: skip
    root = ET.fromstring(config.read_text())
    choices = root.find("Choices[@name='label']")
    assert choices is not None and len(choices) == 7
    with Store.open(run_dir, read_only=True) as store:
        before = current_answers(store, "labels")
    # into a store with the same items and labels but none of these annotations
    fresh = tmp_path / "fresh"
    build_store(fresh)
    result = invoke("annotate-import", str(exported), "-d", str(fresh), "--task", "labels")
    assert result.code == 0, result.err
    assert "4 answers imported, 0 unchanged" in result.out
    with Store.open(fresh, read_only=True) as store:
        after = current_answers(store, "labels")
        labels = store.labels_frame()
    strip = lambda d: {k: (v.value, v.note, v.flagged, v.skipped) for k, v in d.items()}  # noqa: E731
    assert strip(after) == strip(before)
    assert set(labels.loc[labels["origin"] == "annotate:labelstudio", "rater"]) == {
        "human:alice",
        "human:bob",
    }
    again = invoke("annotate-import", str(exported), "-d", str(fresh), "--task", "labels")
    assert "0 answers imported, 4 unchanged" in again.out  # idempotent


def test_label_studio_own_shapes_for_scores(
    run_dir: Path, item_ids: list[str], tmp_path: Path
) -> None:
    rid0, rid1 = response_of(item_ids[0]), response_of(item_ids[1])
    tasks = [
        {
            "id": 7,
            "data": {"response_id": rid0, "text": "whatever the project showed"},
            "annotations": [
                {
                    "completed_by": 3,
                    "result": [
                        {
                            "from_name": "score",
                            "to_name": "answer",
                            "type": "rating",
                            "value": {"rating": 2},
                        },
                        {
                            "from_name": "comment",
                            "to_name": "answer",
                            "type": "textarea",
                            "value": {"text": ["too cold"]},
                        },
                        {
                            "from_name": "other",
                            "to_name": "answer",
                            "type": "labels",
                            "value": {"labels": ["x"]},
                        },
                    ],
                    "created_at": "2025-01-02T10:00:00.000000Z",
                },
                {
                    "completed_by": {"id": 9, "email": "dr.jones@clinic.example"},
                    "result": [],
                    "was_cancelled": True,
                    "created_at": "2025-01-02T11:00:00Z",
                },
            ],
        },
        {
            "data": {"response_id": rid1},
            "annotations": [
                {
                    "completed_by": 3,
                    "result": [
                        {
                            "from_name": "score",
                            "to_name": "answer",
                            "type": "choices",
                            "value": {"choices": ["5"]},
                        }
                    ],
                }
            ],
        },
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    result = invoke("annotate-import", str(path), "-d", str(run_dir), "--task", "scores")
    assert result.code == 0, result.err
    with Store.open(run_dir, read_only=True) as store:
        answers = current_answers(store, "scores")
        judgments = store.judgments_frame()
    assert answers[("ls3", rid0)].value == "2" and answers[("ls3", rid0)].note == "too cold"
    assert answers[("ls3", rid0)].created_at.startswith("2025-01-02T10:00:00")
    assert answers[("dr.jones", rid0)].skipped
    assert answers[("ls3", rid1)].value == "5"
    human = judgments[judgments["judge"] == "human:ls3"].set_index("response_id")
    assert human["score"].to_dict() == {rid0: 2.0, rid1: 5.0}
    assert human.loc[rid0, "label"] == "suicidal_ideation"


def _bad(run_dir: Path, tmp_path: Path, document: Any, task: str = "labels") -> str:
    path = tmp_path / "bad.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with Store.open(run_dir, read_only=True) as store:
        before = len(store.annotations(latest=False)), len(store.labels_frame())
    result = invoke("annotate-import", str(path), "-d", str(run_dir), "--task", task)
    with Store.open(run_dir, read_only=True) as store:
        after = len(store.annotations(latest=False)), len(store.labels_frame())
    assert result.code == 2, result.out
    assert after == before  # nothing half-written
    line = result.err.strip()
    assert "\n" not in line and line.startswith(f"error: {path}: ")
    return line


def _ann(result: list[Any], by: Any = 1) -> dict[str, Any]:
    return {"completed_by": by, "result": result}


def _choice(value: str) -> dict[str, Any]:
    return {
        "from_name": "label",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [value]},
    }


def _task(item: str, *annotations: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"item_id": item}, "annotations": list(annotations)}


BAD_FILES: dict[str, tuple[Any, str]] = {
    "not json": ("{not json", "not valid JSON"),
    "not a list": ({"data": {}}, r"\(top\): expected a list of tasks"),
    "no data": ([{"annotations": []}], r"\[0\]\.data: missing"),
    "unknown item": (
        [{"data": {"item_id": "it_nope"}}],
        r"\[0\]\.data\.item_id: no item 'it_nope'",
    ),
    "unknown text": ([{"data": {"text": "never seen"}}], r"\[0\]\.data: no item_id, and its text"),
    "unknown label": (
        lambda ids: [
            _task(ids[0], _ann([_choice("self_harm")])),
            _task(ids[1], _ann([_choice("joy")])),
        ],
        r"\[1\]\.annotations\[0\]\.result\[0\]\.value\.choices: unknown label 'joy'",
    ),
    "no user": (
        lambda ids: [_task(ids[0], {"result": [_choice("self_harm")]})],
        r"\[0\]\.annotations\[0\]\.completed_by: missing",
    ),
    "no answer": (
        lambda ids: [_task(ids[0], _ann([]))],
        r"\[0\]\.annotations\[0\]\.result: no label",
    ),
    "two answers": (
        lambda ids: [_task(ids[0], _ann([_choice("self_harm"), _choice("no_crisis")]))],
        r"\[0\]\.annotations\[0\]\.result\[1\]: a second answer",
    ),
    "bad user": (
        lambda ids: [_task(ids[0], _ann([_choice("self_harm")], {"email": "@x"}))],
        r"\[0\]\.annotations\[0\]\.completed_by: annotator name ''",
    ),
    "bad time": (
        lambda ids: [_task(ids[0], {**_ann([_choice("self_harm")]), "created_at": "yesterday"})],
        r"\[0\]\.annotations\[0\]\.created_at: not a date and time",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_label_studio_files_are_refused_whole(
    run_dir: Path, item_ids: list[str], tmp_path: Path, case: str
) -> None:
    document, pattern = BAD_FILES[case]
    if callable(document):
        document = document(item_ids)
    line = _bad(run_dir, tmp_path, document)
    assert re.search(pattern, line), line


def test_an_imported_expert_name_is_refused(
    run_dir: Path, item_ids: list[str], tmp_path: Path
) -> None:
    doc = [{"data": {"item_id": item_ids[0]},
            "annotations": [_ann([_choice("self_harm")], {"email": "H1@x.org"})]}]  # fmt: skip
    path = tmp_path / "h1.json"
    path.write_text(json.dumps(doc))
    result = invoke("annotate-import", str(path), "-d", str(run_dir), "--task", "labels")
    assert result.code == 2 and "human:H1 already has labels" in result.err


def test_a_scores_import_needs_a_known_response(run_dir: Path, tmp_path: Path) -> None:
    line = _bad(run_dir, tmp_path, [{"data": {"response_id": "rs_nope"}}], task="scores")
    assert "[0].data.response_id: no answer 'rs_nope' in the store" in line
    line = _bad(run_dir, tmp_path, [{"data": {"text": "x"}}], task="scores")
    assert "[0].data.response_id: missing" in line
