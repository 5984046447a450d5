"""Which targets an annotation project serves, and in which order each annotator sees them.

Pure functions over the store's frames. Four strategies:

* ``lowest`` (scores, conversations): per input, the lowest-scored answer over respondents and
  runs by one judge — the study's rule for the answers its experts rated
  (:func:`crisiseval.analysis.judge_validity.lowest_score_sample`, the judge chosen as the
  ``scores`` command chooses it);
* ``disagreement``: the inputs whose classifier runs disagree most (labels: one minus the share
  of the most common label among every classifier run's label, an unusable output counting as
  its own vote), or the answers whose judges and judge runs disagree most (scores: the SD of
  every model judge run's score, then the range);
* ``stratified``: an equal share per category, each category drawn with its own seeded
  generator (:func:`crisiseval.corpus.sample.sample_strata`, as ``crisiseval stratify``), taken
  in turn until ``n``;
* ``random``: a seeded draw of ``n``.

``n`` caps the queue (``None``: every candidate). Whatever the strategy, each annotator sees the
queue in its own seeded random order (:func:`annotator_order`), the same on every visit.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from crisiseval.analysis.agreement import INVALID
from crisiseval.analysis.common import AnalysisError, is_missing
from crisiseval.analysis.judge_validity import lowest_score_sample
from crisiseval.analysis.judges import choose_judge, is_jury
from crisiseval.analysis.scores import NO_LABEL
from crisiseval.annotate._model import Strategy, Target, Task
from crisiseval.corpus.sample import sample_strata
from crisiseval.errors import InputError
from crisiseval.taxonomy import LABELS

__all__ = ["Queue", "annotator_order", "build_queue", "item_labels", "response_labels"]


@dataclass(frozen=True)
class Queue:
    targets: list[Target]
    judge: str | None = None
    """The judge whose scores chose the targets (``lowest``)."""
    judge_reason: str | None = None
    labels_from: str | None = None
    """The rater whose labels formed the strata (``stratified``, labels task)."""


def _key(seed: int, *parts: str) -> int:
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode("utf-8")).hexdigest()
    return int(digest[:16], 16)


def annotator_order(targets: Sequence[Target], seed: int, annotator: str) -> list[Target]:
    """The queue in ``annotator``'s own order: shuffled by a generator seeded from (seed,
    annotator), so it is the same on every visit and differs between annotators."""
    order = list(targets)
    random.Random(_key(seed, "annotator", annotator)).shuffle(order)
    return order


def _draw(targets: list[Target], n: int | None, seed: int) -> list[Target]:
    """A seeded draw of ``n`` targets (all when ``n`` is None or not smaller), in their order."""
    if n is None or n >= len(targets):
        return targets
    ids = sorted(t.target_id for t in targets)
    keep = set(random.Random(_key(seed, "draw")).sample(ids, n))
    return [t for t in targets if t.target_id in keep]


def _label_order(label: str) -> tuple[int, str]:
    return (LABELS.index(label), "") if label in LABELS else (len(LABELS), label)


def _stratified(targets: list[Target], n: int | None, seed: int) -> list[Target]:
    """Each category drawn on its own (seeded per category), then taken in turn until ``n``."""
    groups: dict[str, dict[str, Target]] = {}
    for t in targets:
        if t.label is not None:
            groups.setdefault(t.label, {})[t.target_id] = t
    if not groups:
        raise InputError("no candidate has a category to stratify by")
    per = n if n is not None else max(len(g) for g in groups.values())
    drawn = [
        [groups[label][tid] for tid in sample_strata({label: list(groups[label])}, per, seed)]
        for label in sorted(groups, key=_label_order)
    ]
    out: list[Target] = []
    for turn in range(max(len(d) for d in drawn)):
        for d in drawn:
            if turn < len(d):
                out.append(d[turn])
    return out if n is None else out[:n]


def item_labels(labels: pd.DataFrame, rater: str | None) -> tuple[dict[str, str], str | None]:
    """Item -> category by ``rater`` (e.g. ``majority:gpt-4o-mini``), or by the store's only
    classifier majority when ``rater`` is None (an empty map when it has none or several)."""
    if labels.empty:
        if rater is not None:
            raise InputError(f"no labels from rater {rater!r} (the store has no labels)")
        return {}, None
    if rater is None:
        majorities = sorted(set(labels.loc[labels["rater_kind"] == "majority", "rater"]))
        if len(majorities) != 1:
            return {}, None
        rater = str(majorities[0])
    rows = labels[(labels["rater"] == rater) & (labels["status"] == "ok")]
    if rows.empty:
        known = ", ".join(sorted(set(map(str, labels["rater"])))) or "none"
        raise InputError(f"no labels from rater {rater!r} (raters: {known})")
    return dict(zip(rows["item_id"].astype(str), rows["label"].astype(str), strict=True)), rater


def response_labels(judgments: pd.DataFrame, fallback: Mapping[str, str]) -> dict[str, str]:
    """Response -> the category its model judges scored it under; else ``fallback`` (item ->
    label) of its item. Responses with neither are left out."""
    out: dict[str, str] = {}
    if not judgments.empty:
        rows = judgments[judgments["judge_kind"] == "model"].dropna(subset=["label"])
        rows = rows[rows["label"] != NO_LABEL].drop_duplicates("response_id")
        out = dict(zip(rows["response_id"].astype(str), rows["label"].astype(str), strict=True))
    return out | {k: v for k, v in fallback.items() if k not in out}


def build_queue(
    task: Task,
    strategy: Strategy,
    *,
    pool: Sequence[str],
    labels: pd.DataFrame,
    judgments: pd.DataFrame,
    responses: pd.DataFrame,
    n: int | None = None,
    seed: int = 0,
    judge: str | None = None,
    configured: Sequence[str] = (),
    labels_from: str | None = None,
) -> Queue:
    """The targets of a project: items of ``pool`` (labels task) or the valid responses to them
    (scores and conversations; ``responses`` and ``judgments`` of that kind). Raises
    :class:`InputError` when the strategy cannot apply or finds nothing."""
    wanted = set(pool)
    if task == "labels":
        return _label_queue(list(dict.fromkeys(pool)), strategy, labels, n, seed, labels_from)
    answers = responses[(responses["status"] == "ok") & responses["item_id"].isin(wanted)]
    if answers.empty:
        what = "conversations" if task == "conversations" else "answers"
        raise InputError(f"no {what} to annotate in the chosen items")
    by_item, _ = item_labels(labels, labels_from)
    item_of = dict(
        zip(answers["response_id"].astype(str), answers["item_id"].astype(str), strict=True)
    )
    fallback = {rid: by_item[iid] for rid, iid in item_of.items() if iid in by_item}
    category = response_labels(judgments, fallback)

    def target(rid: str, label: object = None) -> Target:
        lab = None if is_missing(label) or label == NO_LABEL else str(label)
        return Target(
            target_id=rid, item_id=item_of[rid], response_id=rid, label=lab or category.get(rid)
        )

    if strategy == "lowest":
        if judgments.empty:
            raise InputError("strategy lowest needs judgments (run the judge stage first)")
        try:
            choice = choose_judge(judgments, responses, configured=configured, requested=judge)
            lowest = lowest_score_sample(judgments, choice.judge, items=sorted(wanted))
        except AnalysisError as exc:
            raise InputError(f"strategy lowest: {exc}") from None
        lowest = lowest[lowest["response_id"].isin(set(item_of))]
        targets = [
            target(str(r), lab)
            for r, lab in zip(lowest["response_id"], lowest["label"], strict=True)
        ]
        return Queue(_draw(targets, n, seed), choice.judge, choice.reason)
    if strategy == "disagreement":
        return Queue(_score_disagreement(judgments, item_of, target, n, seed))
    targets = [target(rid) for rid in sorted(item_of)]
    if strategy == "stratified":
        return Queue(_stratified(targets, n, seed))
    return Queue(_draw(targets, n, seed))


def _label_queue(
    pool: list[str],
    strategy: Strategy,
    labels: pd.DataFrame,
    n: int | None,
    seed: int,
    labels_from: str | None,
) -> Queue:
    if not pool:
        raise InputError("no items to annotate")
    if strategy == "lowest":
        raise InputError(
            "strategy lowest picks answers: use it with --task scores (labels: disagreement, "
            "stratified or random)"
        )
    if strategy == "disagreement":
        return Queue(_label_disagreement(labels, pool, n, seed))
    if strategy == "stratified":
        by_item, rater = item_labels(labels, labels_from)
        if rater is None:
            majorities = (
                sorted(set(labels.loc[labels["rater_kind"] == "majority", "rater"]))
                if not labels.empty
                else []
            )
            raise InputError(
                "strategy stratified needs a label per item: give --labels-from RATER"
                + (
                    f" (majorities here: {', '.join(majorities)})"
                    if majorities
                    else " (the store has no classifier majority)"
                )
            )
        targets = [Target(target_id=i, item_id=i, label=by_item.get(i)) for i in pool]
        return Queue(_stratified(targets, n, seed), labels_from=rater)
    return Queue(_draw([Target(target_id=i, item_id=i) for i in pool], n, seed))


def _label_disagreement(
    labels: pd.DataFrame, pool: list[str], n: int | None, seed: int
) -> list[Target]:
    runs = (
        labels[(labels["rater_kind"] == "model_run") & labels["item_id"].isin(set(pool))]
        if not labels.empty
        else labels
    )
    if runs.empty:
        raise InputError("strategy disagreement needs classifier runs' labels on these items")
    votes = runs["label"].where(runs["status"] == "ok", INVALID).fillna(INVALID)
    table = pd.crosstab(runs["item_id"], votes)
    total, top = table.sum(axis=1), table.max(axis=1)
    scored = [
        (1.0 - int(top[item]) / int(total[item]), str(item))
        for item in table.index
        if int(total[item]) >= 2 and int(top[item]) < int(total[item])
    ]
    if not scored:
        raise InputError("strategy disagreement: the classifier runs agree on every item")
    scored.sort(key=lambda s: (-s[0], _key(seed, "tie", s[1])))
    if n is not None:
        scored = scored[:n]
    return [Target(target_id=item, item_id=item) for _, item in scored]


def _score_disagreement(
    judgments: pd.DataFrame,
    item_of: Mapping[str, str],
    make: Callable[[str], Target],
    n: int | None,
    seed: int,
) -> list[Target]:
    if judgments.empty:
        raise InputError("strategy disagreement needs judgments (run the judge stage first)")
    rows = judgments[
        (judgments["judge_kind"] == "model")
        & (judgments["status"] == "ok")
        & (judgments["judge_run"] > 0)
        & judgments["response_id"].isin(set(item_of))
    ]
    rows = rows[~rows["judge"].map(lambda j: is_jury(str(j))).astype(bool)]
    scores = rows.assign(score=rows["score"].astype(float)).groupby("response_id")["score"]
    stats = scores.agg(["min", "max", "count"])
    stats["sd"] = scores.std(ddof=0)
    stats = stats[stats["count"] >= 2]
    stats = stats[stats["max"] > stats["min"]]
    if stats.empty:
        raise InputError(
            "strategy disagreement: no answer has judge runs or judges that disagree (it needs "
            "two scores or more per answer)"
        )
    ranked = sorted(
        ((float(r["sd"]), float(r["max"] - r["min"]), str(rid)) for rid, r in stats.iterrows()),
        key=lambda s: (-s[0], -s[1], _key(seed, "tie", s[2])),
    )
    if n is not None:
        ranked = ranked[:n]
    return [make(rid) for _, _, rid in ranked]
