"""Judges vs humans: MAE, RMSE, within 1, quadratic kappa, jury, lowest-score sampling."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from crisiseval.analysis import AnalysisError, round_half_up
from crisiseval.analysis import judge_validity as jv

JudgmentsBuilder = Callable[..., pd.DataFrame]
Study = Any  # the `study` fixture: tests/analysis/conftest.py::Study


def _scores(judge: str, values: dict[str, list[float | None]]) -> list[dict[str, object]]:
    return [
        {"item_id": item, "judge": judge, "judge_run": k, "score": s}
        for item, runs in values.items()
        for k, s in enumerate(runs, start=1)
    ]


def test_round_half_up_not_bankers() -> None:
    values = [0.5, 1.5, 2.5, 3.5, 4.5, 2.4999999999999996, 7 / 3, 8 / 3, 1.4999, 5.0]
    assert round_half_up(values).tolist() == [1, 2, 3, 4, 5, 3, 2, 3, 1, 5]
    assert np.round([2.5, 3.5]).tolist() == [2.0, 4.0]  # what numpy would do


def test_pair_metrics_hand_checked(make_judgments: JudgmentsBuilder) -> None:
    # a: 1, 2.5, 4, 5 (means of runs); b: 2, 2, 5, 2
    frame = make_judgments(
        [
            *_scores("a", {"i0": [1], "i1": [2, 3], "i2": [4], "i3": [5]}),
            *_scores("b", {"i0": [2], "i1": [2], "i2": [5, None], "i3": [2]}),
        ]
    )
    res = jv.compare_raters(frame, "a", "b")
    diffs = np.array([1 - 2, 2.5 - 2, 4 - 5, 5 - 2])
    assert res.n == 4
    assert res.mae == pytest.approx(np.abs(diffs).mean())  # (1 + .5 + 1 + 3) / 4
    assert res.rmse == pytest.approx(math.sqrt((diffs**2).mean()))
    assert res.within_1 == pytest.approx(0.75)
    # rounded half up: a -> 1, 3, 4, 5 (2.5 -> 3, not 2); b -> 2, 2, 5, 2
    expected = cohen_kappa_score(
        [1, 3, 4, 5], [2, 2, 5, 2], weights="quadratic", labels=[1, 2, 3, 4, 5]
    )
    assert res.qwk == pytest.approx(expected)
    assert res.mean_a == pytest.approx(3.125) and res.mean_b == pytest.approx(2.75)


def test_only_common_responses_are_compared(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments(
        [*_scores("a", {"i0": [1], "i1": [2], "i2": [3]}), *_scores("b", {"i1": [2], "i2": [4]})]
    )
    res = jv.compare_raters(frame, "a", "b")
    assert res.n == 2 and res.mae == pytest.approx(0.5)
    table = jv.rater_score_table(frame)
    assert list(table.columns) == ["a", "b"]
    assert table["b"].isna().sum() == 1


def test_validity_matrix_and_jury(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments(
        [
            *_scores("a", {"i0": [1, 2], "i1": [4], "i2": [5]}),
            *_scores("b", {"i0": [2], "i1": [5], "i2": [5]}),
            *_scores("human:H1", {"i0": [1], "i1": [4], "i2": [4]}),
        ]
    )
    frame.loc[frame["judge"] == "human:H1", "judge_kind"] = "human"
    with_jury = jv.with_jury(frame, ["a", "b"], name="jury")
    jury = with_jury[with_jury["judge"] == "jury"].set_index("item_id")["score"]
    assert jury.to_dict() == pytest.approx({"i0": 1.75, "i1": 4.5, "i2": 5.0})
    matrix = jv.validity_matrix(with_jury)
    assert len(matrix) == 6  # 4 raters
    row = matrix[(matrix["rater_a"] == "human:H1") & (matrix["rater_b"] == "jury")].iloc[0]
    assert row["mae"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    with pytest.raises(AnalysisError, match=r"a jury needs at least two judges"):
        jv.with_jury(frame, ["a"])


def test_lowest_score_sampling_is_deterministic(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments(
        [
            {"item_id": "i0", "respondent": "z", "response_run": 1, "judge": "j", "score": 2},
            {"item_id": "i0", "respondent": "b", "response_run": 2, "judge": "j", "score": 2},
            {"item_id": "i0", "respondent": "b", "response_run": 1, "judge": "j", "score": 2},
            {"item_id": "i0", "respondent": "a", "response_run": 1, "judge": "j", "score": 3},
            {"item_id": "i1", "respondent": "a", "response_run": 1, "judge": "j", "score": 5},
            {"item_id": "i1", "respondent": "a", "response_run": 2, "judge": "j", "score": 4},
        ]
    )
    lowest = jv.lowest_score_sample(frame, "j")
    assert lowest[
        ["item_id", "respondent", "response_run", "score", "n_candidates"]
    ].to_numpy().tolist() == [["i0", "b", 1, 2.0, 4], ["i1", "a", 2, 4.0, 2]]
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert jv.lowest_score_sample(shuffled, "j").equals(lowest)


def test_errors_are_clear(make_judgments: JudgmentsBuilder) -> None:
    frame = make_judgments([*_scores("a", {"i0": [1]}), *_scores("b", {"i1": [2]})])
    with pytest.raises(AnalysisError, match=r"a and b scored no response in common"):
        jv.compare_raters(frame, "a", "b")
    with pytest.raises(AnalysisError, match=r"no two raters scored a response in common"):
        jv.validity_matrix(frame)
    with pytest.raises(AnalysisError, match=r"no judgments"):
        jv.validity_matrix(frame.iloc[0:0])
    with pytest.raises(AnalysisError, match=r"no judgments by judge c"):
        jv.compare_raters(frame, "a", "c")


@pytest.mark.shared
def test_study_judges_vs_humans(study: Study) -> None:
    matrix = jv.validity_matrix(study.judgments)
    pair = matrix[(matrix["rater_a"] == "human:H1") & (matrix["rater_b"] == "human:H2")].iloc[0]
    assert pair["n"] == 190  # H2's three damaged answer fields are repaired by the importer
    mini = matrix[(matrix["rater_a"] == "gpt-4o-mini") & (matrix["rater_b"] == "human:H1")]
    assert mini.iloc[0]["n"] == 190
    assert 0 < mini.iloc[0]["qwk"] < 1
    # the released jury is the mean of the three judges' means
    members = ["gpt-4o-mini", "gpt-5-nano", "meta-llama-Llama-4-Scout-17B-16E-Instruct"]
    ours = jv.with_jury(study.judgments, members, name="our-jury")
    res = jv.compare_raters(ours, "jury", "our-jury")
    assert res.n == 190
    assert res.mae == pytest.approx(0.0, abs=1e-9)
    lowest = jv.lowest_score_sample(study.judgments, "gpt-4o-mini", items=study.validation)
    assert len(lowest) == 190
    assert isinstance(lowest, pd.DataFrame)
