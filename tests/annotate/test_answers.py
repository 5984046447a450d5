"""An answer is an append-only annotation plus the ordinary human label or score it stands for:
the agreement and judge-validity sections read it with no extra step."""

from __future__ import annotations

from pathlib import Path

import pytest
from annotate_support import response_of

from crisiseval.annotate import Answer, Target, check_value, record_answer
from crisiseval.sections.agreement import agreement_section
from crisiseval.sections.validity import validity_section
from crisiseval.store import Store
from crisiseval.taxonomy import load_taxonomy


def test_a_label_answer_is_a_human_label_and_a_skip_removes_it(
    run_dir: Path, item_ids: list[str]
) -> None:
    target = Target(target_id=item_ids[2], item_id=item_ids[2])
    with Store.open(run_dir) as store:
        record_answer(store, "labels", "alice", target, Answer(value="no_crisis", note="easy"))
        labels = store.labels_frame()
        row = labels[labels["rater"] == "human:alice"].iloc[0]
        assert (row["item_id"], row["label"], row["rater_kind"], row["run_index"]) == (
            item_ids[2],
            "no_crisis",
            "human",
            0,
        )
        assert row["explanation"] == "easy" and row["origin"] == "annotate"
        record_answer(store, "labels", "alice", target, Answer(skipped=True))
        assert "human:alice" not in set(store.labels_frame()["rater"])
        history = store.annotations(task="labels", latest=False)
        assert [(a.value, a.skipped) for a in history] == [("no_crisis", False), (None, True)]
        record_answer(store, "labels", "alice", target, Answer(flagged=True, note="unsure"))
        assert "human:alice" not in set(store.labels_frame()["rater"])  # a flag is no label
        current = store.annotations(task="labels")
        assert [(a.flagged, a.note) for a in current] == [(True, "unsure")]


def test_annotators_appear_in_the_agreement_section(run_dir: Path, item_ids: list[str]) -> None:
    with Store.open(run_dir) as store:
        for who, labels in (
            ("alice", ["suicidal_ideation", "self_harm"]),
            ("bob", ["self_harm"] * 2),
        ):
            for iid, label in zip(item_ids[:2], labels, strict=True):
                target = Target(target_id=iid, item_id=iid)
                record_answer(store, "labels", who, target, Answer(value=label))
        frame = store.labels_frame()
    section = agreement_section(frame)
    pairwise = next(t for t in section.tables if t.name == "agreement_pairwise").data
    pairs = set(zip(pairwise["rater_a"], pairwise["rater_b"], strict=True))
    assert ("human:alice", "human:bob") in pairs or ("human:bob", "human:alice") in pairs
    groups = next(t for t in section.tables if t.name == "agreement_groups").data
    humans = groups[groups["group"] == "humans"].iloc[0]
    assert "human:alice" in humans["members"] and humans["raters"] == 3  # with the expert H1


def test_a_score_answer_is_a_human_judgment_judge_validity_reads(
    run_dir: Path, item_ids: list[str]
) -> None:
    with Store.open(run_dir) as store:
        for i, iid in enumerate(item_ids):
            rid = response_of(iid)
            target = Target(target_id=rid, item_id=iid, response_id=rid, label="no_crisis")
            record_answer(store, "scores", "carol", target, Answer(value=str(i % 5 + 1)))
        judgments = store.judgments_frame()
    section = validity_section(judgments, n_boot=50)
    versus = next(t for t in section.tables if t.name == "validity_judges_vs_humans").data
    assert set(versus["reference"]) == {"human:carol"}
    assert set(versus["judge"]) >= {"judge-a", "judge-b"}
    assert int(versus["n"].iloc[0]) == len(item_ids)
    names = {t.name for t in section.tables}
    assert {"validity_bias_by_category", "validity_divergences", "validity_panel"} <= names


def test_check_value() -> None:
    taxonomy = load_taxonomy()
    assert check_value("labels", "self_harm", taxonomy) == "self_harm"
    assert check_value("labels", "self-harm", taxonomy) == "self_harm"  # a known spelling
    assert check_value("scores", "4", taxonomy) == "4"
    assert check_value("scores", "4.0", taxonomy) == "4"
    for task, bad in (("labels", "happy"), ("scores", "0"), ("scores", "2.5"), ("scores", "x")):
        with pytest.raises(ValueError):
            check_value(task, bad, taxonomy)  # type: ignore[arg-type]
