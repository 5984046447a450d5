"""The primary judge, juries and the human mean (crisiseval.analysis.judges)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.analysis.judges import (
    HUMAN_MEAN,
    is_jury,
    jury_name,
    primary_judge,
    summary_by_judge,
    validity_panel,
)

JudgmentsBuilder = Callable[[Sequence[dict[str, Any]]], pd.DataFrame]


def _rows(judge: str, scores: Sequence[float | None], kind: str = "model") -> list[dict[str, Any]]:
    return [
        {"item_id": f"i{i}", "judge": judge, "judge_kind": kind, "score": s}
        for i, s in enumerate(scores)
    ]


def test_primary_judge_is_the_model_judge_with_most_valid_judgments(
    make_judgments: JudgmentsBuilder,
) -> None:
    frame = make_judgments(
        [
            *_rows("big", [3, None, None, None]),  # 4 judgments, 1 valid
            *_rows("small", [3, 4]),  # 2 valid
            *_rows("human-1", [3, 4, 5, 2, 1], kind="human"),  # most, but human
        ]
    )
    assert primary_judge(frame) == "small"
    # ties by name
    tie = make_judgments([*_rows("b", [3, 4]), *_rows("a", [2, 5])])
    assert primary_judge(tie) == "a"
    # a human scorer only when there is no model judge
    assert primary_judge(make_judgments(_rows("human-1", [3], kind="human"))) == "human-1"
    # nothing valid: the judge with the most judgments
    assert primary_judge(make_judgments([*_rows("x", [None]), *_rows("y", [None, None])])) == "y"


def test_primary_judge_may_pick_a_judge_of_a_subset(make_judgments: JudgmentsBuilder) -> None:
    # the rule as it stands (issue 10 will change it): count only, whatever the coverage
    frame = make_judgments(
        [
            *_rows("all", [3, 3, 3, None, None, None]),
            {"item_id": "i0", "judge": "subset", "judge_kind": "model", "score": 1, "judge_run": 1},
            {"item_id": "i0", "judge": "subset", "judge_kind": "model", "score": 1, "judge_run": 2},
            {"item_id": "i1", "judge": "subset", "judge_kind": "model", "score": 1, "judge_run": 1},
            {"item_id": "i1", "judge": "subset", "judge_kind": "model", "score": 1, "judge_run": 2},
        ]
    )
    assert primary_judge(frame) == "subset"


def test_primary_judge_of_nothing_is_an_error() -> None:
    with pytest.raises(AnalysisError, match="no judgments"):
        primary_judge(pd.DataFrame(columns=["judge", "judge_kind", "status"]))


def test_validity_panel_forms_a_jury_and_the_human_mean(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments(
        [
            *_rows("m1", [1, 3]),
            *_rows("m2", [3, 5]),
            *_rows("h1", [2, 4], kind="human"),
            *_rows("h2", [4, 4], kind="human"),
        ]
    )
    panel = validity_panel(frame)
    assert panel.jury == jury_name(["m1", "m2"]) == "jury:m1+m2"
    assert panel.models == ("m1", "m2", "jury:m1+m2")
    assert panel.humans == ("h1", "h2")
    assert panel.references == ("h1", "h2", HUMAN_MEAN)
    assert panel.jury_error is None and panel.human_mean_error is None
    jury = panel.judgments[panel.judgments["judge"] == "jury:m1+m2"]
    assert sorted(jury["score"]) == [2.0, 4.0]
    mean = panel.judgments[panel.judgments["judge"] == HUMAN_MEAN]
    assert sorted(mean["score"]) == [3.0, 4.0]


def test_a_stored_jury_is_used_and_none_is_formed(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments([*_rows("m1", [1]), *_rows("m2", [3]), *_rows("jury", [2])])
    panel = validity_panel(frame)
    assert is_jury("jury") and is_jury("jury:a+b") and not is_jury("juryman")
    assert panel.stored_juries == ("jury",)
    assert panel.jury is None and panel.models == ("jury", "m1", "m2")
    assert panel.references == ()


def test_no_jury_without_a_common_response(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments(
        [{"item_id": "i0", "judge": "m1", "score": 2}, {"item_id": "i1", "judge": "m2", "score": 3}]
    )
    panel = validity_panel(frame)
    assert panel.jury is None and panel.jury_error is not None
    assert "no response is scored by all of m1, m2" in panel.jury_error


def test_summary_by_judge(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments([*_rows("m1", [1, 3]), *_rows("m2", [None])])
    data = summary_by_judge(frame)
    assert data is not None
    assert list(data["judge"]) == ["m1"]  # m2 has no valid score
    assert summary_by_judge(make_judgments(_rows("m2", [None]))) is None
