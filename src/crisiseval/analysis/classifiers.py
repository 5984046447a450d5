"""One evaluation for every classifier kind against human experts: LLM classifiers (each run and
their majority), guard models, moderation endpoints and trained triage classifiers alike.

Input: the labels frame (:meth:`crisiseval.store.Store.labels_frame`), the reference raters (the
experts, e.g. ``human:H1..H4``), the items (those every expert labelled) and, optionally, a
continuous crisis score per (rater, item). Per classifier:

* **mean Cohen's kappa** over (run x expert) pairs on the seven labels — the study's headline
  metric. Unusable outputs count as one extra category (a disagreement), and so does
  ``any_crisis`` (a crisis without saying which: it matches no expert's label);
* **kappa against a consensus rater** (optional): reported beside, not as the headline;
* **per-label F1** (mean over run x expert pairs) and its mean over the labels;
* **binary crisis recall at fixed false-positive rates**: an expert's label says crisis (any
  label but ``no_crisis``) or not; the classifier's crisis score is its score when it gives one,
  else the share of its runs whose label is a crisis (``any_crisis`` included). The recall is
  the most the classifier reaches while flagging at most that share of the expert's no-crisis
  items (thresholds are the classifier's own score values: a binary classifier has one operating
  point, and recall 0 when even that flags too many), averaged over the experts;
* the same recall and false-positive rate **as labelled**: a crisis is what the classifier's
  labels call one (mean over run x expert pairs);
* a **confusion matrix** pooled over (run x expert) pairs (rows: the expert's label).

The experts themselves are evaluated the same way, each against the others: the human ceiling.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import f1_score

from crisiseval.analysis.agreement import INVALID, label_matrix
from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.raters import label_order, with_rater_keys
from crisiseval.taxonomy import LABELS, NO_CRISIS

__all__ = [
    "FPR_TARGETS",
    "HUMANS",
    "ClassifierEvaluation",
    "crisis_recall_at_fpr",
    "evaluate_classifier",
    "evaluate_humans",
    "is_crisis_label",
]

FPR_TARGETS: tuple[float, ...] = (0.05, 0.10)
HUMANS = "human experts (each vs the others)"


def is_crisis_label(label: object) -> bool:
    """A usable label that is not ``no_crisis`` (``any_crisis`` counts)."""
    return isinstance(label, str) and label not in (NO_CRISIS, INVALID)


@dataclass(frozen=True)
class ClassifierEvaluation:
    """The evaluation of one classifier (or of the experts against each other)."""

    rater: str
    runs: int
    n_items: int
    references: tuple[str, ...]
    mean_kappa: float
    min_kappa: float
    max_kappa: float
    kappa_consensus: float | None
    per_label_f1: dict[str, float]
    macro_f1: float
    crisis_recall: dict[float, float]
    """FPR target -> recall (mean over the references)."""
    crisis_fpr: dict[float, float]
    """FPR target -> the false-positive rate actually reached (mean over the references)."""
    labelled_recall: float
    """Crisis recall of the labels themselves (mean over run x reference pairs)."""
    labelled_fpr: float
    scored: bool
    """Whether a continuous crisis score was used (else the runs' labels)."""
    confusion: pd.DataFrame = field(repr=False)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rater": self.rater,
            "runs": self.runs,
            "n_items": self.n_items,
            "mean_kappa": self.mean_kappa,
            "min_kappa": self.min_kappa,
            "max_kappa": self.max_kappa,
            "kappa_consensus": self.kappa_consensus,
            "macro_f1": self.macro_f1,
            "labelled_recall": self.labelled_recall,
            "labelled_fpr": self.labelled_fpr,
            "crisis_score": "score" if self.scored else "labels",
        }
        for target in sorted(self.crisis_recall):
            out[f"recall_at_fpr_{round(100 * target)}"] = self.crisis_recall[target]
            out[f"fpr_at_{round(100 * target)}"] = self.crisis_fpr[target]
        for label in LABELS:
            out[f"f1_{label}"] = self.per_label_f1.get(label, float("nan"))
        return out


