"""Agreement on crisis labels between raters: humans, classifier runs, majorities.

Input: the labels frame of :meth:`crisiseval.store.Store.labels_frame` (columns ``rater``,
``rater_kind``, ``run_index``, ``item_id``, ``label``, ``status``). A rater is one
(rater, run_index), written ``gpt-4o-mini#1`` (run 0, used by humans and majorities: the plain
name, ``human:H1``); see :func:`rater_keys`.

Labels whose status is not ``ok`` (an unusable classifier output, a tie) are handled by the
``invalid`` policy of each function:

* ``"drop"``: compare only items both (all) raters labelled with status ok;
* ``"category"``: keep them as one extra category, :data:`INVALID` (a disagreement with every
  real label). This is how the study counted the classifiers' empty labels: gpt-4o-mini's mean
  Cohen's kappa against the four experts on the validation set is 0.645 this way (0.649 when
  dropping them).

The item set is ``items`` when given (every rater must then have a row for every item, otherwise
:class:`~crisiseval.analysis.common.AnalysisError` names the rater and what is missing), else the
items every rater in the comparison has a row for.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from crisiseval.analysis.common import AnalysisError, require_columns
from crisiseval.taxonomy import LABELS

__all__ = [
    "INVALID",
    "GroupAgreement",
    "InvalidPolicy",
    "PairAgreement",
    "ReferenceAgreement",
    "classifiers_vs_humans",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_kappa",
    "kappa_vs_reference",
    "krippendorff_alpha",
    "label_matrix",
    "mean_pairwise_kappa",
    "most_confused_pairs",
    "pairwise_agreement",
    "rater_keys",
]

INVALID = "(no label)"
"""The category that non-ok labels become under ``invalid="category"``."""

InvalidPolicy = Literal["drop", "category"]

_COLUMNS = ("rater", "rater_kind", "run_index", "item_id", "label", "status")


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa and raw agreement of two raters on ``n_items`` items."""

    rater_a: str
    rater_b: str
    n_items: int
    kappa: float
    agreement: float


@dataclass(frozen=True)
class GroupAgreement:
    """One agreement statistic over a group of raters (``method`` names it)."""

    method: str
    raters: tuple[str, ...]
    n_items: int
    value: float


@dataclass(frozen=True)
class ReferenceAgreement:
    """Cohen's kappa of every run of one rater against every reference rater.

    ``pairs`` has one row per (run, reference): rater_a, rater_b, n_items, kappa, agreement.
    ``excluded_runs`` are runs of the rater that do not cover the item set (e.g. runs made on
    another sample); they are left out of the mean.
    """

    rater: str
    runs: tuple[str, ...]
    references: tuple[str, ...]
    excluded_runs: tuple[str, ...]
    n_items: int
    pairs: pd.DataFrame
    mean_kappa: float
    min_kappa: float
    max_kappa: float
    mean_agreement: float


# ---------------------------------------------------------------------------------------------
# the matrix


def _checked(labels: pd.DataFrame) -> pd.DataFrame:
    require_columns(labels, _COLUMNS, "labels")
    if labels.empty:
        raise AnalysisError("no labels to compare (the labels table is empty)")
    frame = labels.loc[:, list(_COLUMNS)].copy()
    runs = frame["run_index"].astype(int)
    # the vectorised form of rater_key(rater, run_index)
    frame["key"] = (
        frame["rater"]
        .astype(str)
        .where(runs == 0, frame["rater"].astype(str) + "#" + runs.astype(str))
    )
    dup = frame.duplicated(["key", "item_id"])
    if dup.any():
        first = frame.loc[dup].iloc[0]
        raise AnalysisError(
            f"rater {first['key']} has {int(dup.sum())} duplicate label row(s) "
            f"(first: item {first['item_id']})"
        )
    return frame


def rater_keys(labels: pd.DataFrame, kind: str | None = None) -> list[str]:
    """The rater keys in ``labels`` (of one ``rater_kind`` if given), sorted."""
    frame = _checked(labels)
    if kind is not None:
        frame = frame[frame["rater_kind"] == kind]
    return sorted(set(frame["key"]))


