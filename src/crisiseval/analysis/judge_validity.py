"""How well judges agree with human scores (and humans with each other) on the same responses.

Input: the judgments frame of :meth:`crisiseval.store.Store.judgments_frame`. A rater here is a
judge (``gpt-4o-mini``, ``human:H1``, ``jury``...); its score of a response is the mean of its
valid runs (:func:`crisiseval.analysis.scores.response_scores`). Two raters are compared on the
responses both scored: MAE, RMSE, the share within 1 point, and the quadratic-weighted kappa
(sklearn ``cohen_kappa_score(weights="quadratic")``) of the scores rounded half up to 1..5.

Also: a jury (the mean of several judges' scores of a response) and the study's lowest-score
sampling (per input, the lowest-scored response over respondents and runs), which builds the set
of answers the humans rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    cohen_kappa_score,
    mean_absolute_error,
    root_mean_squared_error,
)

from crisiseval.analysis.common import AnalysisError, round_half_up
from crisiseval.analysis.scores import judges, response_scores

__all__ = [
    "PairValidity",
    "compare_raters",
    "lowest_score_sample",
    "rater_score_table",
    "validity_matrix",
    "with_jury",
]

_SCALE = [1, 2, 3, 4, 5]


@dataclass(frozen=True)
class PairValidity:
    """Agreement of two raters' scores on the ``n`` responses both scored."""

    rater_a: str
    rater_b: str
    n: int
    mean_a: float
    mean_b: float
    mae: float
    rmse: float
    within_1: float
    qwk: float


def rater_score_table(
    judgments: pd.DataFrame,
    raters: Sequence[str] | None = None,
    *,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Responses x raters: each rater's score (mean of its valid runs); NaN where it did not
    score the response. ``raters`` default to every judge."""
    names = list(dict.fromkeys(raters)) if raters is not None else judges(judgments)
    if not names:
        raise AnalysisError("no raters given")
    columns = {}
    for name in names:
        columns[name] = response_scores(judgments, name, items=items).scores.set_index(
            "response_id"
        )["score"]
    table = pd.DataFrame(columns)
    table.index.name = "response_id"
    return table.sort_index()


def _compare(a: str, b: str, x: pd.Series, y: pd.Series) -> PairValidity:
    both = x.notna() & y.notna()
    if not both.any():
        raise AnalysisError(f"{a} and {b} scored no response in common")
    xa = x[both].to_numpy(dtype=float)
    yb = y[both].to_numpy(dtype=float)
    ra, rb = round_half_up(xa), round_half_up(yb)
    if len(set(ra.tolist()) | set(rb.tolist())) == 1:
        qwk = float("nan")  # both raters gave one and the same score: kappa undefined
    else:
        qwk = float(cohen_kappa_score(ra, rb, weights="quadratic", labels=_SCALE))
    return PairValidity(
        rater_a=a,
        rater_b=b,
        n=int(both.sum()),
        mean_a=float(xa.mean()),
        mean_b=float(yb.mean()),
        mae=float(mean_absolute_error(xa, yb)),
        rmse=float(root_mean_squared_error(xa, yb)),
        within_1=float(np.mean(np.abs(xa - yb) <= 1 + 1e-9)),
        qwk=qwk,
    )


def compare_raters(
    judgments: pd.DataFrame, rater_a: str, rater_b: str, *, items: Sequence[str] | None = None
) -> PairValidity:
    """MAE, RMSE, share within 1 point and quadratic-weighted kappa of two raters."""
    table = rater_score_table(judgments, [rater_a, rater_b], items=items)
    return _compare(rater_a, rater_b, table[rater_a], table[rater_b])


def validity_matrix(
    judgments: pd.DataFrame,
    raters: Sequence[str] | None = None,
    *,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:func:`compare_raters` for every pair of ``raters`` (default: all judges) that scored at
    least one response in common. Columns: the fields of :class:`PairValidity`."""
    table = rater_score_table(judgments, raters, items=items)
    rows: list[dict[str, Any]] = []
    for a, b in itertools.combinations(table.columns, 2):
        if (table[a].notna() & table[b].notna()).any():
            rows.append(asdict(_compare(str(a), str(b), table[a], table[b])))
    if not rows:
        raise AnalysisError("no two raters scored a response in common")
    return pd.DataFrame(rows)


def with_jury(
    judgments: pd.DataFrame, members: Sequence[str], *, name: str | None = None
) -> pd.DataFrame:
    """``judgments`` plus a jury: per response scored by every member, the mean of the members'
    scores, as judge ``name`` (default ``jury:<a>+<b>...``), judge run 0."""
    members = list(dict.fromkeys(members))
    if len(members) < 2:
        raise AnalysisError("a jury needs at least two judges")
    name = name or "jury:" + "+".join(members)
    if name in set(judgments["judge"]):
        raise AnalysisError(f"a judge named {name} already exists")
    table = rater_score_table(judgments, members).dropna()
    if table.empty:
        raise AnalysisError(f"no response is scored by all of {', '.join(members)}")
    ref = judgments.drop_duplicates("response_id").set_index("response_id")
    ref = ref.loc[table.index]
    first_label = (
        judgments[judgments["judge"].isin(members)]
        .dropna(subset=["label"])
        .drop_duplicates("response_id")
        .set_index("response_id")["label"]
    )
    jury = pd.DataFrame(
        {
            "response_id": table.index,
            "item_id": ref["item_id"].to_numpy(),
            "respondent": ref["respondent"].to_numpy(),
            "response_run": ref["response_run"].to_numpy(),
            "judge": name,
            "judge_kind": "model",
            "judge_run": 0,
            "label": first_label.reindex(table.index).to_numpy(),
            "score": table.mean(axis=1).to_numpy(),
            "status": "ok",
            "explanation": "mean of " + ", ".join(members),
            "origin": "analysis:jury",
        }
    )
    jury = jury.reindex(columns=judgments.columns)
    return pd.concat([judgments, jury], ignore_index=True)


def lowest_score_sample(
    judgments: pd.DataFrame, judge: str, *, items: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per input, its lowest-scored response by ``judge`` over all respondents and runs.

    Ties go to the respondent name, then the response run, then the response id (all ascending),
    so the choice is deterministic. Columns: item_id, response_id, respondent, response_run,
    label, score, n_candidates.
    """
    scored = response_scores(judgments, judge, items=items).scores
    if scored.empty:
        raise AnalysisError(f"judge {judge} has no valid score to sample from")
    ordered = scored.sort_values(
        ["item_id", "score", "respondent", "response_run", "response_id"], kind="mergesort"
    )
    lowest = ordered.drop_duplicates("item_id", keep="first").copy()
    lowest["n_candidates"] = scored.groupby("item_id").size().reindex(lowest["item_id"]).to_numpy()
    columns = [
        "item_id",
        "response_id",
        "respondent",
        "response_run",
        "label",
        "score",
        "n_candidates",
    ]
    return lowest.loc[:, columns].reset_index(drop=True)
