"""How well judges agree with human scores (and humans with each other) on the same responses.

Input: the judgments frame of :meth:`crisiseval.store.Store.judgments_frame`. A rater here is a
judge (``gpt-4o-mini``, ``human:H1``, ``jury``...); its score of a response is the mean of its
valid runs (:func:`crisiseval.analysis.scores.response_scores`). Two raters are compared on the
responses both scored: MAE, RMSE, the share within 1 point, and the quadratic-weighted kappa
(sklearn ``cohen_kappa_score(weights="quadratic")``) of the scores rounded half up to 1..5.

Also: a jury or judge panel (several judges' scores of a response aggregated by their mean or
median) and the study's lowest-score sampling (per input, the lowest-scored response over
respondents and runs), which builds the set of answers the humans rate.

Where a judge diverges from the humans (the study's open question 4):

* :func:`score_differences`: per response both scored, judge - reference (signed);
* :func:`signed_bias`: the mean signed difference with a percentile-bootstrap CI that resamples
  *inputs* (every response to one input moves together; seeded), overall, by category or by the
  reference's score level (rounded half up: does the judge over-score answers the humans found
  harmful?);
* :func:`largest_divergences`: the responses with the largest absolute difference, with both
  rationales;
* :func:`panel_comparison`: a panel of judges (mean or median) against each single judge, all
  on the same responses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import (
    cohen_kappa_score,
    mean_absolute_error,
    root_mean_squared_error,
)

from crisiseval.analysis.common import AnalysisError, round_half_up
from crisiseval.analysis.scores import NO_LABEL, judges, response_scores
from crisiseval.taxonomy import LABELS

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "BiasBy",
    "PairValidity",
    "compare_raters",
    "largest_divergences",
    "lowest_score_sample",
    "panel_comparison",
    "panel_name",
    "rater_score_table",
    "score_differences",
    "signed_bias",
    "validity_matrix",
    "with_jury",
]

_SCALE = [1, 2, 3, 4, 5]

Aggregate = Literal["mean", "median"]
"""How a jury or panel combines its members' scores of a response."""
AGGREGATES: tuple[Aggregate, ...] = ("mean", "median")
BiasBy = Literal["label", "reference_level"]
"""Groups of :func:`signed_bias`: the response's category, or the reference's score level."""


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
    judgments: pd.DataFrame,
    members: Sequence[str],
    *,
    name: str | None = None,
    how: Aggregate = "mean",
) -> pd.DataFrame:
    """``judgments`` plus a jury: per response scored by every member, the ``how`` (mean or
    median) of the members' scores, as judge ``name`` (default ``jury:<a>+<b>...``), judge run 0.
    Each member's score of a response is already the mean of its valid runs."""
    if how not in AGGREGATES:
        raise AnalysisError(f"a jury aggregates by {' or '.join(AGGREGATES)}, not {how!r}")
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
    combined = table.mean(axis=1) if how == "mean" else table.median(axis=1)
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
            "score": combined.to_numpy(),
            "status": "ok",
            "explanation": f"{how} of " + ", ".join(members),
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


# ---------------------------------------------------------------------------------------------
# where a judge diverges from the humans


def panel_name(how: Aggregate) -> str:
    """The judge name of a panel formed by :func:`panel_comparison` (``panel (mean)``)."""
    return f"panel ({how})"


_DIFF_COLUMNS = [
    "response_id",
    "item_id",
    "respondent",
    "response_run",
    "label",
    "judge_score",
    "reference_score",
    "difference",
    "reference_level",
]


