"""Label agreement: hand-checked cases, the wrapped libraries, and the study's numbers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from crisiseval.analysis import AnalysisError, rater_key, split_rater_key
from crisiseval.analysis import agreement as ag
from crisiseval.errors import CrisisEvalError

LabelsBuilder = Callable[..., pd.DataFrame]
Study = Any  # the `study` fixture: tests/analysis/conftest.py::Study


A, B = "anxiety_crisis", "no_crisis"


# ------------------------------------------------------------------------------ hand-checked


def test_cohen_kappa_hand_checked(make_labels: LabelsBuilder) -> None:
    # p_o = 3/4; p_e = 2/4 * 1/4 + 2/4 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    labels = make_labels({"x": [A, A, B, B], "y": [A, B, B, B]})
    res = ag.cohen_kappa(labels, "x", "y")
    assert res.n_items == 4
    assert res.kappa == pytest.approx(0.5)
    assert res.agreement == pytest.approx(0.75)


def test_fleiss_kappa_hand_checked(make_labels: LabelsBuilder) -> None:
    # 3 raters, 4 items: P_i = 1, 1, 1/3, 1/3 -> P = 2/3; p_A = p_B = 1/2 -> P_e = 1/2;
    # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3
    labels = make_labels({"x": [A, B, A, A], "y": [A, B, A, B], "z": [A, B, B, B]})
    res = ag.fleiss_kappa(labels, ["x", "y", "z"])
    assert res.method == "fleiss_kappa"
    assert res.n_items == 4
    assert res.value == pytest.approx(1 / 3)


def test_krippendorff_alpha_hand_checked(make_labels: LabelsBuilder) -> None:
    # perfect agreement is 1; two raters on 2 categories, 4 items, one disagreement:
    # coincidences o_AA = 2, o_BB = 4, o_AB = o_BA = 1; n_A = 3, n_B = 5, n = 8
    # D_o = 2 / 8, D_e = 2 * 3 * 5 / (8 * 7); alpha = 1 - D_o / D_e = 1 - (1/4) / (15/28)
    same = make_labels({"x": [A, B, A], "y": [A, B, A]})
    assert ag.krippendorff_alpha(same, ["x", "y"]).value == pytest.approx(1.0)
    labels = make_labels({"x": [A, B, B, A], "y": [A, B, B, B]})
    res = ag.krippendorff_alpha(labels, ["x", "y"])
    assert res.value == pytest.approx(1 - (1 / 4) / (15 / 28))


def test_confusion_matrix_and_most_confused_pairs(make_labels: LabelsBuilder) -> None:
    s = "suicidal_ideation"
    labels = make_labels({"x": [A, A, B, s, s], "y": [B, A, B, A, B], "z": [B, B, B, s, B]})
    cm = ag.confusion_matrix(labels, "x", "y")
    assert list(cm.index) == [s, A, B]  # the taxonomy's order
    assert cm.loc[A, B] == 1 and cm.loc[A, A] == 1 and cm.loc[s, A] == 1 and cm.loc[s, B] == 1
    assert int(cm.to_numpy().sum()) == 5
    top = ag.most_confused_pairs(labels, ["x", "y", "z"], top=2)
    # disagreements: x-y A/B, s/A, s/B; x-z A/B, A/B, s/B; y-z A/B, A/s
    # -> A/B 4, s/A 2, s/B 2 (ties by label order: s/A before s/B)
    assert top[["label_a", "label_b", "count"]].to_numpy().tolist() == [
        [A, B, 4],
        ["suicidal_ideation", A, 2],
    ]
    all_pairs = ag.most_confused_pairs(labels, ["x", "y", "z"], top=None)
    assert int(all_pairs["count"].sum()) == 8
    assert all_pairs["share"].sum() == pytest.approx(1.0)


def test_invalid_policy_drop_vs_category(make_labels: LabelsBuilder) -> None:
    labels = make_labels({"m#1": [A, "", B, B]}, kind="human")
    labels = pd.concat([labels, make_labels({"h": [A, B, B, B]})], ignore_index=True)
    dropped = ag.cohen_kappa(labels, "m#1", "h", invalid="drop")
    assert dropped.n_items == 3 and dropped.kappa == pytest.approx(1.0)
    kept = ag.cohen_kappa(labels, "m#1", "h", invalid="category")
    assert kept.n_items == 4
    expected = cohen_kappa_score([A, ag.INVALID, B, B], [A, B, B, B])
    assert kept.kappa == pytest.approx(expected)
    assert kept.agreement == pytest.approx(0.75)
    matrix = ag.label_matrix(labels, ["m#1", "h"], invalid="category")
    assert matrix.loc["i1", "m#1"] == ag.INVALID


def test_kappa_vs_reference_excludes_runs_without_the_items(make_labels: LabelsBuilder) -> None:
    labels = pd.concat(
        [
            make_labels({"h1": [A, B, B, A], "h2": [A, B, A, A]}),
            make_labels({"m#1": [A, B, B, B], "m#2": [A, "", B, A]}),
            make_labels({"m#3": [A, B]}),  # a run on only two of the items
        ],
        ignore_index=True,
    )
    res = ag.kappa_vs_reference(labels, "m")
    assert res.runs == ("m#1", "m#2")
    assert res.excluded_runs == ("m#3",)
    assert res.references == ("h1", "h2")
    assert len(res.pairs) == 4
    expected = np.mean(
        [
            cohen_kappa_score(run, ref)
            for run in ([A, B, B, B], [A, ag.INVALID, B, A])
            for ref in ([A, B, B, A], [A, B, A, A])
        ]
    )
    assert res.mean_kappa == pytest.approx(expected)
    table = ag.classifiers_vs_humans(labels)
    assert table["rater"].tolist() == ["m"]
    assert table["mean_kappa"].iloc[0] == pytest.approx(expected)


def test_rater_keys(make_labels: LabelsBuilder) -> None:
    assert rater_key("gpt-4o-mini", 1) == "gpt-4o-mini#1"
    assert rater_key("human:H1", 0) == "human:H1"
    assert split_rater_key("gpt-4o-mini#3") == ("gpt-4o-mini", 3)
    assert split_rater_key("human:H1") == ("human:H1", 0)
    labels = make_labels({"h": [A], "m#2": [B]})
    assert ag.rater_keys(labels) == ["h", "m#2"]
    assert ag.rater_keys(labels, "human") == ["h"]


# ------------------------------------------------------------------------------ vs libraries


@pytest.fixture
def random_labels(make_labels: LabelsBuilder) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    cats = ["suicidal_ideation", "self_harm", "anxiety_crisis", "no_crisis"]
    rows = {f"r{k}": list(rng.choice(cats, size=60)) for k in range(4)}
    return make_labels(rows)


def test_statistics_match_the_libraries(random_labels: pd.DataFrame) -> None:
    raters = ["r0", "r1", "r2", "r3"]
    wide = random_labels.pivot(index="item_id", columns="rater", values="label")[raters]
    pairs = ag.pairwise_agreement(random_labels, raters)
    assert len(pairs) == 6
    for row in pairs.itertuples():
        expected = cohen_kappa_score(wide[row.rater_a], wide[row.rater_b])
        assert row.kappa == pytest.approx(expected)
        assert row.agreement == pytest.approx(
            float((wide[row.rater_a] == wide[row.rater_b]).mean())
        )
    mean = ag.mean_pairwise_kappa(random_labels, raters)
    assert mean.value == pytest.approx(pairs["kappa"].mean())
    codes = wide.apply(lambda c: c.map({v: i for i, v in enumerate(sorted(set(wide.stack())))}))
    table, _ = aggregate_raters(codes.to_numpy())
    assert ag.fleiss_kappa(random_labels, raters).value == pytest.approx(sm_fleiss_kappa(table))
    alpha = krippendorff.alpha(
        reliability_data=codes.to_numpy().T.astype(float), level_of_measurement="nominal"
    )
    assert ag.krippendorff_alpha(random_labels, raters).value == pytest.approx(alpha)


def test_krippendorff_alpha_with_missing_labels(random_labels: pd.DataFrame) -> None:
    labels = random_labels.copy()
    drop = (labels["rater"] == "r1") & labels["item_id"].isin(["i0", "i1", "i2"])
    labels.loc[drop, ["label", "status"]] = [None, "unparsed"]
    res = ag.krippendorff_alpha(labels, ["r0", "r1", "r2"])
    wide = labels.pivot(index="item_id", columns="rater", values="label")[["r0", "r1", "r2"]]
    cats = sorted(set(wide.stack().dropna()))
    data = wide.apply(lambda c: c.map({v: float(i) for i, v in enumerate(cats)})).to_numpy().T
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert res.value == pytest.approx(expected)
    # Fleiss needs every rater: the three items without r1's label are left out
    assert ag.fleiss_kappa(labels, ["r0", "r1", "r2"]).n_items == 57


# ------------------------------------------------------------------------------ errors


def test_errors_are_clear(make_labels: LabelsBuilder) -> None:
    labels = make_labels({"x": [A, B, A], "y": [A, B]})
    with pytest.raises(AnalysisError, match=r"no labels by rater\(s\) z"):
        ag.cohen_kappa(labels, "x", "z")
    with pytest.raises(AnalysisError, match=r"rater y has no label for 1 of the 3 items"):
        ag.fleiss_kappa(labels, ["x", "y"], items=["i0", "i1", "i2"])
    with pytest.raises(AnalysisError, match=r"no labels to compare"):
        ag.fleiss_kappa(labels.iloc[0:0], ["x", "y"])
    disjoint = make_labels({"x": [A]})
    disjoint = pd.concat([disjoint, make_labels({"y": [A]}).assign(item_id="other")])
    with pytest.raises(AnalysisError, match=r"no item is labelled by all of x, y"):
        ag.cohen_kappa(disjoint, "x", "y")
    unparsed = make_labels({"x": [""], "y": [A]})
    with pytest.raises(AnalysisError, match=r"no item has an ok label from every rater"):
        ag.cohen_kappa(unparsed, "x", "y")
    with pytest.raises(AnalysisError, match=r"lacks column\(s\) status"):
        ag.cohen_kappa(labels.drop(columns="status"), "x", "y")
    with pytest.raises(AnalysisError, match=r"no human raters"):
        ag.kappa_vs_reference(make_labels({"m#1": [A]}), "m")
    assert issubclass(AnalysisError, CrisisEvalError)


# ------------------------------------------------------------------------------ the study


@pytest.mark.shared
def test_study_acceptance_numbers(study: Study) -> None:
    humans = ag.rater_keys(study.labels, "human")
    assert humans == ["human:H1", "human:H2", "human:H3", "human:H4"]
    fleiss = ag.fleiss_kappa(study.labels, humans, items=study.validation)
    assert fleiss.n_items == 206
    assert round(fleiss.value, 3) == 0.549
    pairwise = ag.mean_pairwise_kappa(study.labels, humans, items=study.validation)
    assert round(pairwise.value, 3) == 0.553
    mini = ag.kappa_vs_reference(study.labels, "gpt-4o-mini", items=study.validation)
    assert mini.runs == ("gpt-4o-mini#1", "gpt-4o-mini#2", "gpt-4o-mini#3")
    assert mini.excluded_runs == ("gpt-4o-mini#4", "gpt-4o-mini#5", "gpt-4o-mini#6")  # test set
    assert len(mini.pairs) == 12
    assert round(mini.mean_kappa, 3) == 0.645
    assert mini.mean_kappa == pytest.approx(0.6445025, abs=1e-6)
    # dropping the empty labels instead gives 0.649: the study counted them as disagreements
    dropped = ag.kappa_vs_reference(
        study.labels, "gpt-4o-mini", items=study.validation, invalid="drop"
    )
    assert round(dropped.mean_kappa, 3) == 0.649


@pytest.mark.shared
def test_study_numbers_match_a_direct_computation(study: Study) -> None:
    wide = ag.label_matrix(
        study.labels, ag.rater_keys(study.labels, "human"), items=study.validation
    )
    kappas = [cohen_kappa_score(wide[a], wide[b]) for a, b in itertools.combinations(wide, 2)]
    assert ag.mean_pairwise_kappa(
        study.labels, list(wide.columns), items=study.validation
    ).value == pytest.approx(np.mean(kappas))
    table = ag.classifiers_vs_humans(study.labels, items=study.validation)
    assert set(table["rater"]) == {
        "gpt-4o-mini",
        "gpt-5-nano",
        "meta-llama-Llama-4-Scout-17B-16E-Instruct",
    }
    assert (table["runs"] == 3).all() and (table["n_items"] == 206).all()
