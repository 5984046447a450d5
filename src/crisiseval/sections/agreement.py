"""Section "Agreement on crisis labels": rater groups, pairwise kappas, classifiers vs the
human experts, most-confused label pairs (who is compared with whom:
:mod:`crisiseval.analysis.raters`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crisiseval.analysis import agreement as ag
from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.raters import (
    Raters,
    confused_pairs,
    confusion_comparisons,
    group_raters,
    pairwise_raters,
    pooled_confusion,
)
from crisiseval.sections._format import (
    NO_LABELS,
    float_col,
    int_col,
    pct_col,
    quiet,
    text_col,
)
from crisiseval.sections._model import FigureSpec, NoDataError, Section, make_table
from crisiseval.sections._registry import SectionInputs, section

__all__ = ["agreement_section"]

_MAX_PAIRWISE = 16
"""More raters than this: the pairwise table would be too large to read."""


@section("agreement", title="Agreement on crisis labels", order=10, requires=("labels",))
def _report_section(inputs: SectionInputs) -> Section:
    return agreement_section(inputs.labels, samples=inputs.samples, invalid=inputs.invalid)


@quiet
def agreement_section(
    labels: pd.DataFrame,
    *,
    samples: Mapping[str, Sequence[str]] | None = None,
    invalid: ag.InvalidPolicy = "category",
    top: int = 10,
) -> Section:
    """Agreement on crisis labels: rater groups (Fleiss' kappa, Krippendorff's alpha, mean
    pairwise Cohen's kappa), pairwise kappas, classifiers vs humans, most-confused label pairs.

    Groups: see :func:`crisiseval.analysis.raters.group_raters`; ``samples`` (name -> item ids)
    names the item sets. Raises :class:`NoDataError` when there are no labels.
    """
    if labels.empty:
        raise NoDataError(NO_LABELS)
    section = Section(
        key="agreement",
        title="Agreement on crisis labels",
        intro=(
            "How consistently raters (human experts, classifier runs, majority votes) assign "
            "the seven crisis labels. "
            + (
                "Unusable classifier outputs and ties count as one extra category, "
                f"'{ag.INVALID}' (a disagreement with every real label), as in the study."
                if invalid == "category"
                else "Items with an unusable label are left out of each comparison."
            )
        ),
    )
    raters = group_raters(labels, samples)
    if len(raters.humans) == 1:
        section.notes.append("Only one human rater: no agreement among humans to report.")
    elif not raters.humans:
        section.notes.append("No human labels in the store: human agreement is skipped.")
    for model in raters.single_run_models:
        section.notes.append(
            f"{model}: one run per item set, so no run-to-run agreement to report."
        )
    human_mean_kappa = _groups(section, raters, invalid)
    _pairwise(section, raters, invalid)
    _versus_humans(section, raters, invalid, human_mean_kappa)
    _confusions(section, raters, invalid, top)
    if section.empty:
        raise NoDataError(
            "the labels in the store support no agreement statistic (it needs two human "
            "raters, or two runs of a classifier on the same items)"
        )
    return section


def _groups(section: Section, raters: Raters, invalid: ag.InvalidPolicy) -> float | None:
    """The group table; returns the humans' mean pairwise kappa (``None`` without the group)."""
    group_rows: list[dict[str, Any]] = []
    for group in raters.groups:
        keys = list(group.members)
        items = list(group.items) if group.items is not None else None
        row: dict[str, Any] = {"group": group.name, "raters": len(keys), "members": ", ".join(keys)}
        n_items: int | None = None
        for col, stat, fn in (
            ("fleiss_kappa", "Fleiss' kappa", ag.fleiss_kappa),
            ("krippendorff_alpha", "Krippendorff's alpha", ag.krippendorff_alpha),
            ("mean_cohen_kappa", "mean Cohen's kappa", ag.mean_pairwise_kappa),
        ):
            try:
                res = fn(raters.rows(keys), keys, items=items, invalid=invalid)
            except AnalysisError as exc:
                row[col] = float("nan")
                section.notes.append(f"{group.name}: {stat} not computed: {exc}")
            else:
                row[col] = res.value
                if col == "fleiss_kappa":
                    n_items = res.n_items
                if not np.isfinite(res.value):
                    section.notes.append(
                        f"{group.name}: {stat} undefined (all labels in one category)"
                    )
        row["n_items"] = n_items if n_items is not None else len(items or raters.human_items)
        group_rows.append(row)
    if group_rows:
        data = pd.DataFrame(group_rows)[
            [
                "group",
                "raters",
                "n_items",
                "fleiss_kappa",
                "krippendorff_alpha",
                "mean_cohen_kappa",
                "members",
            ]
        ]
        section.tables.append(
            make_table(
                "agreement_groups",
                "Agreement within rater groups",
                data,
                [
                    ("group", text_col("group"), False),
                    ("raters", int_col("raters"), True),
                    ("items", int_col("n_items"), True),
                    ("Fleiss' kappa", float_col("fleiss_kappa"), True),
                    ("Krippendorff's alpha", float_col("krippendorff_alpha"), True),
                    ("mean Cohen's kappa", float_col("mean_cohen_kappa"), True),
                ],
                note="Fleiss' kappa on the items every member labelled; Krippendorff's alpha "
                "(nominal); mean of the pairwise Cohen's kappas.",
            )
        )
    return next((float(r["mean_cohen_kappa"]) for r in group_rows if r["group"] == "humans"), None)


def _pairwise(section: Section, raters: Raters, invalid: ag.InvalidPolicy) -> None:
    pair_raters = pairwise_raters(raters)
    if len(pair_raters) > _MAX_PAIRWISE:
        section.notes.append(
            f"{len(pair_raters)} raters: the pairwise table is left out (see the group table)."
        )
        return
    if len(pair_raters) < 2:
        return
    pair_rows = []
    for a, b in itertools.combinations(pair_raters, 2):
        try:
            pair_rows.append(ag.cohen_kappa(raters.rows([a, b]), a, b, invalid=invalid).__dict__)
        except AnalysisError as exc:
            section.notes.append(f"{a} vs {b}: not compared: {exc}")
    if not pair_rows:
        return
    data = pd.DataFrame(pair_rows)
    section.tables.append(
        make_table(
            "agreement_pairwise",
            "Pairwise agreement (Cohen's kappa, raw agreement)",
            data,
            [
                ("rater A", text_col("rater_a"), False),
                ("rater B", text_col("rater_b"), False),
                ("items", int_col("n_items"), True),
                ("Cohen's kappa", float_col("kappa"), True),
                ("raw agreement", pct_col("agreement"), True),
            ],
            note="Each pair on the items both labelled.",
        )
    )
    section.figures.append(
        FigureSpec(
            "agreement_pairwise_kappa",
            "Pairwise Cohen's kappa",
            "matrix_heatmap",
            {
                "matrix": _kappa_matrix(data, pair_raters),
                "title": "Pairwise Cohen's kappa",
                "vmin": 0.0,
                "vmax": 1.0,
                "colorbar": "Cohen's kappa",
            },
            caption="Cohen's kappa of every pair of raters (each pair on the items both labelled).",
        )
    )


def _kappa_matrix(data: pd.DataFrame, raters: Sequence[str]) -> pd.DataFrame:
    """Rater x rater kappas (symmetric, 1 on the diagonal) of the raters in ``data``."""
    present = [r for r in raters if r in set(data["rater_a"]) | set(data["rater_b"])]
    matrix = pd.DataFrame(np.nan, index=pd.Index(present), columns=pd.Index(present))
    for a, b, kappa in data[["rater_a", "rater_b", "kappa"]].itertuples(index=False):
        matrix.loc[a, b] = kappa
        matrix.loc[b, a] = kappa
    for rater in present:
        matrix.loc[rater, rater] = 1.0
    return matrix


def _versus_humans(
    section: Section, raters: Raters, invalid: ag.InvalidPolicy, human_mean_kappa: float | None
) -> None:
    humans = list(raters.humans)
    if not humans:
        if raters.runs_by_model:
            section.notes.append("No human labels: the classifiers are not compared with experts.")
        return
    if not (raters.runs_by_model or raters.majorities):
        return
    rows = []
    if raters.runs_by_model:
        try:
            cvh = ag.classifiers_vs_humans(raters.rows(humans + raters.all_runs), invalid=invalid)
        except AnalysisError as exc:
            section.notes.append(f"Classifiers vs humans not computed: {exc}")
        else:
            for _, r in cvh.iterrows():
                rows.append({**r.to_dict(), "kind": "runs"})
    for maj in raters.majorities:
        try:
            ref = ag.kappa_vs_reference(raters.rows([*humans, maj]), maj, humans, invalid=invalid)
        except AnalysisError as exc:
            section.notes.append(f"{maj} vs humans not computed: {exc}")
            continue
        rows.append(
            {
                "rater": maj,
                "kind": "majority",
                "runs": len(ref.runs),
                "n_items": ref.n_items,
                "mean_kappa": ref.mean_kappa,
                "min_kappa": ref.min_kappa,
                "max_kappa": ref.max_kappa,
                "mean_agreement": ref.mean_agreement,
            }
        )
    if not rows:
        return
    data = pd.DataFrame(rows)[
        [
            "rater",
            "kind",
            "runs",
            "n_items",
            "mean_kappa",
            "min_kappa",
            "max_kappa",
            "mean_agreement",
        ]
    ]
    note = f"Mean Cohen's kappa over (run x human) pairs, against {len(humans)} humans."
    if human_mean_kappa is not None:
        note += f" For reference, the humans' mean pairwise kappa is {human_mean_kappa:.3f}."
    section.tables.append(
        make_table(
            "agreement_classifiers_vs_humans",
            "Classifiers vs the human experts",
            data,
            [
                ("classifier", text_col("rater"), False),
                ("kind", text_col("kind"), False),
                ("runs", int_col("runs"), True),
                ("items", int_col("n_items"), True),
                ("mean kappa", float_col("mean_kappa"), True),
                ("min", float_col("min_kappa"), True),
                ("max", float_col("max_kappa"), True),
                ("mean raw agreement", pct_col("mean_agreement"), True),
            ],
            note=note,
        )
    )
    section.figures.append(
        FigureSpec(
            "agreement_classifiers_vs_humans",
            "Classifiers vs the human experts",
            "kappa_bars",
            {
                "names": list(data["rater"]),
                "means": list(data["mean_kappa"]),
                "lows": list(data["min_kappa"]),
                "highs": list(data["max_kappa"]),
                "title": "Mean Cohen's kappa against the human experts",
                "reference": human_mean_kappa,
                "reference_label": "humans' mean pairwise kappa",
            },
        )
    )


def _confusions(section: Section, raters: Raters, invalid: ag.InvalidPolicy, top: int) -> None:
    confusion_rows: list[dict[str, Any]] = []
    for comparison in confusion_comparisons(raters):
        model = comparison.model
        try:
            pooled = pooled_confusion(raters, comparison, invalid=invalid)
        except AnalysisError as exc:
            if model is None:
                section.notes.append(f"Human confusions not computed: {exc}")
            else:
                section.notes.append(f"{comparison.among}: confusions not computed: {exc}")
            continue
        confusion_rows += confused_pairs(pooled.counts, comparison.among, top)
        if model is None:
            section.figures.append(
                FigureSpec(
                    "confusion_humans",
                    "Label confusions among the human experts",
                    "confusion_heatmap",
                    {
                        "counts": pooled.both_ways,
                        "title": "Human experts: label pairs over all ordered pairs of experts",
                        "xlabel": "label by the other expert",
                        "ylabel": "label by one expert",
                    },
                    caption="Counts over every ordered pair of experts and item (symmetric); "
                    "colour: share of the row.",
                )
            )
            continue
        if comparison.unordered:
            xlabel, ylabel = "label in another run", "label in one run"
        else:
            xlabel, ylabel = f"label by {model}", "label by a human expert"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
        section.figures.append(
            FigureSpec(
                f"confusion_{safe}",
                f"Label confusions: {comparison.among}",
                "confusion_heatmap",
                {
                    "counts": pooled.both_ways,
                    "title": f"Confusions: {comparison.among}",
                    "xlabel": xlabel,
                    "ylabel": ylabel,
                },
                caption="Counts pooled over the pairs compared; colour: share of the row.",
            )
        )
    if confusion_rows:
        section.tables.append(
            make_table(
                "agreement_confusions",
                "Most-confused label pairs",
                pd.DataFrame(confusion_rows),
                [
                    ("among", text_col("among"), False),
                    ("label A", text_col("label_a"), False),
                    ("label B", text_col("label_b"), False),
                    ("disagreements", int_col("count"), True),
                    ("share of disagreements", pct_col("share"), True),
                ],
                note=f"Top {top} unordered label pairs per comparison, counted over rater "
                "pairs and items.",
            )
        )
