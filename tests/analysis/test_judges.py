"""The judge choice, juries and the human mean (crisiseval.analysis.judges)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.analysis.judges import (
    HUMAN_MEAN,
    choose_judge,
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


def _subsample_fixture(make_judgments: JudgmentsBuilder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge "full" scored all 6 answers of two respondents once (one unparsed); judge
    "subset" scored only the lowest-scored answer of each of 2 inputs, 4 runs each: it has the
    most judgments (8 against 6) and the most valid ones (8 against 5)."""
    rows: list[dict[str, Any]] = []
    for i in range(3):
        for respondent in ("a", "b"):
            score = None if (i, respondent) == (2, "b") else 3
            rows.append(
                {"item_id": f"i{i}", "respondent": respondent, "judge": "full", "score": score}
            )
    for i in range(2):
        for run in (1, 2, 3, 4):
            rows.append(
                {
                    "item_id": f"i{i}",
                    "respondent": "a",
                    "judge": "subset",
                    "judge_run": run,
                    "score": 1,
                }
            )
    judgments = make_judgments(rows)
    responses = pd.DataFrame(
        [
            {"response_id": f"i{i}/{r}/1", "respondent": r, "status": "ok"}
            for i in range(3)
            for r in ("a", "b")
        ]
        + [{"response_id": "i3/b/1", "respondent": "b", "status": "failed"}]
    )
    return judgments, responses


def test_coverage_beats_the_judge_with_most_judgments(make_judgments: JudgmentsBuilder) -> None:
    judgments, responses = _subsample_fixture(make_judgments)
    counts = judgments.groupby("judge").size()
    assert counts["subset"] > counts["full"]  # the old rule's winner
    choice = choose_judge(judgments, responses)
    assert choice.judge == "full" and choice.rule == "coverage"
    assert (
        choice.reason == "scored every answer that any judge scored: 5 of 6, from both respondents"
    )
    assert choice.others == ("subset",)
    assert str(choice) == f"full ({choice.reason})"
    # without responses, the judged answers stand for the answers
    assert choose_judge(judgments).judge == primary_judge(judgments) == "full"
    # every answer scored: said so
    whole = judgments[judgments["response_id"] != "i2/b/1"]
    assert choose_judge(whole, responses[responses["response_id"] != "i2/b/1"]).reason == (
        "scored every answer: 5 of 5, from both respondents"
    )


def test_the_experiments_judge_beats_coverage(make_judgments: JudgmentsBuilder) -> None:
    judgments, responses = _subsample_fixture(make_judgments)
    choice = choose_judge(judgments, responses, configured=["subset"])
    assert (choice.judge, choice.reason, choice.rule) == (
        "subset",
        "the experiment's judge",
        "configured",
    )
    two = choose_judge(judgments, responses, configured=["subset", "full"])
    assert (two.judge, two.reason) == ("subset", "the experiment's first judge")
    # the first configured judge has no judgments here: the next one that has
    later = choose_judge(judgments, responses, configured=["gone", "subset"])
    assert later.judge == "subset" and "(gone has none)" in later.reason
    # none of them has: the coverage rule, saying why
    none = choose_judge(judgments, responses, configured=["gone"])
    assert none.judge == "full" and none.rule == "coverage"
    assert none.reason.startswith("the experiment's judges (gone) have no judgments here; ")


def test_a_judge_asked_for_beats_both(make_judgments: JudgmentsBuilder) -> None:
    judgments, responses = _subsample_fixture(make_judgments)
    choice = choose_judge(judgments, responses, configured=["full"], requested="subset")
    assert (choice.judge, choice.reason, choice.rule) == ("subset", "given with -j", "requested")
    with pytest.raises(
        AnalysisError, match=r"^no judgments by judge nobody \(judges: full, subset\)$"
    ):
        choose_judge(judgments, responses, configured=["full"], requested="nobody")


def test_choice_fallbacks(make_judgments: JudgmentsBuilder) -> None:
    only = choose_judge(make_judgments(_rows("solo", [3, None])))
    assert (only.judge, only.reason, only.rule, only.others) == (
        "solo",
        "the only judge",
        "only",
        (),
    )
    # a jury only when no single model judge has a valid judgment; humans after model judges
    frame = make_judgments(
        [*_rows("m", [None, None]), *_rows("jury", [3]), *_rows("h", [3, 4], kind="human")]
    )
    jury = choose_judge(frame)
    assert jury.judge == "jury" and jury.rule == "fallback"
    assert jury.reason.startswith("no single model judge has a valid judgment; ")
    human = choose_judge(frame[frame["judge"] != "jury"])
    assert human.judge == "h" and human.reason.startswith("no model judge has a valid judgment")
    nothing = choose_judge(make_judgments([*_rows("x", [None]), *_rows("y", [None, None])]))
    assert nothing.judge == "y"
    assert nothing.reason == (
        "no judge has a valid judgment; judged every answer: 2 of 2, from the only respondent"
    )
    with pytest.raises(AnalysisError, match="no judgments to choose a judge from"):
        choose_judge(make_judgments([]).iloc[0:0])


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


@pytest.mark.shared
def test_the_study_import_is_judged_by_gpt_4o_mini(study: Any) -> None:
    """The release: gpt-4o-mini scored every judged answer; gpt-5-nano, meta-llama and the
    experts only the lowest-scored answer per input (190)."""
    assert study.store.configured_judges() == []  # an import has no experiment file
    choice = choose_judge(study.judgments, study.responses)
    assert choice.judge == "gpt-4o-mini" and choice.rule == "coverage"
    assert choice.reason == (
        "scored every answer that any judge scored: 686 of 750, from all 5 respondents"
    )
    subsample = study.judgments[study.judgments["judge"] != "gpt-4o-mini"]
    assert subsample.groupby("judge")["response_id"].nunique().max() == 190