def label_matrix(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> pd.DataFrame:
    """Items x raters: the label, or None (``drop``) / :data:`INVALID` (``category``) when the
    label's status is not ok. Rows: ``items`` in order, else the items every rater has a row for
    (sorted)."""
    if invalid not in ("drop", "category"):
        raise AnalysisError(f"invalid={invalid!r}: expected 'drop' or 'category'")
    raters = list(dict.fromkeys(raters))
    if not raters:
        raise AnalysisError("no raters given")
    frame = _checked(labels)
    known = set(frame["key"])
    unknown = [r for r in raters if r not in known]
    if unknown:
        raise AnalysisError(
            f"no labels by rater(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    frame = frame[frame["key"].isin(raters)]
    per_rater = {k: set(g["item_id"]) for k, g in frame.groupby("key")}
    if items is not None:
        wanted = list(dict.fromkeys(items))
        if not wanted:
            raise AnalysisError("the item set is empty")
        for r in raters:
            missing = [i for i in wanted if i not in per_rater[r]]
            if missing:
                raise AnalysisError(
                    f"rater {r} has no label for {len(missing)} of the {len(wanted)} items "
                    f"(first missing: {missing[0]})"
                )
    else:
        common = set.intersection(*(per_rater[r] for r in raters))
        if not common:
            raise AnalysisError(f"no item is labelled by all of {', '.join(raters)}")
        wanted = sorted(common)
    value = frame["label"].where(frame["status"] == "ok", None)
    if invalid == "category":
        value = value.where(value.notna(), INVALID)
    frame = frame.assign(value=value)
    wide = frame.pivot(index="item_id", columns="key", values="value")
    wide = wide.reindex(index=wanted, columns=raters)
    wide = wide.astype(object).where(wide.notna(), None)
    wide.columns.name = None
    return wide


def _categories(values: Sequence[object]) -> list[str]:
    present = {v for v in values if isinstance(v, str)}
    order = [lab for lab in (*LABELS, INVALID) if lab in present]
    return order + sorted(present - set(order))


def _complete(matrix: pd.DataFrame, what: str) -> pd.DataFrame:
    ok = matrix.notna().all(axis=1)
    if not ok.any():
        raise AnalysisError(f"{what}: no item has an ok label from every rater")
    return matrix.loc[ok]


# ---------------------------------------------------------------------------------------------
# statistics


def cohen_kappa(
    labels: pd.DataFrame,
    rater_a: str,
    rater_b: str,
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> PairAgreement:
    """Cohen's kappa (sklearn) and raw agreement of two raters."""
    matrix = label_matrix(labels, [rater_a, rater_b], items=items, invalid=invalid)
    return _pair(matrix, rater_a, rater_b)


def _pair(matrix: pd.DataFrame, a: str, b: str) -> PairAgreement:
    sub = _complete(matrix[[a, b]], f"{a} vs {b}")
    ya, yb = sub[a].tolist(), sub[b].tolist()
    cats = _categories(ya + yb)
    # one category only: chance agreement is 1 and kappa undefined
    kappa = float("nan") if len(cats) == 1 else float(cohen_kappa_score(ya, yb, labels=cats))
    agreement = float(np.mean([x == y for x, y in zip(ya, yb, strict=True)]))
    return PairAgreement(a, b, len(sub), kappa, agreement)


def pairwise_agreement(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> pd.DataFrame:
    """Cohen's kappa and raw agreement of every pair of ``raters``.

    Columns: rater_a, rater_b, n_items, kappa, agreement (one row per unordered pair). Each pair
    uses its own common items (``items`` when given).
    """
    raters = list(dict.fromkeys(raters))
    if len(raters) < 2:
        raise AnalysisError("pairwise agreement needs at least two raters")
    rows = []
    for a, b in itertools.combinations(raters, 2):
        matrix = label_matrix(labels, [a, b], items=items, invalid=invalid)
        rows.append(_pair(matrix, a, b).__dict__)
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "n_items", "kappa", "agreement"])


def mean_pairwise_kappa(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> GroupAgreement:
    """Mean of the pairwise Cohen's kappas (``n_items``: the fewest items of any pair)."""
    pairs = pairwise_agreement(labels, raters, items=items, invalid=invalid)
    return GroupAgreement(
        "mean_cohen_kappa",
        tuple(dict.fromkeys(raters)),
        int(pairs["n_items"].min()),
        float(pairs["kappa"].mean()),
    )


def fleiss_kappa(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> GroupAgreement:
    """Fleiss' kappa (statsmodels ``aggregate_raters`` + ``fleiss_kappa``) on the items rated
    by all ``raters`` (with ``drop``: rated ok by all)."""
    raters = list(dict.fromkeys(raters))
    if len(raters) < 2:
        raise AnalysisError("Fleiss' kappa needs at least two raters")
    matrix = _complete(label_matrix(labels, raters, items=items, invalid=invalid), "Fleiss' kappa")
    cats = _categories(matrix.to_numpy().ravel().tolist())
    codes = matrix.apply(lambda col: col.map({c: i for i, c in enumerate(cats)})).to_numpy(int)
    table, _ = aggregate_raters(codes, n_cat=len(cats))
    return GroupAgreement("fleiss_kappa", tuple(raters), len(matrix), float(sm_fleiss_kappa(table)))


def krippendorff_alpha(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> GroupAgreement:
    """Krippendorff's alpha, nominal (package ``krippendorff``). Non-ok labels under ``drop``
    are missing values (alpha allows them); ``n_items`` counts items with >= 2 usable labels."""
    raters = list(dict.fromkeys(raters))
    if len(raters) < 2:
        raise AnalysisError("Krippendorff's alpha needs at least two raters")
    matrix = label_matrix(labels, raters, items=items, invalid=invalid)
    usable = matrix.notna().sum(axis=1) >= 2
    if not usable.any():
        raise AnalysisError("Krippendorff's alpha: no item has two usable labels")
    cats = _categories(matrix.to_numpy().ravel().tolist())
    if len(cats) < 2:
        raise AnalysisError("Krippendorff's alpha: all labels are the same category (undefined)")
    code = {c: float(i) for i, c in enumerate(cats)}
    data = np.array(
        [[code[v] if isinstance(v, str) else np.nan for v in matrix[r]] for r in raters],
        dtype=float,
    )
    value = krippendorff.alpha(
        reliability_data=data,
        value_domain=list(range(len(cats))),
        level_of_measurement="nominal",
    )
    return GroupAgreement("krippendorff_alpha", tuple(raters), int(usable.sum()), float(value))


def kappa_vs_reference(
    labels: pd.DataFrame,
    rater: str,
    references: Sequence[str] | None = None,
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "category",
) -> ReferenceAgreement:
    """Mean Cohen's kappa of ``rater`` (all its runs) against ``references`` (default: every
    human rater), over runs x references.

    The items are ``items``, else those every reference labelled. Runs without a row for every
    one of them are excluded (listed in ``excluded_runs``). The default ``invalid="category"``
    counts an unusable classifier output as a disagreement, as the study did.
    """
    frame = _checked(labels)
    if references is None:
        references = sorted(set(frame.loc[frame["rater_kind"] == "human", "key"]))
        if not references:
            raise AnalysisError("no human raters in the labels to compare against")
    references = list(dict.fromkeys(references))
    if items is None:
        items = list(label_matrix(labels, references, invalid=invalid).index)
    item_set = set(items)
    mine = frame[frame["rater"] == rater]
    if mine.empty:
        raise AnalysisError(
            f"no labels by rater {rater} (known: {', '.join(sorted(set(frame['rater'])))})"
        )
    runs: list[str] = []
    excluded: list[str] = []
    for key, group in sorted(mine.groupby("key"), key=lambda kv: str(kv[0])):
        (runs if item_set <= set(group["item_id"]) else excluded).append(str(key))
    if not runs:
        raise AnalysisError(
            f"no run of {rater} labelled all {len(item_set)} items (runs: {', '.join(excluded)})"
        )
    rows = []
    for run in runs:
        for ref in references:
            matrix = label_matrix(labels, [run, ref], items=items, invalid=invalid)
            rows.append(_pair(matrix, run, ref).__dict__)
    pairs = pd.DataFrame(rows, columns=["rater_a", "rater_b", "n_items", "kappa", "agreement"])
    return ReferenceAgreement(
        rater=rater,
        runs=tuple(runs),
        references=tuple(references),
        excluded_runs=tuple(excluded),
        n_items=len(item_set),
        pairs=pairs,
        mean_kappa=float(pairs["kappa"].mean()),
        min_kappa=float(pairs["kappa"].min()),
        max_kappa=float(pairs["kappa"].max()),
        mean_agreement=float(pairs["agreement"].mean()),
    )


def classifiers_vs_humans(
    labels: pd.DataFrame,
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "category",
) -> pd.DataFrame:
    """:func:`kappa_vs_reference` of every classifier (``rater_kind`` model_run) against all
    humans. Columns: rater, runs, n_items, mean_kappa, min_kappa, max_kappa, mean_agreement.
    Classifiers with no run covering the items are left out."""
    frame = _checked(labels)
    models = sorted(set(frame.loc[frame["rater_kind"] == "model_run", "rater"]))
    if not models:
        raise AnalysisError("no classifier runs (rater_kind model_run) in the labels")
    rows = []
    for model in models:
        try:
            res = kappa_vs_reference(labels, model, items=items, invalid=invalid)
        except AnalysisError as exc:
            if str(exc).startswith(f"no run of {model} "):
                continue
            raise
        rows.append(
            {
                "rater": model,
                "runs": len(res.runs),
                "n_items": res.n_items,
                "mean_kappa": res.mean_kappa,
                "min_kappa": res.min_kappa,
                "max_kappa": res.max_kappa,
                "mean_agreement": res.mean_agreement,
            }
        )
    if not rows:
        raise AnalysisError("no classifier has a run that covers the humans' items")
    return pd.DataFrame(rows)


def confusion_matrix(
    labels: pd.DataFrame,
    rater_a: str,
    rater_b: str,
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
) -> pd.DataFrame:
    """Counts of (label by ``rater_a``: rows) x (label by ``rater_b``: columns), sklearn's
    ``confusion_matrix``; categories in the taxonomy's order, present ones only."""
    matrix = _complete(
        label_matrix(labels, [rater_a, rater_b], items=items, invalid=invalid),
        f"{rater_a} vs {rater_b}",
    )
    ya, yb = matrix[rater_a].tolist(), matrix[rater_b].tolist()
    cats = _categories(ya + yb)
    counts = sk_confusion_matrix(ya, yb, labels=cats)
    out = pd.DataFrame(counts, index=pd.Index(cats, name=rater_a), columns=pd.Index(cats))
    out.columns.name = rater_b
    return out


def most_confused_pairs(
    labels: pd.DataFrame,
    raters: Sequence[str],
    *,
    items: Sequence[str] | None = None,
    invalid: InvalidPolicy = "drop",
    top: int | None = 10,
) -> pd.DataFrame:
    """The label pairs raters disagree on most, over every pair of ``raters`` and item.

    Columns: label_a, label_b (unordered, in taxonomy order), count, share (of all
    disagreements). Sorted by count, then labels.
    """
    raters = list(dict.fromkeys(raters))
    if len(raters) < 2:
        raise AnalysisError("confusions need at least two raters")
    counts: dict[tuple[str, str], int] = {}
    for a, b in itertools.combinations(raters, 2):
        cm = confusion_matrix(labels, a, b, items=items, invalid=invalid)
        for la in cm.index:
            for lb in cm.columns:
                if la == lb:
                    continue
                pair = tuple(_categories([la, lb]))
                key = (pair[0], pair[1])
                counts[key] = counts.get(key, 0) + int(cm.loc[la, lb])
    rows = [{"label_a": a, "label_b": b, "count": n} for (a, b), n in counts.items() if n > 0]
    out = pd.DataFrame(rows, columns=["label_a", "label_b", "count"])
    total = int(out["count"].sum())
    out["share"] = out["count"] / total if total else 0.0
    out = out.sort_values(["count", "label_a", "label_b"], ascending=[False, True, True])
    out = out.reset_index(drop=True)
    return out if top is None else out.head(top)
