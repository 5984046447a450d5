"""Queues: the study's lowest-score rule, judge and classifier disagreement, stratified by
category, random; each annotator's seeded order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from annotate_support import response_of

from crisiseval.analysis.judge_validity import lowest_score_sample
from crisiseval.annotate import Target, annotator_order, build_queue
from crisiseval.errors import InputError
from crisiseval.store import Store


def _frames(run_dir: Path) -> tuple[list[str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with Store.open(run_dir, read_only=True) as store:
        return (
            store.sample_items("small"),
            store.labels_frame(),
            store.judgments_frame(),
            store.responses_frame(),
        )


def _queue(run_dir: Path, task: str, strategy: str, **kw: object) -> list[Target]:
    pool, labels, judgments, responses = _frames(run_dir)
    return build_queue(
        task,  # type: ignore[arg-type]
        strategy,  # type: ignore[arg-type]
        pool=pool,
        labels=labels,
        judgments=judgments,
        responses=responses,
        **kw,  # type: ignore[arg-type]
    ).targets


def test_lowest_serves_the_lowest_scored_answer_per_input(run_dir: Path) -> None:
    pool, labels, judgments, responses = _frames(run_dir)
    queue = build_queue(
        "scores",
        "lowest",
        pool=pool,
        labels=labels,
        judgments=judgments,
        responses=responses,
        judge="judge-b",
    )
    expected = lowest_score_sample(judgments, "judge-b", items=pool)
    assert queue.judge == "judge-b"
    assert [t.target_id for t in queue.targets] == list(expected["response_id"])
    assert {t.item_id for t in queue.targets} == set(pool)  # one answer per input
    assert [t.label for t in queue.targets] == list(expected["label"])
    # without -j the judge is chosen as `scores` chooses it (here: the one with most coverage)
    default = _queue(run_dir, "scores", "lowest")
    assert len(default) == len(pool)


def test_lowest_is_for_answers_only(run_dir: Path) -> None:
    with pytest.raises(InputError, match="strategy lowest picks answers"):
        _queue(run_dir, "labels", "lowest")


def test_label_disagreement_ranks_the_items_whose_classifier_runs_split_most(
    run_dir: Path, item_ids: list[str]
) -> None:
    targets = _queue(run_dir, "labels", "disagreement")
    # item 0: three different labels (1 - 1/3); item 4: two against one (1 - 2/3); others agree
    assert [t.item_id for t in targets] == [item_ids[0], item_ids[4]]
    assert [t.item_id for t in _queue(run_dir, "labels", "disagreement", n=1)] == [item_ids[0]]


def test_score_disagreement_ranks_answers_by_the_spread_of_judge_scores(
    run_dir: Path, item_ids: list[str]
) -> None:
    targets = _queue(run_dir, "scores", "disagreement", n=2)
    # resp-a on input 1: judge-a runs 2, 3, 4 and judge-b — the widest spread
    assert targets[0].target_id == response_of(item_ids[1])
    assert len(targets) == 2


def test_stratified_takes_the_categories_in_turn(run_dir: Path) -> None:
    targets = _queue(run_dir, "labels", "stratified", n=5, seed=3)
    labels = [t.label for t in targets]
    # the six items have five categories (two suicidal_ideation): one of each first
    assert len(set(labels)) == 5
    again = _queue(run_dir, "labels", "stratified", n=5, seed=3)
    assert targets == again
    every = _queue(run_dir, "labels", "stratified")
    assert len(every) == 6
    scores = _queue(run_dir, "scores", "stratified", n=5)
    assert len({t.label for t in scores}) == 5


def test_stratified_labels_needs_categories(run_dir: Path) -> None:
    with pytest.raises(InputError, match="no labels from rater 'nobody'"):
        _queue(run_dir, "labels", "stratified", labels_from="nobody")
    pool, labels, judgments, responses = _frames(run_dir)
    extra = labels[labels["rater"] == "majority:clf"].assign(rater="majority:other")
    with pytest.raises(InputError, match="give --labels-from RATER"):
        build_queue(
            "labels",
            "stratified",
            pool=pool,
            labels=pd.concat([labels, extra]),
            judgments=judgments,
            responses=responses,
        )


def test_random_is_a_seeded_draw(run_dir: Path) -> None:
    a = _queue(run_dir, "scores", "random", n=4, seed=1)
    assert a == _queue(run_dir, "scores", "random", n=4, seed=1)
    assert len(a) == 4
    draws = {
        tuple(t.target_id for t in _queue(run_dir, "scores", "random", n=4, seed=s))
        for s in range(6)
    }
    assert len(draws) > 1
    assert len(_queue(run_dir, "scores", "random")) == 12  # 6 inputs x 2 respondents


def test_each_annotator_has_its_own_stable_order() -> None:
    targets = [Target(target_id=f"t{i}", item_id=f"t{i}") for i in range(20)]
    alice = annotator_order(targets, 0, "alice")
    assert alice == annotator_order(targets, 0, "alice")
    assert alice != annotator_order(targets, 0, "bob")
    assert alice != annotator_order(targets, 1, "alice")
    assert sorted(t.target_id for t in alice) == sorted(t.target_id for t in targets)


def test_nothing_to_annotate_is_an_error(run_dir: Path) -> None:
    _pool, labels, judgments, responses = _frames(run_dir)
    with pytest.raises(InputError, match="no answers to annotate"):
        build_queue(
            "scores",
            "random",
            pool=["it_missing"],
            labels=labels,
            judgments=judgments,
            responses=responses,
        )
