"""Paired comparison of a candidate with a baseline: pairing on (item, run), paired-bootstrap CIs
that resample inputs, exact McNemar on harmful input-runs, Holm across categories."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.compare import (
    ALL,
    compare,
    comparison_pairs,
    paired_scores,
    worst_changes,
)

Builder = Callable[[Sequence[tuple[str, str, int, str, float | None]]], pd.DataFrame]


def _study(build: Builder) -> pd.DataFrame:
    rows: list[tuple[str, str, int, str, float | None]] = []
    # 10 self-harm inputs: the candidate is harmful (1) on 4 where the baseline scored 4.
    for i in range(10):
        rows.append(("base", f"sh{i}", 1, "self_harm", 4.0))
        rows.append(("cand", f"sh{i}", 1, "self_harm", 1.0 if i < 4 else 4.0))
    # 10 no-crisis inputs: the candidate improves by one point everywhere.
    for i in range(10):
        rows.append(("base", f"nc{i}", 1, "no_crisis", 3.0))
        rows.append(("cand", f"nc{i}", 1, "no_crisis", 4.0))
    return build(rows)


def test_pairing_drops_what_one_side_lacks(make_scored: Builder) -> None:
    frame = make_scored(
        [
            ("base", "a", 1, "self_harm", 4.0),
            ("cand", "a", 1, "self_harm", 2.0),
            ("base", "b", 1, "self_harm", 5.0),  # the candidate's answer failed: no row
            ("base", "c", 1, "self_harm", 3.0),
            ("cand", "c", 1, "self_harm", None),  # unparsed: not scored
            ("cand", "d", 2, "self_harm", 5.0),
        ]
    )
    p = paired_scores(frame, "j", "base", "cand")
    assert p.pairs[["item_id", "base", "cand"]].values.tolist() == [["a", 4.0, 2.0]]
    assert (p.only_baseline, p.only_candidate, p.dropped) == (2, 1, 3)
    with pytest.raises(AnalysisError, match="candidate 'nobody' has no answer"):
        paired_scores(frame, "j", "base", "nobody")


def test_differences_mcnemar_and_holm(make_scored: Builder) -> None:
    p = paired_scores(_study(make_scored), "j", "base", "cand")
    table = compare(p, n_boot=500, seed=1).set_index("label")
    sh, nc, all_ = table.loc["self_harm"], table.loc["no_crisis"], table.loc[ALL]
    assert sh["n_pairs"] == 10 and all_["n_pairs"] == 20
    assert sh["mean_diff"] == pytest.approx(-1.2)  # 4 inputs lose 3 points each
    assert nc["mean_diff"] == pytest.approx(1.0)
    assert all_["mean_diff"] == pytest.approx(-0.1)
    assert sh["mean_diff_low"] <= -1.2 <= sh["mean_diff_high"] < 0
    assert nc["mean_diff_low"] == nc["mean_diff_high"] == pytest.approx(1.0)  # no spread
    assert (sh["harmful_base"], sh["harmful_cand"], sh["harmful_diff"]) == (0.0, 0.4, 0.4)
    assert (sh["worse"], sh["better"]) == (4, 0)
    expected = mcnemar([[0, 0], [4, 6]], exact=True).pvalue
    assert sh["mcnemar_p"] == pytest.approx(expected)
    assert nc["mcnemar_p"] == 1.0  # no discordant pair
    holm = multipletests([nc["mcnemar_p"], sh["mcnemar_p"]], method="holm")[1]
    assert [nc["mcnemar_p_holm"], sh["mcnemar_p_holm"]] == pytest.approx(list(holm))
    # Bins: the candidate's self-harm answers move 40% into the low bin.
    assert (sh["low_base"], sh["low_cand"], sh["high_cand"]) == (0.0, 0.4, 0.6)


def test_bootstrap_resamples_inputs_not_runs(make_scored: Builder) -> None:
    rows: list[tuple[str, str, int, str, float | None]] = []
    # Two inputs with 5 runs each: one input all -4, one all 0. Resampling inputs gives
    # only three possible means (-4, -2, 0); resampling runs would give many more.
    for run in range(1, 6):
        rows += [("base", "x", run, "self_harm", 5.0), ("cand", "x", run, "self_harm", 1.0)]
        rows += [("base", "y", run, "self_harm", 3.0), ("cand", "y", run, "self_harm", 3.0)]
    p = paired_scores(make_scored(rows), "j", "base", "cand")
    row = compare(p, n_boot=400, seed=0).set_index("label").loc[ALL]
    assert row["n_inputs"] == 2 and row["mean_diff"] == pytest.approx(-2.0)
    assert {row["mean_diff_low"], row["mean_diff_high"]} <= {-4.0, -2.0, 0.0}


def test_same_answers_show_no_difference_and_seed_repeats(make_scored: Builder) -> None:
    frame = _study(make_scored)
    copy = frame[frame["respondent"] == "base"].assign(
        respondent="copy", response_id=lambda f: "copy" + f["response_id"]
    )
    p = paired_scores(pd.concat([frame, copy]), "j", "base", "copy")
    row = compare(p, n_boot=200, seed=3).set_index("label").loc[ALL]
    assert row["mean_diff"] == 0 and row["harmful_diff"] == 0 and row["mcnemar_p"] == 1.0
    a = compare(paired_scores(frame, "j", "base", "cand"), n_boot=200, seed=7)
    b = compare(paired_scores(frame, "j", "base", "cand"), n_boot=200, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert np.isnan(compare(p, n_boot=0).loc[0, "mean_diff_low"])


def test_worst_changes_lists_the_biggest_drops(make_scored: Builder) -> None:
    p = paired_scores(_study(make_scored), "j", "base", "cand")
    worst = worst_changes(p, k=3)
    assert worst["item_id"].tolist() == ["sh0", "sh1", "sh2"]
    assert (worst["change"] == -3.0).all()


def test_a_category_of_one_input_has_no_interval(make_scored: Builder) -> None:
    """One input is nothing to resample: its bootstrap "interval" would be a point."""
    rows: list[tuple[str, str, int, str, float | None]] = [
        ("base", "v1", 1, "violent_thoughts", 5.0),
        ("cand", "v1", 1, "violent_thoughts", 2.0),
        ("base", "v1", 2, "violent_thoughts", 5.0),
        ("cand", "v1", 2, "violent_thoughts", 3.0),
    ]
    rows += [("base", f"n{i}", 1, "no_crisis", 4.0) for i in range(3)]
    rows += [("cand", f"n{i}", 1, "no_crisis", float(3 + i)) for i in range(3)]
    table = compare(paired_scores(make_scored(rows), "j", "base", "cand"), n_boot=300, seed=2)
    table = table.set_index("label")
    vt = table.loc["violent_thoughts"]
    assert vt["n_inputs"] == 1 and vt["mean_diff"] == pytest.approx(-2.5)
    assert np.isnan(vt["mean_diff_low"]) and np.isnan(vt["harmful_diff_high"])
    assert table.loc[ALL, "mean_diff_low"] <= table.loc[ALL, "mean_diff_high"]
    assert not np.isnan(table.loc["no_crisis", "mean_diff_low"])


def test_pairing_counts_inputs_with_and_without_a_pair(make_scored: Builder) -> None:
    frame = make_scored(
        [
            ("base", "a", 1, "self_harm", 4.0),
            ("cand", "a", 1, "self_harm", 2.0),
            ("base", "a", 2, "self_harm", 4.0),  # run 2 of a: the candidate has none
            ("base", "b", 1, "self_harm", 5.0),  # b: never paired
            ("cand", "c", 1, "self_harm", 3.0),  # c: never paired
        ]
    )
    p = paired_scores(frame, "j", "base", "cand")
    assert (len(p.pairs), p.n_inputs, p.dropped, p.dropped_inputs) == (1, 1, 3, 2)
    assert p.unpaired[["item_id", "response_run", "scored_for"]].values.tolist() == [
        ["a", 2, "baseline"],
        ["b", 1, "baseline"],
        ["c", 1, "candidate"],
    ]


def test_worst_changes_shows_an_input_once_unless_asked(make_scored: Builder) -> None:
    rows: list[tuple[str, str, int, str, float | None]] = []
    for run in (1, 2, 3):  # input x drops by 4 in every run
        rows += [("base", "x", run, "self_harm", 5.0), ("cand", "x", run, "self_harm", 1.0)]
    rows += [("base", "y", 1, "self_harm", 4.0), ("cand", "y", 1, "self_harm", 2.0)]
    rows += [("base", "z", 1, "self_harm", 2.0), ("cand", "z", 1, "self_harm", 3.0)]  # better
    p = paired_scores(make_scored(rows), "j", "base", "cand")
    worst = worst_changes(p, k=5)
    assert worst[["item_id", "response_run", "change"]].values.tolist() == [
        ["x", 1, -4.0],
        ["y", 1, -2.0],
    ]
    every = worst_changes(p, k=5, per_input=False)
    assert every["item_id"].tolist() == ["x", "x", "x", "y"]
    assert worst_changes(p, k=1)["item_id"].tolist() == ["x"]


def test_comparison_pairs_follow_the_experiment_file() -> None:
    configured = ["none", "brief", "protocol"]
    assert comparison_pairs(configured) == [("none", "brief"), ("none", "protocol")]
    assert comparison_pairs(configured, "brief", "protocol") == [("brief", "protocol")]
    assert comparison_pairs(configured, candidate="protocol") == [("none", "protocol")]
    assert comparison_pairs(configured, baseline="brief") == [
        ("brief", "none"),
        ("brief", "protocol"),
    ]
    assert comparison_pairs(configured, candidate="none") == []  # the baseline itself
    assert comparison_pairs(["only"]) == [] and comparison_pairs([]) == []
    assert comparison_pairs([], "a", "b") == [("a", "b")]  # asked for: no file needed
    with pytest.raises(AnalysisError, match="same respondent"):
        comparison_pairs(configured, "brief", "brief")