def crisis_recall_at_fpr(
    scores: npt.ArrayLike, truth: npt.ArrayLike, target: float
) -> tuple[float, float, float]:
    """(recall, false-positive rate, threshold) at the lowest threshold among ``scores`` whose
    false-positive rate is at most ``target`` (an item is flagged when its score is at or above
    the threshold). No such threshold: recall 0 at threshold +inf."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=bool)
    neg, pos = s[~t], s[t]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan"), float("nan")
    best: tuple[float, float, float] = (0.0, 0.0, float("inf"))
    for threshold in np.unique(s)[::-1]:
        fpr = float(np.mean(neg >= threshold))
        if fpr > target:
            break
        best = (float(np.mean(pos >= threshold)), fpr, float(threshold))
    return best


def _pair_values(matrix: pd.DataFrame, ref: str, rater: str) -> tuple[list[str], list[str]]:
    sub = matrix[[ref, rater]].dropna()
    return [str(v) for v in sub[ref]], [str(v) for v in sub[rater]]


def _kappa(a: Sequence[str], b: Sequence[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    cats = label_order([*a, *b])
    if len(cats) < 2:
        return float("nan")
    return float(cohen_kappa_score(a, b, labels=cats))


def _confusion(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> pd.DataFrame:
    cats = label_order([v for a, b in pairs for v in [*a, *b]])
    where = {c: i for i, c in enumerate(cats)}
    counts = np.zeros((len(cats), len(cats)), dtype=np.int64)
    for a, b in pairs:
        for x, y in zip(a, b, strict=True):
            counts[where[x], where[y]] += 1
    total = pd.DataFrame(counts, index=pd.Index(cats), columns=pd.Index(cats))
    total.index.name = "expert"
    total.columns.name = "classifier"
    return total


def _f1(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> dict[str, float]:
    values = [
        f1_score(a, b, labels=list(LABELS), average=None, zero_division=0.0) for a, b in pairs
    ]
    mean = np.mean(np.vstack(values), axis=0) if values else np.full(len(LABELS), np.nan)
    present = {lab for a, _ in pairs for lab in a}
    return {lab: float(v) for lab, v in zip(LABELS, mean, strict=True) if lab in present}


def _as_labelled(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> tuple[float, float]:
    """Mean crisis recall and false-positive rate of the second rater's labels against the
    first's, over ``pairs`` (items the first could not label are left out)."""
    recalls, fprs = [], []
    for a, b in pairs:
        truth = np.array([is_crisis_label(x) for x in a], dtype=bool)
        usable = np.array([x != INVALID for x in a], dtype=bool)
        flagged = np.array([is_crisis_label(y) for y in b], dtype=bool)
        pos, neg = truth & usable, ~truth & usable
        if pos.any():
            recalls.append(float(flagged[pos].mean()))
        if neg.any():
            fprs.append(float(flagged[neg].mean()))
    nan = float("nan")
    return (float(np.mean(recalls)) if recalls else nan, float(np.mean(fprs)) if fprs else nan)


def _evaluate(
    rater: str,
    pairs_by_ref: Mapping[str, list[tuple[list[str], list[str]]]],
    score_by_ref: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]],
    *,
    runs: int,
    n_items: int,
    kappa_consensus: float | None,
    scored: bool,
    fprs: Sequence[float],
) -> ClassifierEvaluation:
    pairs = [p for ps in pairs_by_ref.values() for p in ps]
    kappas = [_kappa(a, b) for a, b in pairs]
    recall: dict[float, float] = {}
    fpr_reached: dict[float, float] = {}
    for target in fprs:
        got = [crisis_recall_at_fpr(s, t, target) for s, t in score_by_ref.values()]
        recall[target] = float(np.nanmean([g[0] for g in got])) if got else float("nan")
        fpr_reached[target] = float(np.nanmean([g[1] for g in got])) if got else float("nan")
    f1 = _f1(pairs)
    labelled_recall, labelled_fpr = _as_labelled(pairs)
    return ClassifierEvaluation(
        rater=rater,
        runs=runs,
        n_items=n_items,
        references=tuple(pairs_by_ref),
        mean_kappa=float(np.nanmean(kappas)),
        min_kappa=float(np.nanmin(kappas)),
        max_kappa=float(np.nanmax(kappas)),
        kappa_consensus=kappa_consensus,
        per_label_f1=f1,
        macro_f1=float(np.mean(list(f1.values()))) if f1 else float("nan"),
        crisis_recall=recall,
        crisis_fpr=fpr_reached,
        labelled_recall=labelled_recall,
        labelled_fpr=labelled_fpr,
        scored=scored,
        confusion=_confusion(pairs),
    )


