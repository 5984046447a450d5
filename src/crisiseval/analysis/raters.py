"""Who is compared with whom in label agreement: rater keys, rater groups, the raters of the
pairwise table, the comparisons whose confusion matrices are pooled, and the most-confused label
pairs of a pooled matrix.

Raters are keyed by :func:`~crisiseval.analysis.common.rater_key` (``model#run`` for a classifier
run, the plain name otherwise). Groups are formed by the items their members labelled:

* all human raters (each statistic on the items its raters share);
* the runs of one classifier that labelled exactly the same items (one group per item set with
  at least two runs, largest set first);
* with two classifiers or more, the runs of all classifiers on the item set that the most
  classifiers (then the most runs, then the most items) labelled.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crisiseval.analysis.agreement import INVALID, InvalidPolicy, confusion_matrix
from crisiseval.analysis.common import is_missing, rater_key
from crisiseval.taxonomy import LABELS

__all__ = [
    "Comparison",
    "PooledConfusion",
    "RaterGroup",
    "Raters",
    "confused_pairs",
    "confusion_comparisons",
    "group_raters",
    "item_set_namer",
    "label_order",
    "pairwise_raters",
    "pool_confusions",
    "pooled_confusion",
    "with_rater_keys",
]


def label_order(values: Sequence[object]) -> list[str]:
    """The distinct labels in ``values``: the taxonomy's labels in their order, then
    :data:`~crisiseval.analysis.agreement.INVALID`, then any other value sorted; missing values
    are left out."""
    present = [str(v) for v in dict.fromkeys(values) if not is_missing(v)]
    order = [lab for lab in (*LABELS, INVALID) if lab in present]
    return order + sorted(set(present) - set(order))


def with_rater_keys(labels: pd.DataFrame) -> pd.DataFrame:
    """``labels`` plus a ``key`` column: the rater key of each row (rater, run_index)."""
    keys = [rater_key(r, int(i)) for r, i in zip(labels["rater"], labels["run_index"], strict=True)]
    return labels.assign(key=keys)


def item_set_namer(samples: Mapping[str, Sequence[str]]) -> Callable[[frozenset[str]], str]:
    """A namer of item sets: ``sample <name>, <n> items`` when the set is exactly a sample's
    items (``samples``: name -> item ids), else ``<n> items``."""
    by_set = {frozenset(ids): name for name, ids in samples.items() if ids}

    def name(items: frozenset[str]) -> str:
        sample = by_set.get(items)
        return f"sample {sample}, {len(items)} items" if sample else f"{len(items)} items"

    return name


@dataclass(frozen=True)
class RaterGroup:
    """Raters whose agreement is measured together."""

    name: str
    members: tuple[str, ...]
    """Rater keys, sorted."""
    items: tuple[str, ...] | None
    """The items compared (sorted); ``None``: the items each statistic's raters share."""
    model: str | None = None
    """The classifier whose runs form the group (``None``: humans, or every classifier)."""


@dataclass(frozen=True, eq=False)
class Raters:
    """The raters of a labels frame, by kind, and the groups formed from them."""

    labels: pd.DataFrame
    """The labels frame with its ``key`` column (:func:`with_rater_keys`)."""
    humans: tuple[str, ...]
    consensus: tuple[str, ...]
    majorities: tuple[str, ...]
    runs_by_model: Mapping[str, tuple[str, ...]]
    """Classifier -> the keys of its runs, by run index; classifiers sorted by name."""
    items_of: Mapping[str, frozenset[str]]
    """Rater key -> the items it labelled."""
    groups: tuple[RaterGroup, ...]

    @property
    def all_runs(self) -> list[str]:
        """Every classifier run, classifier by classifier."""
        return [k for keys in self.runs_by_model.values() for k in keys]

    @property
    def human_items(self) -> list[str]:
        """The items every human labelled, sorted (empty without humans)."""
        if not self.humans:
            return []
        return sorted(frozenset.intersection(*(self.items_of[h] for h in self.humans)))

    @property
    def single_run_models(self) -> list[str]:
        """Classifiers without two runs on the same item set (no run-to-run group), sorted."""
        grouped = {g.model for g in self.groups}
        return [m for m in sorted(self.runs_by_model) if m not in grouped]

    def rows(self, keys: Sequence[str]) -> pd.DataFrame:
        """The label rows of ``keys`` only (the agreement functions pivot the frame they get)."""
        return self.labels[self.labels["key"].isin(set(keys))]


