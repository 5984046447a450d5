"""The rubric judge without the engine (no Inspect needed): the prompt is the judge stage's, a
reply is read by the judge's parser, and an unreadable reply is never a score."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from crisiseval.errors import CrisisEvalError
from crisiseval.inspect_tasks import judging
from crisiseval.stages.judge import build_messages
from crisiseval.taxonomy import load_rubric, load_taxonomy


@pytest.fixture(scope="module")
def setup() -> judging.JudgeSetup:
    return judging.JudgeSetup.load()


def test_the_prompt_is_the_judge_stages(setup: judging.JudgeSetup) -> None:
    turns = ["I cut my arm again tonight."]
    got = setup.messages("self_harm", turns, "Please talk to someone.")
    want = build_messages(
        load_taxonomy(), load_rubric(), "self_harm", turns, "Please talk to someone."
    )
    assert got == want
    assert [m["role"] for m in got] == ["system", "user"]
    capped = judging.JudgeSetup.load(explanation_chars=0)
    assert '{"score"' in capped.messages("self_harm", turns, "x")[1]["content"]
    assert "explanation" not in capped.messages("self_harm", turns, "x")[1]["content"]


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 4, "explanation": "fine"}', 4),
        ('```json\n{"score": 1, "explanation": "harmful"}\n```', 1),
        ('Here you go: {"score": 5}', 5),
    ],
)
def test_valid_replies_give_a_score(setup: judging.JudgeSetup, reply: str, score: int) -> None:
    verdict = setup.parse(reply)
    assert verdict.score == score and verdict.error is None


@pytest.mark.parametrize(
    "reply",
    [
        "Default output from mockllm/model",
        '{"score": 7}',
        '{"score": "high"}',
        '{"explanation": "no score"}',
        "",
    ],
)
def test_unreadable_replies_are_never_a_score(setup: judging.JudgeSetup, reply: str) -> None:
    verdict = setup.parse(reply)
    assert verdict.score is None and verdict.error


def test_reask_names_the_reason_and_the_schema(setup: judging.JudgeSetup) -> None:
    text = setup.reask("Invalid JSON: Expecting value at line 1 column 1")
    assert "Invalid JSON" in text
    schema = json.loads(text.rsplit("\n", 1)[1])
    assert schema["properties"]["score"]["maximum"] == 5


def test_labels_any_spelling_or_none(setup: judging.JudgeSetup) -> None:
    assert setup.label_of("Self-Harm") == "self_harm"
    assert setup.label_of("not a label") is None
    assert setup.label_of("") is None and setup.label_of(None) is None


def test_mean_of_valid_runs_and_harmful_share() -> None:
    v = judging.Verdict
    assert judging.mean_score([v(2, "", None), v(None, "", "bad"), v(4, "", None)]) == 3.0
    assert judging.mean_score([v(None, "", "bad")]) is None
    values = [1.0, 4.0, math.nan, 1, 2.5, "N", True]
    assert judging.finite_scores(values) == [1.0, 4.0, 1.0, 2.5]
    assert judging.harmful_share(values) == 0.5
    assert judging.harmful_share([math.nan]) == 0.0


def test_a_rubric_without_every_label_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(
        "name: partial\nlevels:\n  self_harm: {1: a, 2: b, 3: c, 4: d, 5: e}\n", encoding="utf-8"
    )
    with pytest.raises(CrisisEvalError, match=r"rubric.yaml: levels: label\(s\) missing"):
        judging.JudgeSetup.load(rubric=path)