def score_differences(
    judgments: pd.DataFrame,
    judge: str,
    reference: str,
    *,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per response scored by both ``judge`` and ``reference``: each one's score (the mean of
    its valid runs), ``difference`` = judge - reference (positive: the judge scores higher than
    the reference), and ``reference_level``, the reference's score rounded half up to 1-5.

    ``label`` is the category the judge scored the response under (else the reference's).
    Sorted by response id; :class:`AnalysisError` when they scored no response in common."""
    mine = response_scores(judgments, judge, items=items).scores.set_index("response_id")
    theirs = response_scores(judgments, reference, items=items).scores.set_index("response_id")
    common = mine.index.intersection(theirs.index).sort_values()
    if common.empty:
        raise AnalysisError(f"{judge} and {reference} scored no response in common")
    mine, theirs = mine.loc[common], theirs.loc[common]
    label = mine["label"].where(mine["label"] != NO_LABEL, theirs["label"])
    out = pd.DataFrame(
        {
            "response_id": common,
            "item_id": mine["item_id"].to_numpy(),
            "respondent": mine["respondent"].to_numpy(),
            "response_run": mine["response_run"].to_numpy(dtype=int),
            "label": label.to_numpy(),
            "judge_score": mine["score"].to_numpy(dtype=float),
            "reference_score": theirs["score"].to_numpy(dtype=float),
        }
    )
    out["difference"] = out["judge_score"] - out["reference_score"]
    out["reference_level"] = round_half_up(out["reference_score"].to_numpy(dtype=float))
    return out.loc[:, _DIFF_COLUMNS]


def _mean_ci(frame: pd.DataFrame, n_boot: int, seed: int, confidence: float) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean difference, resampling inputs (all responses to one
    input move together); NaN with fewer than two inputs or no resamples."""
    per_input = frame.groupby("item_id")["difference"].agg(["sum", "count"])
    if len(per_input) < 2 or n_boot <= 0:
        return float("nan"), float("nan")
    sums = per_input["sum"].to_numpy(dtype=float)
    counts = per_input["count"].to_numpy(dtype=float)
    if np.ptp(sums / counts) == 0:  # every input the same: the bootstrap has nothing to vary
        value = float(sums.sum() / counts.sum())
        return value, value

    def ratio(s: Any, c: Any, axis: int = -1) -> Any:
        return np.sum(s, axis=axis) / np.sum(c, axis=axis)

    res = stats.bootstrap(
        (sums, counts),
        ratio,
        paired=True,
        vectorized=True,
        n_resamples=n_boot,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _group_order(values: pd.Series, by: BiasBy | None) -> list[Any]:
    present = list(dict.fromkeys(values.tolist()))
    if by == "label":
        return [x for x in LABELS if x in present] + sorted(x for x in present if x not in LABELS)
    return sorted(present)


def signed_bias(
    judgments: pd.DataFrame,
    judge: str,
    reference: str,
    *,
    by: BiasBy | None = None,
    items: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The signed bias of ``judge`` against ``reference``: the mean of judge - reference over
    the responses both scored, with a percentile-bootstrap CI over inputs (``n_boot``
    resamples, ``seed``). A positive bias: the judge scores higher (more lenient) than the
    reference.

    ``by``: one row per category (``label``, in the taxonomy's order) or per reference score
    level (``reference_level``, 1-5: a positive bias at level 1 means the judge over-scores
    answers the reference found harmful); ``None``: one row, group ``all``.

    Columns: judge, reference, by, group, n (responses), n_inputs, mean_judge, mean_reference,
    bias, ci_low, ci_high, share_higher (judge > reference), share_lower (judge < reference).
    """
    if by not in (None, "label", "reference_level"):
        raise AnalysisError(f"signed bias by {by!r}: expected 'label' or 'reference_level'")
    diffs = score_differences(judgments, judge, reference, items=items)
    key = "all" if by is None else by
    if by is None:
        diffs = diffs.assign(all="all")
    rows: list[dict[str, Any]] = []
    for group in _group_order(diffs[key], by):
        part = diffs[diffs[key] == group]
        d = part["difference"].to_numpy(dtype=float)
        low, high = _mean_ci(part, n_boot, seed, confidence)
        rows.append(
            {
                "judge": judge,
                "reference": reference,
                "by": key,
                "group": str(group),
                "n": len(part),
                "n_inputs": int(part["item_id"].nunique()),
                "mean_judge": float(part["judge_score"].mean()),
                "mean_reference": float(part["reference_score"].mean()),
                "bias": float(d.mean()),
                "ci_low": low,
                "ci_high": high,
                "share_higher": float(np.mean(d > 1e-9)),
                "share_lower": float(np.mean(d < -1e-9)),
            }
        )
    return pd.DataFrame(rows)


def _rationales(judgments: pd.DataFrame, rater: str, scores: pd.Series) -> pd.Series:
    """Per response, the explanation of ``rater``'s valid run whose score is closest to its
    score of the response (``scores``: response id -> score) among the runs that explain
    themselves, ties to the lowest run; a released mean (run 0) only where the response has no
    per-run row. None where no run has an explanation."""
    rows = judgments[(judgments["judge"] == rater) & (judgments["status"] == "ok")]
    rows = rows[rows["response_id"].isin(scores.index)]
    has_runs = rows.loc[rows["judge_run"] > 0, "response_id"].unique()
    rows = rows[(rows["judge_run"] > 0) | ~rows["response_id"].isin(has_runs)]
    if rows.empty:
        return pd.Series(dtype=object)
    distance = (rows["score"].astype(float) - rows["response_id"].map(scores)).abs()
    silent = rows["explanation"].map(lambda x: pd.isna(x) or not str(x).strip())
    best = (
        rows.assign(distance=distance, silent=silent)
        .sort_values(["response_id", "silent", "distance", "judge_run"], kind="mergesort")
        .drop_duplicates("response_id")
        .set_index("response_id")["explanation"]
    )
    return pd.Series(
        [None if pd.isna(x) or not str(x).strip() else str(x) for x in best],
        index=best.index,
        dtype=object,
    )


def largest_divergences(
    judgments: pd.DataFrame,
    judge: str,
    reference: str,
    *,
    top: int = 10,
    reference_members: Sequence[str] = (),
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The ``top`` responses on which ``judge`` and ``reference`` differ most (absolute
    difference; ties by respondent, item, response id), with both rationales.

    ``judge_rationale``: the judge's explanation of its run closest to its score (among the
    runs with an explanation).
    ``reference_rationale``: the reference's explanation (a human's note); for a reference that
    is an aggregate of ``reference_members`` (the human mean), each member's score and note.
    Columns: rank, the columns of :func:`score_differences`, judge_rationale,
    reference_rationale."""
    if top < 1:
        raise AnalysisError(f"top must be at least 1, got {top}")
    diffs = score_differences(judgments, judge, reference, items=items)
    ordered = diffs.assign(_abs=diffs["difference"].abs()).sort_values(
        ["_abs", "respondent", "item_id", "response_id"],
        ascending=[False, True, True, True],
        kind="mergesort",
    )
    picked = ordered.head(top).drop(columns="_abs").reset_index(drop=True)
    ids = pd.Index(picked["response_id"])
    judge_scores = picked.set_index("response_id")["judge_score"]
    picked["judge_rationale"] = _present(_rationales(judgments, judge, judge_scores), ids)
    if reference_members:
        table = rater_score_table(judgments, list(reference_members)).reindex(ids)
        notes = {m: _rationales(judgments, m, table[m].dropna()) for m in reference_members}
        picked["reference_rationale"] = [
            "; ".join(
                f"{m} ({_score_text(table.loc[rid, m])}): {notes[m].get(rid) or '(no rationale)'}"
                for m in reference_members
                if not pd.isna(table.loc[rid, m])
            )
            for rid in ids
        ]
    else:
        ref_scores = picked.set_index("response_id")["reference_score"]
        picked["reference_rationale"] = _present(_rationales(judgments, reference, ref_scores), ids)
    picked.insert(0, "rank", np.arange(1, len(picked) + 1))
    return picked


def _present(notes: pd.Series, ids: pd.Index) -> list[str | None]:
    return [notes.get(rid) for rid in ids]


def _score_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def panel_comparison(
    judgments: pd.DataFrame,
    members: Sequence[str],
    reference: str,
    *,
    how: Sequence[Aggregate] = AGGREGATES,
    juries: Sequence[str] = (),
) -> pd.DataFrame:
    """A panel of ``members`` (their scores aggregated by each of ``how``) against each single
    member, and against ``juries`` already in the store, all compared with ``reference`` on the
    same responses: those every member, every jury and the reference scored.

    Columns: rater, kind (``judge``, ``panel`` or ``jury``), n, mean_rater, mean_reference, bias
    (rater - reference), mae, rmse, within_1, qwk."""
    members = list(dict.fromkeys(members))
    if len(members) < 2:
        raise AnalysisError("a judge panel needs at least two judges")
    frame = judgments
    panels = []
    for h in dict.fromkeys(how):
        frame = with_jury(frame, members, name=panel_name(h), how=h)
        panels.append(panel_name(h))
    raters = [*members, *panels, *juries]
    table = rater_score_table(frame, [*raters, reference]).dropna()
    if table.empty:
        raise AnalysisError(
            f"no response is scored by all of {', '.join([*members, *juries])} and {reference}"
        )
    kinds = {**dict.fromkeys(members, "judge"), **dict.fromkeys(panels, "panel")}
    rows = []
    for rater in raters:
        pair = _compare(rater, reference, table[rater], table[reference])
        rows.append(
            {
                "rater": rater,
                "kind": kinds.get(rater, "jury"),
                "n": pair.n,
                "mean_rater": pair.mean_a,
                "mean_reference": pair.mean_b,
                "bias": pair.mean_a - pair.mean_b,
                "mae": pair.mae,
                "rmse": pair.rmse,
                "within_1": pair.within_1,
                "qwk": pair.qwk,
            }
        )
    return pd.DataFrame(rows)