def evaluate_classifier(
    labels: pd.DataFrame,
    rater: str,
    references: Sequence[str],
    items: Sequence[str],
    *,
    consensus: str | None = None,
    scores: Mapping[str, float] | None = None,
    fprs: Sequence[float] = FPR_TARGETS,
) -> ClassifierEvaluation:
    """Evaluate ``rater`` (every run that labelled all ``items``, or a majority/consensus rater)
    against each reference on ``items`` (see the module docstring). ``scores``: item -> crisis
    score (a trained classifier's probability, a moderation score); items without one are
    scored by the runs' labels."""
    frame = with_rater_keys(labels)
    mine = frame[frame["rater"] == rater]
    if mine.empty:
        raise AnalysisError(f"no labels by {rater}")
    wanted = set(items)
    runs = sorted(str(k) for k, g in mine.groupby("key") if wanted <= set(g["item_id"]))
    if not runs:
        raise AnalysisError(f"no run of {rater} labelled all {len(wanted)} items")
    matrix = label_matrix(
        labels,
        [*references, *runs, *([consensus] if consensus else [])],
        items=list(items),
        invalid="category",
    )
    run_crisis = np.array(
        [[is_crisis_label(matrix.at[i, r]) for r in runs] for i in matrix.index], dtype=float
    ).mean(axis=1)
    given = np.array(
        [scores.get(str(i), np.nan) if scores else np.nan for i in matrix.index], dtype=float
    )
    score = np.where(np.isnan(given), run_crisis, given)
    pairs_by_ref: dict[str, list[tuple[list[str], list[str]]]] = {}
    score_by_ref: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = {}
    for ref in references:
        pairs_by_ref[ref] = [_pair_values(matrix, ref, run) for run in runs]
        usable = matrix[ref].map(lambda v: isinstance(v, str) and v != INVALID).to_numpy(bool)
        truth = matrix[ref].map(is_crisis_label).to_numpy(bool)
        score_by_ref[ref] = (score[usable], truth[usable])
    kappa_consensus = None
    if consensus:
        kappa_consensus = float(
            np.nanmean([_kappa(*_pair_values(matrix, consensus, run)) for run in runs])
        )
    return _evaluate(
        rater,
        pairs_by_ref,
        score_by_ref,
        runs=len(runs),
        n_items=len(matrix),
        kappa_consensus=kappa_consensus,
        scored=bool(scores) and not np.isnan(given).all(),
        fprs=fprs,
    )


def evaluate_humans(
    labels: pd.DataFrame,
    references: Sequence[str],
    items: Sequence[str],
    *,
    consensus: str | None = None,
    fprs: Sequence[float] = FPR_TARGETS,
) -> ClassifierEvaluation:
    """The experts evaluated as a classifier, each against each of the others (ordered pairs):
    the ceiling a classifier that agrees with experts as they agree with each other reaches.
    Its mean kappa is the experts' mean pairwise kappa."""
    if len(references) < 2:
        raise AnalysisError("the human ceiling needs at least two experts")
    cols = [*references, *([consensus] if consensus else [])]
    matrix = label_matrix(labels, cols, items=list(items), invalid="category")
    pairs_by_ref: dict[str, list[tuple[list[str], list[str]]]] = {}
    score_by_ref: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = {}
    for ref, other in itertools.permutations(references, 2):
        pairs_by_ref.setdefault(ref, []).append(_pair_values(matrix, ref, other))
        sub = matrix[[ref, other]].dropna()
        key = f"{ref} vs {other}"
        flagged = np.array([is_crisis_label(v) for v in sub[other]], dtype=np.float64)
        truth = np.array([is_crisis_label(v) for v in sub[ref]], dtype=np.bool_)
        score_by_ref[key] = (flagged, truth)
    kappa_consensus = None
    if consensus:
        kappa_consensus = float(
            np.nanmean([_kappa(*_pair_values(matrix, consensus, h)) for h in references])
        )
    return _evaluate(
        HUMANS,
        pairs_by_ref,
        score_by_ref,
        runs=1,
        n_items=len(matrix),
        kappa_consensus=kappa_consensus,
        scored=False,
        fprs=fprs,
    )
