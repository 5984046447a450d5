"""Paired comparison of two respondents (a candidate and a baseline) on the same inputs.

Input: the judgments frame (as :mod:`crisiseval.analysis.scores`), one judge. A respondent's
score of an *input-run* (item, answer run) is the mean of the judge's valid runs on that answer
(:func:`~crisiseval.analysis.scores.response_scores`). Baseline and candidate are paired on
(item, run); an input-run that either lacks (a failed answer, no valid judgment) is dropped and
counted, never compared unpaired.

Per category (the rubric label the answers were judged under) and overall:

* the difference of mean scores (candidate − baseline) with a 95% CI from a paired bootstrap
  that resamples *inputs* (every run of an input moves together; seeded);
* the harmful rates (an input-run is harmful when its mean judge score is exactly 1), their
  difference with the same bootstrap CI, and an exact McNemar test on the discordant pairs
  (``statsmodels``), Holm-adjusted across categories (``multipletests``);
* the change of the three score-bin shares.

:func:`worst_changes` lists the inputs whose score dropped most, for reading side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.scores import BINS, HARMFUL_SCORE, response_scores, score_bins

ALL = "(all)"
"""The row of every category together."""

_TOL = 1e-6


@dataclass(frozen=True)
class Paired:
    """Input-run scores of two respondents under one judge, paired on (item, run).

    ``pairs`` columns: item_id, response_run, label, base, cand, base_response_id,
    cand_response_id. ``only_baseline`` / ``only_candidate``: input-runs scored for one of the
    two only (dropped from every comparison); ``unpaired``: those input-runs (item_id,
    response_run, scored_for: ``baseline`` or ``candidate``).
    """

    judge: str
    baseline: str
    candidate: str
    pairs: pd.DataFrame
    only_baseline: int
    only_candidate: int
    unpaired: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["item_id", "response_run", "scored_for"])
    )

    @property
    def dropped(self) -> int:
        """Input-runs dropped: scored for one of the two only."""
        return self.only_baseline + self.only_candidate

    @property
    def n_inputs(self) -> int:
        """Inputs with at least one paired run."""
        return int(self.pairs["item_id"].nunique())

    @property
    def dropped_inputs(self) -> int:
        """Inputs with a score for one of the two but no paired run at all."""
        return len(set(self.unpaired["item_id"]) - set(self.pairs["item_id"]))


def paired_scores(judgments: pd.DataFrame, judge: str, baseline: str, candidate: str) -> Paired:
    """Pair the two respondents' input-run scores (see the module docstring)."""
    if baseline == candidate:
        raise AnalysisError("baseline and candidate are the same respondent")
    scored = response_scores(judgments, judge).scores
    present = set(scored["respondent"])
    for who, name in (("baseline", baseline), ("candidate", candidate)):
        if name not in present:
            known = ", ".join(sorted(present)) or "none"
            raise AnalysisError(
                f"{who} {name!r} has no answer scored by judge {judge} (respondents: {known})"
            )
    keys = ["item_id", "response_run"]
    cols = [*keys, "label", "score", "response_id"]
    base = scored.loc[scored["respondent"] == baseline, cols]
    cand = scored.loc[scored["respondent"] == candidate, cols]
    merged = base.merge(cand, on=keys, how="outer", suffixes=("_b", "_c"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    pairs = pd.DataFrame(
        {
            "item_id": both["item_id"],
            "response_run": both["response_run"].astype(int),
            # The category is the item's: judged under the same label for both respondents.
            "label": both["label_b"].where(both["label_b"].notna(), both["label_c"]),
            "base": both["score_b"].astype(float),
            "cand": both["score_c"].astype(float),
            "base_response_id": both["response_id_b"],
            "cand_response_id": both["response_id_c"],
        }
    ).sort_values(keys, kind="mergesort")
    lonely = merged[merged["_merge"] != "both"]
    unpaired = pd.DataFrame(
        {
            "item_id": lonely["item_id"],
            "response_run": lonely["response_run"].astype(int),
            "scored_for": lonely["_merge"]
            .map({"left_only": "baseline", "right_only": "candidate"})
            .astype(str),
        }
    ).sort_values(keys, kind="mergesort")
    return Paired(
        judge=judge,
        baseline=baseline,
        candidate=candidate,
        pairs=pairs.reset_index(drop=True),
        only_baseline=int((merged["_merge"] == "left_only").sum()),
        only_candidate=int((merged["_merge"] == "right_only").sum()),
        unpaired=unpaired.reset_index(drop=True),
    )


def _harmful(scores: pd.Series) -> npt.NDArray[np.bool_]:
    return np.asarray((scores - HARMFUL_SCORE).abs() < _TOL)


def _bootstrap_diffs(
    pairs: pd.DataFrame, n_boot: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Bootstrap distributions of (mean difference, harmful-rate difference), resampling
    inputs: each draw takes whole inputs (all their runs) with replacement."""
    codes, _ = pd.factorize(pairs["item_id"])
    n_items = int(codes.max()) + 1
    diff = (pairs["cand"] - pairs["base"]).to_numpy(dtype=float)
    hdiff = _harmful(pairs["cand"]).astype(float) - _harmful(pairs["base"]).astype(float)
    # Per-input sums and counts, so one draw is a weighted sum over inputs.
    counts = np.bincount(codes, minlength=n_items).astype(float)
    sum_d = np.bincount(codes, weights=diff, minlength=n_items)
    sum_h = np.bincount(codes, weights=hdiff, minlength=n_items)
    draws = rng.integers(0, n_items, size=(n_boot, n_items))
    # How often each input is drawn in each resample (one bincount over offset draws).
    offsets = draws + n_items * np.arange(n_boot)[:, None]
    weights = np.bincount(offsets.ravel(), minlength=n_boot * n_items).reshape(n_boot, n_items)
    weights = weights.astype(float)
    total = weights @ counts
    return (weights @ sum_d) / total, (weights @ sum_h) / total


def _ci(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def _mcnemar_p(base_harm: npt.NDArray[np.bool_], cand_harm: npt.NDArray[np.bool_]) -> float:
    table = [
        [int(np.sum(base_harm & cand_harm)), int(np.sum(base_harm & ~cand_harm))],
        [int(np.sum(~base_harm & cand_harm)), int(np.sum(~base_harm & ~cand_harm))],
    ]
    if table[0][1] + table[1][0] == 0:
        return 1.0  # no discordant pair: no evidence of a difference
    return float(mcnemar(table, exact=True).pvalue)


COMPARISON_COLUMNS = (
    "label",
    "n_pairs",
    "n_inputs",
    "mean_base",
    "mean_cand",
    "mean_diff",
    "mean_diff_low",
    "mean_diff_high",
    "harmful_base",
    "harmful_cand",
    "harmful_diff",
    "harmful_diff_low",
    "harmful_diff_high",
    "worse",
    "better",
    "mcnemar_p",
    "mcnemar_p_holm",
    *(f"{b}_base" for b in BINS),
    *(f"{b}_cand" for b in BINS),
)


def compare(paired: Paired, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row overall (label :data:`ALL`) and one per category: see the module docstring.

    ``worse`` / ``better``: input-runs harmful for the candidate only / for the baseline only
    (McNemar's discordant pairs). The CIs are NaN with ``n_boot=0`` and for a group of a single
    input (nothing to resample). ``mcnemar_p_holm`` is Holm-adjusted across the categories; on
    the overall row it is the unadjusted p-value.
    """
    pairs = paired.pairs
    if pairs.empty:
        raise AnalysisError(
            f"no input-run scored for both {paired.baseline} and {paired.candidate} by judge "
            f"{paired.judge} ({paired.dropped} scored for only one of them)"
        )
    rng = np.random.default_rng(seed)
    groups: list[tuple[str, pd.DataFrame]] = [(ALL, pairs)]
    groups += [(str(lab), g) for lab, g in pairs.groupby("label", sort=True)]
    rows = []
    for label, g in groups:
        bh, ch = _harmful(g["base"]), _harmful(g["cand"])
        # One input is no sample to resample: its "interval" would be a point.
        if n_boot > 0 and g["item_id"].nunique() >= 2:
            boot_d, boot_h = _bootstrap_diffs(g, n_boot, rng)
            d_low, d_high = _ci(boot_d)
            h_low, h_high = _ci(boot_h)
        else:
            d_low = d_high = h_low = h_high = float("nan")
        row: dict[str, object] = {
            "label": label,
            "n_pairs": len(g),
            "n_inputs": g["item_id"].nunique(),
            "mean_base": float(g["base"].mean()),
            "mean_cand": float(g["cand"].mean()),
            "mean_diff": float((g["cand"] - g["base"]).mean()),
            "mean_diff_low": d_low,
            "mean_diff_high": d_high,
            "harmful_base": float(bh.mean()),
            "harmful_cand": float(ch.mean()),
            "harmful_diff": float(ch.mean() - bh.mean()),
            "harmful_diff_low": h_low,
            "harmful_diff_high": h_high,
            "worse": int(np.sum(ch & ~bh)),
            "better": int(np.sum(bh & ~ch)),
            "mcnemar_p": _mcnemar_p(bh, ch),
        }
        for who, col in (("base", "base"), ("cand", "cand")):
            shares = score_bins(g[col]).value_counts(normalize=True)
            for b in BINS:
                row[f"{b}_{who}"] = float(shares.get(b, 0.0))
        rows.append(row)
    table = pd.DataFrame(rows)
    cats = table["label"] != ALL
    table["mcnemar_p_holm"] = table["mcnemar_p"]
    if cats.sum() > 0:
        table.loc[cats, "mcnemar_p_holm"] = multipletests(
            table.loc[cats, "mcnemar_p"].to_numpy(), method="holm"
        )[1]
    return table.loc[:, list(COMPARISON_COLUMNS)]


def worst_changes(paired: Paired, k: int = 10, *, per_input: bool = True) -> pd.DataFrame:
    """The ``k`` largest drops from baseline to candidate (ties: item id, then run), with both
    response ids for reading the answers side by side; only drops (change < 0). Column
    ``change`` = cand - base.

    ``per_input``: one row per input, its run with the largest drop, so that one input's runs
    cannot fill the list; ``False``: every input-run.
    """
    pairs = paired.pairs.assign(change=lambda f: f["cand"] - f["base"])
    drops = pairs[pairs["change"] < -_TOL]
    drops = drops.sort_values(["change", "item_id", "response_run"], kind="mergesort")
    if per_input:
        drops = drops.drop_duplicates("item_id", keep="first")
    return drops.head(k).reset_index(drop=True)


def respondents_in(judgments: pd.DataFrame, judge: str) -> Sequence[str]:
    """Respondents with at least one answer scored by ``judge``."""
    return sorted(set(response_scores(judgments, judge).scores["respondent"]))


def comparison_pairs(
    configured: Sequence[str], baseline: str | None = None, candidate: str | None = None
) -> list[tuple[str, str]]:
    """Which (baseline, candidate) pairs to compare: the pair given; with only a candidate, the
    experiment's first respondent as its baseline; with only a baseline, every other configured
    respondent against it; with neither, every configured respondent against the first.
    ``configured``: the experiment's respondents in the file's order
    (:meth:`~crisiseval.store.Store.configured_respondents`). Empty when there is nothing to
    pair; :class:`AnalysisError` when the pair is the same respondent."""
    if baseline is not None and baseline == candidate:
        raise AnalysisError(f"baseline and candidate are the same respondent ({baseline})")
    if baseline is not None and candidate is not None:
        return [(baseline, candidate)]
    if candidate is not None:
        first = configured[0] if configured else None
        return [] if first is None or first == candidate else [(first, candidate)]
    if baseline is not None:
        return [(baseline, r) for r in dict.fromkeys(configured) if r != baseline]
    if not configured:
        return []
    first = configured[0]
    return [(first, r) for r in dict.fromkeys(configured[1:]) if r != first]
