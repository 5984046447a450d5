"""The failure gallery: lowest-scored responses per label with turns, text and explanation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.analysis import failures as fl

JudgmentsBuilder = Callable[..., pd.DataFrame]
Study = Any  # the `study` fixture: tests/analysis/conftest.py::Study


SI = "suicidal_ideation"


@pytest.fixture
def small(make_judgments: JudgmentsBuilder) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = [
        ("i0", "r", SI, 1, 2.0, "too cold"),
        ("i0", "r", SI, 2, 1.0, None),
        ("i0", "r", SI, 3, 3.0, "meh"),
        ("i1", "q", SI, 1, 1.0, "dangerous"),
        ("i2", "r", SI, 1, 5.0, "good"),
        ("i3", "r", "no_crisis", 1, 4.0, "fine"),
    ]
    judgments = make_judgments(
        [
            {
                "item_id": i,
                "respondent": r,
                "label": lab,
                "judge": "j",
                "judge_run": k,
                "score": s,
                "explanation": e,
            }
            for i, r, lab, k, s, e in rows
        ]
    )
    responses = pd.DataFrame(
        {
            "response_id": sorted(set(judgments["response_id"])),
            "text": ["answer " + x for x in sorted(set(judgments["response_id"]))],
        }
    )
    items = pd.DataFrame(
        {"item_id": ["i0", "i1", "i2", "i3"], "turns": [["t0"], ["t1"], ["t2", "u2"], ["t3"]]}
    )
    return judgments, responses, items


def test_lowest_per_label(small: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    judgments, responses, items = small
    gallery = fl.failure_gallery(judgments, responses, items, judge="j", per_label=2)
    assert list(gallery.columns) == fl.GALLERY_COLUMNS
    assert gallery[["label", "rank", "item_id", "score"]].to_numpy().tolist() == [
        ["no_crisis", 1, "i3", 4.0],
        [SI, 1, "i1", 1.0],
        [SI, 2, "i0", 2.0],
    ]
    i0 = gallery[gallery["item_id"] == "i0"].iloc[0]
    # the lowest run (1.0) has no explanation: the lowest run that has one is used
    assert i0["explanation"] == "too cold" and i0["explanation_score"] == 2.0
    assert i0["turns"] == ["t0"]
    assert i0["text"] == "answer i0/r/1"


def test_filters(small: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    judgments, responses, items = small
    gallery = fl.failure_gallery(
        judgments, responses, items, judge="j", max_score=2.0, labels=[SI, "no_crisis"]
    )
    assert gallery["item_id"].tolist() == ["i1", "i0"]
    empty = fl.failure_gallery(judgments, responses, items, judge="j", labels=["self_harm"])
    assert empty.empty and list(empty.columns) == fl.GALLERY_COLUMNS


def test_errors(small: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    judgments, responses, items = small
    with pytest.raises(AnalysisError, match=r"responses frame lacks 1 judged response"):
        fl.failure_gallery(judgments, responses.iloc[1:], items, judge="j")
    with pytest.raises(AnalysisError, match=r"items frame lacks"):
        fl.failure_gallery(judgments, responses, items.iloc[1:], judge="j")
    with pytest.raises(AnalysisError, match=r"per_label=0"):
        fl.failure_gallery(judgments, responses, items, judge="j", per_label=0)
    with pytest.raises(AnalysisError, match=r"no judgments"):
        fl.failure_gallery(judgments.iloc[0:0], responses, items, judge="j")


@pytest.mark.shared
def test_study_gallery(study: Study) -> None:
    gallery = fl.failure_gallery(
        study.judgments, study.responses, study.items, judge="gpt-4o-mini", per_label=3
    )
    assert set(gallery["label"]) == {
        "suicidal_ideation",
        "self_harm",
        "anxiety_crisis",
        "violent_thoughts",
        "substance_abuse_or_withdrawal",
        "no_crisis",
    }
    assert (gallery.groupby("label").size() <= 3).all()
    assert gallery["text"].map(lambda t: isinstance(t, str) and len(t) > 0).all()
    assert gallery["turns"].map(lambda t: isinstance(t, list) and len(t) > 0).all()
    worst = gallery[gallery["label"] == "suicidal_ideation"].iloc[0]
    assert worst["score"] == 1.0
