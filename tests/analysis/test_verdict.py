"""The verdict per respondent (crisiseval.analysis.scores.verdict_table) against numbers worked
out by hand on a tiny invented set of judgments."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from crisiseval.analysis.scores import NO_LABEL, VERDICT_COLUMNS, verdict_table

JudgmentsBuilder = Callable[..., pd.DataFrame]
Z = 1.959963984540054  # the 97.5% normal quantile


def _runs(
    respondent: str, item: str, label: str, scores: list[float | None]
) -> list[dict[str, Any]]:
    return [
        {
            "respondent": respondent,
            "item_id": item,
            "label": label,
            "judge": "j",
            "judge_run": k,
            "score": s,
        }
        for k, s in enumerate(scores, start=1)
    ]


@pytest.fixture
def judgments(make_judgments: JudgmentsBuilder) -> pd.DataFrame:
    """a: answer scores 1, 3.5 (suicidal ideation), 5, 4 (no crisis; one run unparsed);
    b: 2 (self-harm), 2 (anxiety crisis: a tie, broken by the taxonomy's order);
    c: one answer, judged without a label. Another judge's rows must not count."""
    return make_judgments(
        [
            *_runs("a", "i0", "suicidal_ideation", [1, 1]),
            *_runs("a", "i1", "suicidal_ideation", [3, 4]),
            *_runs("a", "i2", "no_crisis", [5, 5]),
            *_runs("a", "i3", "no_crisis", [4, None]),
            *_runs("b", "i0", "anxiety_crisis", [2, 2]),
            *_runs("b", "i1", "self_harm", [2, 2]),
            *_runs("c", "i0", None, [3]),  # type: ignore[arg-type]
            {"respondent": "a", "item_id": "i0", "judge": "other", "score": 5},
        ]
    )


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


def test_verdict_numbers_by_hand(judgments: pd.DataFrame) -> None:
    responses = pd.DataFrame(
        [{"response_id": f"i{i}/a/1", "respondent": "a", "status": "ok"} for i in range(4)]
        + [{"response_id": "i9/a/1", "respondent": "a", "status": "failed"}]
        + [{"response_id": f"i{i}/b/1", "respondent": "b", "status": "ok"} for i in range(2)]
    )
    table = verdict_table(judgments, "j", responses=responses)
    assert tuple(table.columns) == VERDICT_COLUMNS
    assert list(table["respondent"]) == ["a", "b", "c"]
    a, b, c = (row for _, row in table.iterrows())

    # a: scores 1, 3.5, 5, 4
    assert a["answers"] == 5 and a["n"] == 4  # the failed answer is counted, not scored
    assert a["mean"] == pytest.approx(3.375)
    half = Z * math.sqrt(8.6875 / 3) / 2  # sum of squared deviations 8.6875, n - 1 = 3
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((3.375 - half, 3.375 + half))
    assert a["harmful"] == 1 and a["harmful_share"] == pytest.approx(0.25)
    assert (a["harmful_ci_low"], a["harmful_ci_high"]) == pytest.approx(_wilson(1, 4))
    assert a["harmful_ci_low"] == pytest.approx(0.0456, abs=1e-4)
    assert a["harmful_ci_high"] == pytest.approx(0.6994, abs=1e-4)
    assert (a["worst_label"], a["worst_mean"], a["worst_n"]) == ("suicidal_ideation", 2.25, 2)
    assert a["n_labels"] == 2

    # b: two answers scored 2; the tie goes to self-harm (before anxiety crisis in the taxonomy)
    assert b["answers"] == 2 and b["n"] == 2 and b["mean"] == 2.0
    assert (b["ci_low"], b["ci_high"]) == pytest.approx((2.0, 2.0))
    assert b["harmful"] == 0 and b["harmful_share"] == 0.0
    assert b["harmful_ci_low"] == pytest.approx(0.0, abs=1e-12)
    assert b["harmful_ci_high"] == pytest.approx(Z**2 / (2 + Z**2))  # Wilson upper bound at 0
    assert (b["worst_label"], b["worst_mean"], b["worst_n"]) == ("self_harm", 2.0, 1)

    # c: one answer without a label: no CI, no worst label; no answers in `responses`
    assert c["n"] == 1 and c["mean"] == 3.0
    assert math.isnan(c["ci_low"]) and math.isnan(c["ci_high"])
    assert math.isnan(c["answers"])
    assert pd.isna(c["worst_label"]) and c["n_labels"] == 0
    assert NO_LABEL not in set(table["worst_label"].dropna())


def test_verdict_without_responses(judgments: pd.DataFrame) -> None:
    table = verdict_table(judgments, "other")
    assert list(table["respondent"]) == ["a"]
    assert table["answers"].isna().all()
    assert table.loc[0, "mean"] == 5.0 and table.loc[0, "harmful"] == 0
