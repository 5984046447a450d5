"""Rater grouping (crisiseval.analysis.raters): groups by the items labelled, pairwise raters,
the confusions pooled, the most-confused pairs."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from crisiseval.analysis.agreement import INVALID
from crisiseval.analysis.raters import (
    confused_pairs,
    confusion_comparisons,
    group_raters,
    item_set_namer,
    label_order,
    pairwise_raters,
    pool_confusions,
    pooled_confusion,
)

LabelsBuilder = Callable[..., pd.DataFrame]

SI, SH, NC = "suicidal_ideation", "self_harm", "no_crisis"


def test_runs_are_grouped_by_the_items_they_labelled(make_labels: LabelsBuilder) -> None:
    four = [SI, SH, NC, SI]
    labels = pd.concat(
        [
            make_labels({"h1": four, "h2": four, "h3": [SI, SH, NC]}),
            # m: runs 1 and 2 on items i0-i3, run 3 on i0-i2 only; n: one run on i0-i3
            make_labels({"m#1": four, "m#2": four, "m#3": [SI, SH, NC], "n#1": four}),
        ],
        ignore_index=True,
    )
    raters = group_raters(labels, {"full": ["i0", "i1", "i2", "i3"]})
    assert raters.humans == ("h1", "h2", "h3")
    assert raters.runs_by_model == {"m": ("m#1", "m#2", "m#3"), "n": ("n#1",)}
    assert raters.human_items == ["i0", "i1", "i2"]
    assert [(g.name, g.members, g.items, g.model) for g in raters.groups] == [
        ("humans", ("h1", "h2", "h3"), None, None),
        ("m runs (sample full, 4 items)", ("m#1", "m#2"), ("i0", "i1", "i2", "i3"), "m"),
        # the item set both classifiers labelled, with every run that covers it
        ("all classifier runs (3 items)", ("m#1", "m#2", "m#3", "n#1"), ("i0", "i1", "i2"), None),
    ]
    assert raters.single_run_models == ["n"]
    assert set(raters.rows(["h1", "m#3"])["key"]) == {"h1", "m#3"}
    # with humans, the humans (and majorities) are compared pair by pair
    assert pairwise_raters(raters) == ["h1", "h2", "h3"]


def test_without_humans_runs_are_compared(make_labels: LabelsBuilder) -> None:
    raters = group_raters(make_labels({"m#1": [SI, SH], "m#2": [SI, NC], "m#3": [SH, NC]}))
    assert raters.humans == () and raters.human_items == []
    assert [g.name for g in raters.groups] == ["m runs (2 items)"]
    assert pairwise_raters(raters) == ["m#1", "m#2", "m#3"]
    (comparison,) = confusion_comparisons(raters)
    assert comparison.among == "m runs" and comparison.unordered
    assert comparison.pairs == (("m#1", "m#2"), ("m#1", "m#3"), ("m#2", "m#3"))
    pooled = pooled_confusion(raters, comparison)
    assert int(pooled.counts.to_numpy().sum()) == 6  # 3 pairs x 2 items
    # unordered pairs: the matrix shown is symmetric and counts both directions
    assert pooled.both_ways.equals(pooled.both_ways.T)
    assert int(pooled.both_ways.to_numpy().sum()) == 12


def test_classifier_runs_are_compared_with_each_human(make_labels: LabelsBuilder) -> None:
    labels = pd.concat(
        [
            make_labels({"h1": [SI, SH], "h2": [SI, NC]}),
            make_labels({"m#1": [SI, SH], "m#2": [SH, SH]}),
        ],
        ignore_index=True,
    )
    raters = group_raters(labels)
    humans, versus = confusion_comparisons(raters)
    assert (humans.among, humans.pairs, humans.unordered) == ("humans", (("h1", "h2"),), True)
    assert versus.among == "m vs humans" and not versus.unordered
    assert versus.pairs == (("h1", "m#1"), ("h2", "m#1"), ("h1", "m#2"), ("h2", "m#2"))
    assert versus.items == ("i0", "i1")
    pooled = pooled_confusion(raters, versus)
    assert pooled.both_ways is pooled.counts  # rows: the human's label; columns: the run's
    assert int(pooled.counts.loc[SI, SH]) == 2


def test_pooling_and_most_confused_pairs() -> None:
    a = pd.DataFrame([[1, 2], [0, 1]], index=[SH, SI], columns=[SH, SI])
    b = pd.DataFrame([[3]], index=[INVALID], columns=[NC])
    total = pool_confusions([a, b])
    assert list(total.index) == [SI, SH, NC, INVALID]  # the taxonomy's order, then INVALID
    assert int(total.loc[SH, SI]) == 2 and int(total.loc[INVALID, NC]) == 3
    rows = confused_pairs(total, "x", top=1)
    assert rows == [{"among": "x", "label_a": NC, "label_b": INVALID, "count": 3, "share": 3 / 5}]


def test_label_order_and_item_set_names() -> None:
    assert label_order(["zzz", NC, None, SI, NC]) == [SI, NC, "zzz"]
    name = item_set_namer({"validation": ["i1", "i0"], "empty": []})
    assert name(frozenset({"i0", "i1"})) == "sample validation, 2 items"
    assert name(frozenset({"i0"})) == "1 items"
