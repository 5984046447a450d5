"""Which judge speaks for a run, and who is compared with whom in judge validity: the primary
judge, juries, the human mean, and the score summary of every judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.judge_validity import with_jury
from crisiseval.analysis.scores import score_summary

__all__ = [
    "HUMAN_MEAN",
    "ValidityPanel",
    "is_jury",
    "jury_name",
    "primary_judge",
    "summary_by_judge",
    "validity_panel",
]

HUMAN_MEAN = "human mean"
"""Name of the mean of the human scorers' scores in the judge-validity tables."""


def primary_judge(judgments: pd.DataFrame) -> str:
    """The run's main judge (of the score tables and the failure gallery): the model judge with
    the most valid judgments (a human scorer only when there is no model judge); ties by name.
    Without any valid judgment, the judge with the most judgments."""
    # TODO(issue 10): a judge that scored only a subset of the responses can win here.
    if judgments.empty:
        raise AnalysisError("no judgments to choose a judge from")
    ok = judgments[judgments["status"] == "ok"]
    pool = ok if not ok.empty else judgments
    models = pool[pool["judge_kind"] == "model"]
    if not models.empty:
        pool = models
    counts = pool.groupby("judge").size()
    ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return str(ranked[0][0])


def is_jury(judge: str) -> bool:
    """A jury stored as a judge (``jury`` or ``jury:<a>+<b>...``)."""
    return judge == "jury" or judge.startswith("jury:")


def jury_name(members: Sequence[str]) -> str:
    """The name of the jury of ``members``: ``jury:<a>+<b>...``."""
    return "jury:" + "+".join(members)


@dataclass(frozen=True, eq=False)
class ValidityPanel:
    """The raters of a judge-validity comparison (see :func:`validity_panel`)."""

    judgments: pd.DataFrame
    """The judgments plus the rows of the jury and the human mean formed here."""
    humans: tuple[str, ...]
    models: tuple[str, ...]
    """Model judges, sorted, then the jury formed here (if any)."""
    references: tuple[str, ...]
    """The human scorers, then :data:`HUMAN_MEAN` (if formed)."""
    stored_juries: tuple[str, ...]
    """Juries already in the store (then no jury is formed here)."""
    jury: str | None
    """The jury formed here: the mean of every model judge's score."""
    jury_error: str | None
    """Why no jury could be formed (two model judges or more, none stored)."""
    human_mean_error: str | None
    """Why the human mean could not be formed (two humans or more)."""


def validity_panel(judgments: pd.DataFrame) -> ValidityPanel:
    """Judges and references of judge validity: the model judges, plus a jury (the mean of the
    model judges' scores) when there are two or more and the store holds none; the human
    scorers, plus their mean (:data:`HUMAN_MEAN`) when there are two or more."""
    kinds = judgments.drop_duplicates("judge").set_index("judge")["judge_kind"]
    humans = sorted(str(j) for j, k in kinds.items() if k == "human")
    models = sorted(str(j) for j, k in kinds.items() if k != "human")
    frame = judgments
    stored = [m for m in models if is_jury(m)]
    jury: str | None = None
    jury_error: str | None = None
    if not stored and len(models) >= 2:
        try:
            frame = with_jury(frame, models, name=jury_name(models))
        except AnalysisError as exc:
            jury_error = str(exc)
        else:
            jury = jury_name(models)
            models.append(jury)
    references = list(humans)
    human_mean_error: str | None = None
    if len(humans) >= 2:
        try:
            frame = with_jury(frame, humans, name=HUMAN_MEAN)
        except AnalysisError as exc:
            human_mean_error = str(exc)
        else:
            references.append(HUMAN_MEAN)
    return ValidityPanel(
        judgments=frame,
        humans=tuple(humans),
        models=tuple(models),
        references=tuple(references),
        stored_juries=tuple(stored),
        jury=jury,
        jury_error=jury_error,
        human_mean_error=human_mean_error,
    )


def summary_by_judge(judgments: pd.DataFrame) -> pd.DataFrame | None:
    """Score summary per judge x respondent (no bootstrap) of every judge with a valid score,
    with a ``judge`` column; ``None`` when no judge has one."""
    frames = []
    for name in sorted(set(judgments["judge"])):
        try:
            summary = score_summary(judgments, name, by=("respondent",), n_boot=0)
        except AnalysisError:
            continue
        frames.append(summary.assign(judge=name))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)
