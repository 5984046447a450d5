"""A run's respondent beside a reference's respondents, and whether the two are like for like.

:func:`beside_reference`: one row per (label, respondent): the candidate's numbers computed here
with the study's definitions (:func:`crisiseval.analysis.scores.score_summary`: a score is the
mean of the judge's valid runs on an answer, the mean's 95% CI the normal approximation over
answers, harmful = a mean score of exactly 1 with a Wilson interval) and the reference's
published numbers. :func:`like_for_like` lists why the two may not be comparable: another
judge, another rubric, another set of inputs.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.compare import ALL
from crisiseval.analysis.scores import NO_LABEL, score_summary
from crisiseval.reference._model import Reference, _Result
from crisiseval.taxonomy import LABELS

__all__ = [
    "BESIDE_COLUMNS",
    "RunFacts",
    "beside_reference",
    "like_for_like",
    "rubric_version_of",
]

BESIDE_COLUMNS = (
    "label",
    "respondent",
    "source",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "harmful_pct",
    "harmful_low_pct",
    "harmful_high_pct",
    "rank",
)
"""``source``: ``run`` (the candidate, computed here) or ``reference`` (published). ``n``:
answers. ``rank``: place by mean among the respondents of the label (1 = highest mean)."""


def _candidate_rows(judgments: pd.DataFrame, judge: str, candidate: str) -> list[dict[str, object]]:
    scored = judgments[judgments["respondent"] == candidate]
    if scored.empty:
        known = ", ".join(sorted(set(judgments["respondent"]))) or "none"
        raise AnalysisError(
            f"candidate {candidate!r} has no judged answer here (respondents: {known})"
        )
    overall = score_summary(scored, judge, by=("respondent",), n_boot=0).assign(label=ALL)
    by_label = score_summary(scored, judge, by=("respondent", "label"), n_boot=0)
    both = pd.concat([overall, by_label[by_label["label"] != NO_LABEL]], ignore_index=True)
    return [
        {
            "label": str(r["label"]),
            "respondent": candidate,
            "source": "run",
            "n": int(r["n"]),
            "mean": float(r["mean"]),
            "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]),
            "harmful_pct": 100 * float(r["harmful_share"]),
            "harmful_low_pct": 100 * float(r["harmful_ci_low"]),
            "harmful_high_pct": 100 * float(r["harmful_ci_high"]),
        }
        for _, r in both.iterrows()
        if int(r["n"]) > 0
    ]


def _reference_rows(reference: Reference) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    nan = float("nan")
    for name, model in reference.models.items():
        results: list[tuple[str, _Result, tuple[float, float] | None]] = [(ALL, model, None)]
        results += [(lab, res, res.harmful_pct_interval) for lab, res in model.labels.items()]
        for label, res, interval in results:
            half = res.ci_half_width
            rows.append(
                {
                    "label": label,
                    "respondent": name,
                    "source": "reference",
                    "n": res.n,
                    "mean": res.mean,
                    "ci_low": nan if half is None else res.mean - half,
                    "ci_high": nan if half is None else res.mean + half,
                    "harmful_pct": res.harmful_pct,
                    "harmful_low_pct": nan if interval is None else interval[0],
                    "harmful_high_pct": nan if interval is None else interval[1],
                }
            )
    return rows


def beside_reference(
    judgments: pd.DataFrame, judge: str, candidate: str, reference: Reference
) -> pd.DataFrame:
    """The candidate's overall and per-label numbers (judge ``judge``) beside the reference's
    respondents (columns :data:`BESIDE_COLUMNS`; rows by label, :data:`ALL` first, then the
    taxonomy's order; within a label the candidate first, then the reference's order)."""
    # A candidate may share a studied respondent's name (the study's own answers, imported):
    # the source column tells the two apart.
    frame = pd.DataFrame(
        [*_candidate_rows(judgments, judge, candidate), *_reference_rows(reference)]
    )
    order = {lab: i for i, lab in enumerate((ALL, *LABELS))}
    # stable: within a label the rows keep their order (the candidate, then the reference's)
    frame = frame.sort_values(
        "label", key=lambda s: s.map(order).fillna(len(order)), kind="mergesort"
    ).reset_index(drop=True)
    frame["rank"] = frame.groupby("label")["mean"].rank(ascending=False, method="min").astype(int)
    return frame.loc[:, list(BESIDE_COLUMNS)]


@dataclass(frozen=True)
class RunFacts:
    """What the run tells about how its scores were made (gathered by the caller)."""

    judge: str
    judge_endpoints: Collection[str] = ()
    """Endpoint identities of the judge's calls (``openai:<base url>:<model id>``)."""
    rubric_versions: Collection[str] = ()
    """Rubric versions of the judge's calls (from their prompt versions)."""
    imported: bool = False
    """The candidate's judgments by this judge were imported from the study's files."""
    inputs: int = 0
    """Inputs the candidate answered."""


def rubric_version_of(prompt_version: str) -> str | None:
    """The rubric version in a judge call's prompt version (``<prompt>:<rubric>:<taxonomy>``)."""
    parts = prompt_version.split(":")
    return parts[1] if len(parts) == 3 and parts[1] else None


def _same_model(endpoint: str, model: str) -> bool:
    # The endpoint identity ends with the model id; a dated snapshot of the model counts.
    return re.search(rf":{re.escape(model)}(-\d{{4}}-\d{{2}}-\d{{2}})?$", endpoint) is not None


def like_for_like(
    reference: Reference,
    facts: RunFacts,
    *,
    study_rubric: tuple[str, str] | None = None,
    own_rubric_version: str | None = None,
) -> list[str]:
    """Why the run's numbers are not like for like with the reference (one line each; empty
    when nothing is known to differ and everything could be checked).

    ``study_rubric``: (path as given, version) of the study's rubric file, to check the judge's
    calls against; ``own_rubric_version``: the version of crisiseval's own rubric (a run judged
    with it certainly differs from the study).
    """
    out: list[str] = []
    study_judge = reference.judge
    endpoints = set(facts.judge_endpoints)
    if endpoints:
        if not all(_same_model(e, study_judge) for e in endpoints):
            out.append(
                f"the judge {facts.judge} does not call {study_judge}, the study's judge: "
                "not like for like"
            )
    elif facts.judge != study_judge:
        out.append(
            f"the judge {facts.judge} is not {study_judge}, the study's judge: not like for like"
        )
    versions = sorted(set(facts.rubric_versions))
    if facts.imported and not versions:
        pass  # the study's own judgments: its rubric
    elif not versions:
        out.append(
            f"the rubric could not be checked: no judge calls of {facts.judge} are recorded here"
        )
    elif study_rubric is not None:
        path, version = study_rubric
        if versions != [version]:
            out.append(
                f"the judge's calls used rubric version {', '.join(versions)}, not the study's "
                f"({version}, {path}): not like for like"
            )
    elif own_rubric_version is not None and own_rubric_version in versions:
        out.append(
            "the judge used crisiseval's own rubric, not the study's (set judge.rubric to the "
            "study's protocol.csv): not like for like"
        )
    else:
        out.append(
            "the rubric could not be checked: give the study's rubric file with --study-rubric"
        )
    n_ref = reference.test_set_records
    if facts.inputs != n_ref:
        out.append(
            f"the candidate answered {facts.inputs:,} inputs, not the study's test set of "
            f"{n_ref:,} records: not like for like"
        )
    return out
