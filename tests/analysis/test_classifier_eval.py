"""The classifier evaluation against experts: kappa, F1, crisis recall at fixed false-positive
rates (hand-checked), any_crisis counted as a disagreement, the human ceiling, and the study."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from crisiseval.analysis import agreement as ag
from crisiseval.analysis.classifiers import (
    HUMANS,
    crisis_recall_at_fpr,
    evaluate_classifier,
    evaluate_humans,
    is_crisis_label,
)
from crisiseval.analysis.common import AnalysisError

LabelsBuilder = Callable[..., pd.DataFrame]
Study = Any

S, H, A, N = "suicidal_ideation", "self_harm", "anxiety_crisis", "no_crisis"
ANY = "any_crisis"


def test_recall_at_fixed_fpr_hand_checked() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    truth = [1, 1, 0, 1, 1, 0, 0, 0]
    # 4 negatives: at most 0 flagged -> threshold 0.8 -> recall 2/4
    assert crisis_recall_at_fpr(scores, truth, 0.0) == (0.5, 0.0, 0.8)
    # at most 1 of 4 -> threshold 0.4 (0.7 flagged) -> recall 4/4
    assert crisis_recall_at_fpr(scores, truth, 0.25) == (1.0, 0.25, 0.4)
    # a binary classifier whose only operating point flags too many: recall 0
    recall, fpr, threshold = crisis_recall_at_fpr([1, 1, 1, 0], [1, 0, 0, 0], 0.5)
    assert (recall, fpr) == (0.0, 0.0) and threshold == float("inf")
    assert np.isnan(crisis_recall_at_fpr([1, 0], [1, 1], 0.1)[0])  # no negatives


def test_is_crisis_label() -> None:
    assert is_crisis_label(S) and is_crisis_label(ANY)
    assert not is_crisis_label(N) and not is_crisis_label(None)
    assert not is_crisis_label(ag.INVALID)


def test_a_classifier_against_two_experts(make_labels: LabelsBuilder) -> None:
    humans = make_labels({"human:a": [S, H, A, N, N, S], "human:b": [S, S, A, N, A, S]})
    runs = make_labels({"clf#1": [S, H, ANY, N, A, None], "clf#2": [S, H, A, N, N, S]})
    labels = pd.concat([humans, runs], ignore_index=True)
    items = [f"i{i}" for i in range(6)]
    ev = evaluate_classifier(labels, "clf", ["human:a", "human:b"], items, fprs=(0.0, 0.5))
    assert ev.runs == 2 and ev.n_items == 6
    run1 = [S, H, ANY, N, A, ag.INVALID]
    run2 = [S, H, A, N, N, S]
    expected = [
        cohen_kappa_score(ref, run)
        for ref in ([S, H, A, N, N, S], [S, S, A, N, A, S])
        for run in (run1, run2)
    ]
    assert ev.mean_kappa == pytest.approx(np.mean(expected))
    assert ev.min_kappa == pytest.approx(min(expected))
    # any_crisis and an unusable output count against every label
    f1_s = np.mean(
        [
            f1_score(ref, run, labels=[S], average=None, zero_division=0.0)[0]
            for ref in ([S, H, A, N, N, S], [S, S, A, N, A, S])
            for run in (run1, run2)
        ]
    )
    assert ev.per_label_f1[S] == pytest.approx(f1_s)
    assert "violent_thoughts" not in ev.per_label_f1  # no expert gave it
    # crisis score from the runs: share of runs labelling a crisis
    # scores [1,1,1,0,.5,.5]; human:a crisis truth [1,1,1,0,0,1]: at FPR 0 the threshold is 1
    # (3 of 4 found); human:b [1,1,1,0,1,1]: its one no-crisis item scores 0, so 0.5 (5 of 5)
    assert ev.crisis_recall[0.0] == pytest.approx(np.mean([3 / 4, 5 / 5]))
    assert ev.crisis_recall[0.5] == pytest.approx(np.mean([1.0, 1.0]))
    # as labelled: run 1 flags [1,1,1,0,1,0], run 2 [1,1,1,0,0,1]
    assert ev.labelled_recall == pytest.approx(np.mean([3 / 4, 4 / 4, 4 / 5, 4 / 5]))
    assert ev.labelled_fpr == pytest.approx(np.mean([1 / 2, 0, 0, 0]))
    assert ev.confusion.loc[A, ANY] == 2  # both experts said anxiety where run 1 said any_crisis
    assert int(ev.confusion.to_numpy().sum()) == 6 * 2 * 2
    assert not ev.scored


def test_given_scores_are_used(make_labels: LabelsBuilder) -> None:
    labels = pd.concat(
        [make_labels({"human:a": [S, N, N, H]}), make_labels({"clf#1": [N, N, N, N]})],
        ignore_index=True,
    )
    items = ["i0", "i1", "i2", "i3"]
    plain = evaluate_classifier(labels, "clf", ["human:a"], items, fprs=(0.0,))
    assert plain.crisis_recall[0.0] == 0.0  # its labels never flag a crisis
    scored = evaluate_classifier(
        labels,
        "clf",
        ["human:a"],
        items,
        scores={"i0": 0.9, "i1": 0.2, "i2": 0.1, "i3": 0.6},
        fprs=(0.0,),
    )
    assert scored.scored and scored.crisis_recall[0.0] == 1.0


def test_the_human_ceiling_is_the_mean_pairwise_kappa(make_labels: LabelsBuilder) -> None:
    labels = make_labels(
        {
            "human:a": [S, H, A, N, N, S],
            "human:b": [S, S, A, N, A, S],
            "human:c": [H, H, A, N, N, N],
        }
    )
    humans = ["human:a", "human:b", "human:c"]
    items = [f"i{i}" for i in range(6)]
    ev = evaluate_humans(labels, humans, items)
    assert ev.rater == HUMANS
    expected = ag.mean_pairwise_kappa(labels, humans, invalid="category").value
    assert ev.mean_kappa == pytest.approx(expected)
    with pytest.raises(AnalysisError):
        evaluate_humans(labels, ["human:a"], items)
    with pytest.raises(AnalysisError, match="no run of nobody"):
        evaluate_classifier(
            pd.concat([labels, make_labels({"nobody#1": [S, S]})]), "nobody", humans, items
        )


@pytest.mark.shared
def test_the_study_s_classifiers(study: Study) -> None:
    humans = ["human:H1", "human:H2", "human:H3", "human:H4"]
    items = sorted(study.validation)
    ev = evaluate_classifier(
        study.labels, "gpt-4o-mini", humans, items, consensus="consensus:human"
    )
    assert ev.runs == 3 and ev.n_items == 206
    assert ev.mean_kappa == pytest.approx(0.645, abs=5e-4)  # the study's number
    assert ev.kappa_consensus is not None and ev.kappa_consensus > ev.mean_kappa
    ceiling = evaluate_humans(study.labels, humans, items, consensus="consensus:human")
    assert ceiling.mean_kappa == pytest.approx(0.553, abs=5e-4)