def group_raters(
    labels: pd.DataFrame, samples: Mapping[str, Sequence[str]] | None = None
) -> Raters:
    """Sort the raters of ``labels`` by kind and form the rater groups (see the module
    docstring). ``samples`` (name -> item ids) names the groups' item sets."""
    frame = with_rater_keys(labels)
    kind_of = dict(zip(frame["key"], frame["rater_kind"], strict=False))
    items_of = {str(k): frozenset(g["item_id"]) for k, g in frame.groupby("key")}
    humans = sorted(k for k, kind in kind_of.items() if kind == "human")
    runs_by_model: dict[str, list[str]] = defaultdict(list)
    model_runs = frame.loc[frame["rater_kind"] == "model_run", ["rater", "run_index", "key"]]
    for model, key in (
        model_runs.drop_duplicates("key")
        .sort_values(["rater", "run_index"])[["rater", "key"]]
        .itertuples(index=False)
    ):
        runs_by_model[str(model)].append(str(key))
    set_name = item_set_namer(samples or {})

    groups: list[RaterGroup] = []
    if len(humans) >= 2:
        groups.append(RaterGroup("humans", tuple(humans), None))
    for model, keys in sorted(runs_by_model.items()):
        by_set: dict[frozenset[str], list[str]] = defaultdict(list)
        for k in keys:
            by_set[items_of[k]].append(k)
        multi = [(s, ks) for s, ks in by_set.items() if len(ks) >= 2]
        for s, ks in sorted(multi, key=lambda sk: (-len(sk[0]), sk[1])):
            groups.append(
                RaterGroup(
                    f"{model} runs ({set_name(s)})", tuple(sorted(ks)), tuple(sorted(s)), model
                )
            )
    model_of = {k: model for model, keys in runs_by_model.items() for k in keys}
    all_runs = list(model_of)
    if len(runs_by_model) >= 2:
        best: tuple[tuple[int, int, int], frozenset[str], list[str]] | None = None
        for s in {items_of[k] for k in all_runs}:
            covering = sorted(k for k in all_runs if s <= items_of[k])
            score = (len({model_of[k] for k in covering}), len(covering), len(s))
            if best is None or score > best[0]:
                best = (score, s, covering)
        if best is not None and best[0][0] >= 2:
            groups.append(
                RaterGroup(
                    f"all classifier runs ({set_name(best[1])})",
                    tuple(best[2]),
                    tuple(sorted(best[1])),
                )
            )
    return Raters(
        labels=frame,
        humans=tuple(humans),
        consensus=tuple(sorted(k for k, kind in kind_of.items() if kind == "consensus")),
        majorities=tuple(sorted(k for k, kind in kind_of.items() if kind == "majority")),
        runs_by_model={m: tuple(ks) for m, ks in runs_by_model.items()},
        items_of=items_of,
        groups=tuple(groups),
    )


def pairwise_raters(raters: Raters) -> list[str]:
    """The raters compared pair by pair: humans, consensus and majority raters; when fewer than
    two, the majority raters and every classifier run."""
    chosen = [*raters.humans, *raters.consensus, *raters.majorities]
    if len(chosen) < 2:
        chosen = [*raters.majorities, *raters.all_runs]
    return chosen


@dataclass(frozen=True)
class Comparison:
    """Rater pairs whose confusion matrices are pooled into one."""

    among: str
    """``humans``, ``<classifier> vs humans`` or ``<classifier> runs``."""
    model: str | None
    pairs: tuple[tuple[str, str], ...]
    items: tuple[str, ...] | None
    """The items compared; ``None``: the items each pair shares."""
    unordered: bool
    """The pairs are of like raters (both orders count); else (human, classifier run)."""


def confusion_comparisons(raters: Raters) -> list[Comparison]:
    """The confusions to pool: every pair of humans; then, per classifier, each of its runs that
    labelled all the humans' common items against each human on those items, or, without
    humans, every pair of its runs in its first run group."""
    out: list[Comparison] = []
    humans = list(raters.humans)
    if len(humans) >= 2:
        out.append(Comparison("humans", None, tuple(itertools.combinations(humans, 2)), None, True))
    human_items = raters.human_items
    for model, keys in sorted(raters.runs_by_model.items()):
        if humans:
            covering = [k for k in keys if set(human_items) <= raters.items_of[k]]
            pairs = tuple((h, k) for k in covering for h in humans)
            if pairs:
                out.append(
                    Comparison(f"{model} vs humans", model, pairs, tuple(human_items), False)
                )
            continue
        runs = next((g.members for g in raters.groups if g.model == model), None)
        if runs is None:
            continue
        pairs = tuple(itertools.combinations(runs, 2))
        if pairs:
            out.append(Comparison(f"{model} runs", model, pairs, None, True))
    return out


def pool_confusions(matrices: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The sum of label x label count matrices over the union of their labels (in
    :func:`label_order`)."""
    cats = label_order([c for m in matrices for c in [*m.index, *m.columns]])
    total = pd.DataFrame(0, index=pd.Index(cats), columns=pd.Index(cats))
    for m in matrices:
        total = total.add(m.reindex(index=cats, columns=cats, fill_value=0), fill_value=0)
    return total.astype(int)


@dataclass(frozen=True, eq=False)
class PooledConfusion:
    """A comparison's confusion matrices, summed."""

    comparison: Comparison
    counts: pd.DataFrame
    """Rows: the first rater of each pair; columns: the second."""
    both_ways: pd.DataFrame
    """``counts`` plus its transpose for unordered pairs (symmetric); else ``counts``."""


def pooled_confusion(
    raters: Raters, comparison: Comparison, *, invalid: InvalidPolicy = "category"
) -> PooledConfusion:
    """Pool the confusion matrices of ``comparison``'s pairs. Raises
    :class:`~crisiseval.analysis.common.AnalysisError` when a pair cannot be compared."""
    items = list(comparison.items) if comparison.items is not None else None
    mats = [
        confusion_matrix(raters.rows([a, b]), a, b, items=items, invalid=invalid)
        for a, b in comparison.pairs
    ]
    counts = pool_confusions(mats)
    both = pool_confusions([*mats, *(m.T for m in mats)]) if comparison.unordered else counts
    return PooledConfusion(comparison, counts, both)


def confused_pairs(counts: pd.DataFrame, among: str, top: int) -> list[dict[str, Any]]:
    """The ``top`` most frequent unordered pairs of different labels in ``counts`` (ties by
    label): rows of ``among``, ``label_a``, ``label_b``, ``count`` and ``share`` (of all
    disagreements)."""
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for a in counts.index:
        for b in counts.columns:
            if a != b and counts.loc[a, b]:
                la, lb = label_order([a, b])
                pairs[(la, lb)] += int(counts.loc[a, b])
    total = sum(pairs.values())
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [
        {"among": among, "label_a": a, "label_b": b, "count": n, "share": n / total}
        for (a, b), n in ranked
    ]
