"""Every answer is counted: failed ones and unscored ones appear beside the scores."""

from __future__ import annotations

import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.analysis.scores import response_coverage


def test_failed_and_unscored_answers_are_counted() -> None:
    responses = pd.DataFrame(
        {
            "response_id": ["a1", "a2", "a3", "b1"],
            "respondent": ["a", "a", "a", "b"],
            "status": ["ok", "failed", "ok", "ok"],
        }
    )
    judgments = pd.DataFrame(
        {
            "response_id": ["a1", "a3", "b1", "b1"],
            "judge": ["j", "j", "j", "other"],
            "status": ["ok", "unparsed", "failed", "ok"],
        }
    )
    out = response_coverage(responses, judgments, "j").set_index("respondent")
    assert out.loc["a"].to_dict() == {
        "responses": 3,
        "failed": 1,
        "answered": 2,
        "scored": 1,
        "not_scored": 1,
    }
    # b1's only valid score is by another judge: not scored by j
    assert out.loc["b"].to_dict() == {
        "responses": 1,
        "failed": 0,
        "answered": 1,
        "scored": 0,
        "not_scored": 1,
    }


def test_no_responses_is_a_clear_error() -> None:
    empty = pd.DataFrame(columns=["response_id", "respondent", "status"])
    judgments = pd.DataFrame(columns=["response_id", "judge", "status"])
    with pytest.raises(AnalysisError, match="no responses"):
        response_coverage(empty, judgments, "j")
