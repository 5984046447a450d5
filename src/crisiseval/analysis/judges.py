"""Which judge speaks for a run, and who is compared with whom in judge validity: the judge of
the score tables (:func:`choose_judge`), juries, the human mean, and the score summary of every
judge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from crisiseval.analysis.common import AnalysisError, require_columns
from crisiseval.analysis.judge_validity import with_jury
from crisiseval.analysis.scores import score_summary

__all__ = [
    "HUMAN_MEAN",
    "JudgeChoice",
    "ValidityPanel",
    "choose_judge",
    "is_jury",
    "jury_name",
    "primary_judge",
    "summary_by_judge",
    "validity_panel",
]

HUMAN_MEAN = "human mean"
"""Name of the mean of the human scorers' scores in the judge-validity tables."""

ChoiceRule = Literal["requested", "configured", "only", "coverage", "fallback"]


@dataclass(frozen=True)
class JudgeChoice:
    """The judge of the score tables, the verdict, the gallery and the lowest-score sample, and
    why it was chosen (see :func:`choose_judge`). ``str()`` gives ``judge (reason)``."""

    judge: str
    reason: str
    """One line, e.g. ``the experiment's first judge`` or ``given with -j``."""
    rule: ChoiceRule
    others: tuple[str, ...]
    """The store's other judges, sorted."""

    def __str__(self) -> str:
        return f"{self.judge} ({self.reason})"


def choose_judge(
    judgments: pd.DataFrame,
    responses: pd.DataFrame | None = None,
    *,
    configured: Sequence[str] = (),
    requested: str | None = None,
) -> JudgeChoice:
    """The judge that speaks for a run, first rule that applies:

    1. ``requested`` (``-j``): it must have judgments here, else :class:`AnalysisError`;
    2. ``configured``, the judges of the experiment file (:meth:`Store.configured_judges`): the
       first of them with judgments here;
    3. the only judge in the store;
    4. coverage (an imported study): the model judge whose valid judgments cover the most
       answers of ``responses`` (status ok; without ``responses``, the judged ones), so a judge
       that scored only a subsample (e.g. the lowest-scored answer per input) never wins over
       one that scored every answer; ties by most valid judgments, then by name. Juries count
       only when no single model judge has a valid judgment, human scorers only when no model
       judge does; with no valid judgment at all, the judge that judged the most answers.
    """
    if judgments.empty:
        raise AnalysisError("no judgments to choose a judge from")
    require_columns(judgments, ("response_id", "judge", "judge_kind", "status"), "judgments")
    names = sorted({str(j) for j in judgments["judge"]})

    def chosen(judge: str, reason: str, rule: ChoiceRule) -> JudgeChoice:
        return JudgeChoice(judge, reason, rule, tuple(n for n in names if n != judge))

    if requested is not None:
        if requested not in names:
            raise AnalysisError(f"no judgments by judge {requested} (judges: {', '.join(names)})")
        return chosen(requested, "given with -j", "requested")
    present = [j for j in configured if j in names]
    if present:
        first = configured[0]
        if present[0] == first:
            reason = (
                "the experiment's judge" if len(configured) == 1 else "the experiment's first judge"
            )
        else:
            reason = f"the experiment's first judge with judgments here ({first} has none)"
        return chosen(present[0], reason, "configured")
    missing = (
        f"the experiment's judges ({', '.join(configured)}) have no judgments here; "
        if configured
        else ""
    )
    if len(names) == 1:
        return chosen(names[0], missing + "the only judge", "only")
    return _by_coverage(judgments, responses, missing, chosen)


def _by_coverage(
    judgments: pd.DataFrame,
    responses: pd.DataFrame | None,
    prefix: str,
    chosen: Callable[[str, str, ChoiceRule], JudgeChoice],
) -> JudgeChoice:
    """Rule 4 of :func:`choose_judge`."""
    answers = pd.DataFrame()
    if responses is not None and not responses.empty:
        require_columns(responses, ("response_id", "respondent", "status"), "responses")
        answers = responses[responses["status"] == "ok"]
    if answers.empty:  # no answers given: the judged ones stand for them
        require_columns(judgments, ("respondent",), "judgments")
        answers = judgments.drop_duplicates("response_id")
    respondent_of = dict(zip(answers["response_id"], answers["respondent"], strict=True))
    frame = judgments[judgments["response_id"].isin(respondent_of)]
    if frame.empty:  # no judgment of a given answer: rank the judges by all their judgments
        frame = judgments
    valid = frame[frame["status"] == "ok"]
    model = valid["judge_kind"] == "model"
    jury = valid["judge"].map(lambda j: is_jury(str(j))).astype(bool)
    tiers: list[tuple[pd.DataFrame, str, ChoiceRule, str]] = [
        (valid[model & ~jury], "", "coverage", "scored"),
        (valid[model & jury], "no single model judge has a valid judgment; ", "fallback", "scored"),
        (valid[~model], "no model judge has a valid judgment; ", "fallback", "scored"),
        (frame, "no judge has a valid judgment; ", "fallback", "judged"),
    ]
    pool, why, rule, verb = next(t for t in tiers if not t[0].empty)
    stats = (
        pool.groupby("judge")
        .agg(covered=("response_id", "nunique"), n=("status", "size"))
        .reset_index()
        .assign(judge=lambda f: f["judge"].astype(str))
        .sort_values(["covered", "n", "judge"], ascending=[False, False, True])
    )
    best = str(stats["judge"].iloc[0])
    covered_ids = set(pool.loc[pool["judge"] == best, "response_id"])
    cov, total = len(covered_ids), len(respondent_of)
    if cov == total:
        what = f"{verb} every answer: {cov} of {total}"
    elif verb == "scored" and cov == valid["response_id"].nunique():
        what = f"scored every answer that any judge scored: {cov} of {total}"
    else:
        what = f"{verb} the most answers: {cov} of {total}"
    everyone = set(respondent_of.values())
    reached = {respondent_of[r] for r in covered_ids if r in respondent_of}
    if reached == everyone:
        who = {1: "the only respondent", 2: "both respondents"}.get(
            len(everyone), f"all {len(everyone)} respondents"
        )
    else:
        who = f"{len(reached)} of {len(everyone)} respondents"
    return chosen(best, f"{prefix}{why}{what}, from {who}", rule)


def primary_judge(judgments: pd.DataFrame) -> str:
    """:func:`choose_judge` from the judgments alone (no experiment file; the judged answers
    stand for the answers): the model judge that scored the most answers."""
    return choose_judge(judgments).judge


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
