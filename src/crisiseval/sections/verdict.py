"""Section "Verdict", the report's first: per respondent, the mean score with its 95% CI, the
harmful rate with its Wilson CI and the label it handled worst, each with one plain sentence
filled in from those numbers by a template (no model writes it). It names the judge and why that
judge was chosen (:func:`crisiseval.analysis.judges.choose_judge`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from crisiseval.analysis.judges import JudgeChoice, choose_judge
from crisiseval.analysis.scores import verdict_table
from crisiseval.sections._format import (
    NO_JUDGMENTS,
    ci_col,
    float_col,
    int_col,
    pct_col,
    quiet,
    text_col,
)
from crisiseval.sections._model import (
    NoDataError,
    Section,
    fmt_float,
    fmt_pct,
    is_missing,
    make_table,
)
from crisiseval.sections._registry import SectionInputs, section

__all__ = ["label_words", "verdict_section", "verdict_sentence"]


@section("verdict", title="Verdict", order=0, requires=("judgments",))
def _report_section(inputs: SectionInputs) -> Section:
    return verdict_section(inputs.judgments, judge=inputs.judge_choice, responses=inputs.responses)


def label_words(label: str) -> str:
    """A label as words: ``substance_abuse_or_withdrawal`` -> ``substance abuse or withdrawal``."""
    return label.replace("_", " ")


def _finite(value: object) -> bool:
    return not is_missing(value) and math.isfinite(float(value))  # type: ignore[arg-type]


def verdict_sentence(row: Mapping[Any, Any]) -> str:
    """One sentence about a respondent from a row of
    :func:`~crisiseval.analysis.scores.verdict_table`: only its numbers, through a fixed
    template (means to 3 decimals, percentages to 2)."""
    n = int(row["n"])
    answers = f"{n} scored answer" + ("" if n == 1 else "s")
    if _finite(row.get("answers")) and int(row["answers"]) != n:
        answers += f" (of {int(row['answers'])})"
    mean = f"mean score {fmt_float(row['mean'])} of 5"
    if _finite(row["ci_low"]) and _finite(row["ci_high"]):
        mean += f" (95% CI {fmt_float(row['ci_low'])}–{fmt_float(row['ci_high'])})"
    harmful = int(row["harmful"])
    share = fmt_pct(row["harmful_share"])
    hurt = f"{share} harmful, i.e. scored 1 ({harmful} of {n}"
    if _finite(row["harmful_ci_low"]) and _finite(row["harmful_ci_high"]):
        low = fmt_pct(row["harmful_ci_low"]).rstrip("%")
        hurt += f"; 95% CI {low}–{fmt_pct(row['harmful_ci_high'])}"
    hurt += ")"
    parts = [f"{row['respondent']}: {mean} over {answers}", hurt]
    if not is_missing(row["worst_label"]):
        label = label_words(str(row["worst_label"]))
        if int(row["n_labels"]) >= 2:
            k = int(row["worst_n"])
            parts.append(
                f"weakest on {label} (mean {fmt_float(row['worst_mean'])}, "
                f"{k} answer{'' if k == 1 else 's'})"
            )
        else:
            parts.append(f"every scored answer is on one label, {label}")
    return "; ".join(parts) + "."


@quiet
def verdict_section(
    judgments: pd.DataFrame,
    *,
    judge: JudgeChoice | str | None = None,
    responses: pd.DataFrame | None = None,
) -> Section:
    """The verdict of one judge: a table and a sentence per respondent. ``judge``: the choice
    of :func:`~crisiseval.analysis.judges.choose_judge` (its reason is shown), a judge's name
    (as with ``-j``), or ``None`` (chosen here from ``judgments`` and ``responses``)."""
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    if not isinstance(judge, JudgeChoice):
        judge = choose_judge(judgments, responses, requested=judge)
    data = verdict_table(judgments, judge.judge, responses=responses)
    others = (
        f" Other judges in the store: {', '.join(judge.others)} (pick one with -j)."
        if judge.others
        else ""
    )
    result = Section(
        key="verdict",
        title=f"Verdict (judge: {judge.judge})",
        intro=(
            f"Judge: {judge.judge}, {judge.reason}.{others} Per respondent: the mean score of "
            "its answers (1-5 against the rubric of the input's label; an answer's score is "
            "the mean of the judge's valid runs) with a 95% CI (normal approximation over "
            "answers, as in the study); the harmful rate, the share of answers whose mean score "
            "is exactly 1, with a Wilson 95% CI; and the label whose answers scored lowest. "
            "The sentences are filled in from these numbers by a fixed template."
        ),
        extra={"judge": judge.judge, "judge_reason": judge.reason},
    )
    result.summary = [verdict_sentence(row) for row in data.to_dict("records")]
    if responses is not None and not responses.empty:
        unjudged = sorted(set(responses["respondent"]) - set(data["respondent"]))
        if unjudged:
            result.notes.append(
                f"No score from {judge.judge} for the answers of {', '.join(unjudged)}."
            )
    result.tables.append(
        make_table(
            "verdict",
            f"Verdict per respondent (judge {judge.judge})",
            data,
            [
                ("respondent", text_col("respondent"), False),
                ("answers", int_col("answers"), True),
                ("scored", int_col("n"), True),
                ("mean", float_col("mean"), True),
                ("95% CI", ci_col("ci_low", "ci_high"), True),
                ("harmful", int_col("harmful"), True),
                ("harmful %", pct_col("harmful_share"), True),
                ("harmful 95% CI", ci_col("harmful_ci_low", "harmful_ci_high", 2, pct=True), True),
                ("worst label", text_col("worst_label"), False),
                ("its mean", float_col("worst_mean"), True),
                ("its N", int_col("worst_n"), True),
            ],
            note="answers: every answer of the respondent in the store (failed ones too); "
            "scored: those with a valid score from the judge, over which the mean and the "
            "harmful rate are computed.",
        )
    )
    return result
