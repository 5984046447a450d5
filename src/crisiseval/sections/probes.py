"""Section "Probes": missed risk, over-refusal, pseudo-alignment and crisis resources per
respondent x probe suite x language, the help-versus-harm plot, and the behaviour counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.probes import (
    RATES,
    answer_behaviours,
    behaviour_counts,
    choose_behaviour_judge,
    help_harm_points,
    probe_metrics,
    resource_checks,
)
from crisiseval.probes.suite import BEHAVIOURS
from crisiseval.sections._format import int_col, text_col
from crisiseval.sections._model import (
    FigureSpec,
    NoDataError,
    Section,
    fmt_pct,
    is_missing,
    make_table,
)
from crisiseval.sections._registry import SectionInputs, section

if TYPE_CHECKING:
    from crisiseval.resources import Directory

__all__ = ["probes_section"]

NO_PROBES = "no probe suites in the run store (a sample made with `sample: probes: [...]`)"


@section("probes", title="Probes", order=35, requires=("probes", "responses"))
def _report_section(inputs: SectionInputs) -> Section:
    from crisiseval.resources import Directory

    return probes_section(
        inputs.probes,
        inputs.responses,
        inputs.behaviours,
        directory=Directory.load(None),
    )


def _rate_col(stem: str) -> Callable[[pd.Series], str]:
    """``12.50% [8.10%, 18.00%] (k/n)``; ``n/a`` with no answer to count."""

    def show(row: pd.Series) -> str:
        n = row[f"{stem}_n"]
        if is_missing(n) or int(n) == 0:
            return "n/a"
        return (
            f"{fmt_pct(row[stem], 1)} [{fmt_pct(row[f'{stem}_low'], 1)}, "
            f"{fmt_pct(row[f'{stem}_high'], 1)}] ({int(row[f'{stem}_k'])}/{int(n)})"
        )

    return show


def probes_section(
    probes: pd.DataFrame,
    responses: pd.DataFrame,
    behaviours: pd.DataFrame,
    *,
    directory: Directory,
    judge: str | None = None,
) -> Section:
    """The Probes section from the store's frames (``directory``: the resource check's)."""
    if probes.empty:
        raise NoDataError(NO_PROBES)
    answers = None
    section = Section(
        key="probes",
        title="Probes",
        intro=(
            "Hand-written probe suites: risky probes hide a crisis behind a question, benign "
            "twins ask about the same topic in a clearly benign context, and locale probes say "
            "where the user lives. Missed risk: risky probes answered with neutral information "
            "or actionable harm; over-refusal: benign twins refused or treated as a crisis; "
            "resources are found in the answers without a model (phone numbers, helpline "
            "names) and compared with the user's country."
        ),
    )
    if not behaviours.empty:
        try:
            judge = choose_behaviour_judge(behaviours, judge)
        except AnalysisError as exc:
            raise NoDataError(str(exc)) from exc
        answers = answer_behaviours(behaviours, judge)
        section.extra["behaviour_judge"] = judge
        section.title = f"Probes (behaviour judge: {judge})"
    else:
        section.notes.append(
            "No behaviour judge ran (add a behaviour: section): the behaviour rates are n/a."
        )
    checks = resource_checks(responses, probes, directory)
    try:
        metrics = probe_metrics(probes, responses, answers, checks)
    except AnalysisError as exc:
        raise NoDataError(str(exc)) from exc
    columns = [
        ("respondent", text_col("respondent"), False),
        ("suite", text_col("suite"), False),
        ("language", text_col("language"), False),
        ("answers", int_col("answers"), True),
    ]
    columns += [(name, _rate_col(stem), True) for stem, name in RATES]
    section.tables.append(
        make_table(
            "probe_metrics",
            "Probe metrics per respondent, suite and language",
            metrics,
            columns,
            note=(
                "Rates with 95% Wilson intervals and (count/answers). The unit is an answer: "
                "runs of one probe are not independent, so with several runs the intervals are "
                "optimistic."
            ),
        )
    )
    ties = int(metrics["ties"].sum())
    unjudged = int(metrics["unjudged"].sum())
    if unjudged:
        section.notes.append(
            f"{unjudged} answers have no behaviour and are left out of the behaviour rates: "
            f"{ties} whose judge runs tied, {unjudged - ties} with no usable judge run "
            "(unparsed, failed or not judged yet)."
        )
    points = help_harm_points(metrics)
    points = points[(points["over_refusal_n"] > 0) & (points["missed_risk_n"] > 0)]
    if not points.empty:
        section.figures.append(
            FigureSpec(
                name="help_harm",
                title="Help versus harm",
                kind="help_harm",
                params={
                    "names": list(points["respondent"]),
                    "over_refusal": list(points["over_refusal"]),
                    "over_low": list(points["over_refusal_low"]),
                    "over_high": list(points["over_refusal_high"]),
                    "missed_risk": list(points["missed_risk"]),
                    "missed_low": list(points["missed_risk_low"]),
                    "missed_high": list(points["missed_risk_high"]),
                    "title": "Help versus harm on paired probes (bottom left is safest)",
                },
                caption=(
                    "One point per respondent: over-refusal on benign twins against missed risk "
                    "on risky probes, pooled over the paired suites and their languages (each "
                    "answer weighs the same; the unpaired locale suite is left out)."
                ),
            )
        )
    if answers is not None and not answers.empty:
        counts = behaviour_counts(probes, answers)
        section.tables.append(
            make_table(
                "probe_behaviours",
                "Behaviours per respondent and intent",
                counts,
                [
                    ("respondent", text_col("respondent"), False),
                    ("intent", text_col("intent"), False),
                    *[(code, int_col(code), True) for code in BEHAVIOURS],
                ],
            )
        )
    return section
