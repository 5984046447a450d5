"""Section "Classifier comparison": every classifier in the store — LLM classifiers (their runs
and majority), guard models, moderation endpoints, trained triage classifiers — evaluated the same
way on the items the human experts labelled (:mod:`crisiseval.analysis.classifiers`), beside the
experts' own agreement (the ceiling), with speed and cost per 1,000 inputs where the store knows
them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crisiseval.analysis.classifiers import (
    FPR_TARGETS,
    HUMANS,
    ClassifierEvaluation,
    evaluate_classifier,
    evaluate_humans,
)
from crisiseval.analysis.common import AnalysisError
from crisiseval.sections._format import NO_LABELS, float_col, int_col, quiet, text_col
from crisiseval.sections._model import (
    FigureSpec,
    NoDataError,
    Section,
    fmt_float,
    fmt_pct,
    is_missing,
    make_table,
)
from crisiseval.sections._registry import SectionInputs, section
from crisiseval.taxonomy import LABELS

if TYPE_CHECKING:
    from crisiseval.store import Store

__all__ = ["ClassifierFacts", "classifier_facts", "classifiers_section"]

NO_HUMANS = (
    "no human labels in the run store: the classifier comparison needs experts' labels (e.g. "
    "`crisiseval import-study`)"
)


@dataclass
class ClassifierFacts:
    """What the store says about each classifier beyond its labels."""

    kinds: dict[str, str] = field(default_factory=dict)
    """Rater -> kind (LLM, LLM majority, guard, moderation, trained)."""
    speed: dict[str, float] = field(default_factory=dict)
    """Rater -> inputs per second (one stream; a trained classifier: per CPU second)."""
    cost: dict[str, float] = field(default_factory=dict)
    """Rater -> USD per 1,000 inputs."""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    """Rater -> item -> crisis score (from the labels' detail)."""
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Trained rater -> what it was trained on (the store's meta)."""


def classifier_facts(store: Store, labels: pd.DataFrame) -> ClassifierFacts:
    """Kinds, speed, cost, crisis scores and training notes of the store's classifiers."""
    from crisiseval.triage import triage_info

    facts = ClassifierFacts()
    raters = sorted(set(labels.loc[labels["rater_kind"] == "model_run", "rater"]))
    for rater in raters:
        info = triage_info(store, rater)
        if info is not None:
            facts.kinds[rater] = "trained"
            facts.speed[rater] = float(info.get("inputs_per_s") or float("nan"))
            facts.cost[rater] = 0.0
            facts.training[rater] = info
    cells = store.cells_frame("classify")
    if not cells.empty:
        done = cells[cells["status"].isin(["done", "unparsed"])]
        for model, group in done.groupby("model"):
            name = str(model)
            contexts = [json.loads(c) if c else {} for c in group["context"]]
            kind = next((str(c["kind"]) for c in contexts if "kind" in c), "LLM")
            facts.kinds.setdefault(name, kind)
            latency = float(group["latency_s"].fillna(0).mean())
            if latency > 0:
                facts.speed[name] = 1.0 / latency
            costs = group["cost_usd"].dropna()
            if not costs.empty:
                facts.cost[name] = 1000.0 * float(costs.mean())
    for rater in raters:
        facts.kinds.setdefault(rater, "LLM")
    if "detail" in labels.columns:
        rows = labels[labels["detail"].notna() & (labels["rater_kind"] == "model_run")]
        for rater, item, detail in rows[["rater", "item_id", "detail"]].itertuples(index=False):
            value = json.loads(detail) if isinstance(detail, str) else detail
            if isinstance(value, dict) and isinstance(value.get("crisis_score"), (int, float)):
                facts.scores.setdefault(str(rater), {})[str(item)] = float(value["crisis_score"])
    return facts


@section("classifiers", title="Classifier comparison", order=12, requires=("labels",))
def _report_section(inputs: SectionInputs) -> Section:
    labels = inputs.labels
    return classifiers_section(labels, facts=classifier_facts(inputs.store, labels))


def _speed_col(row: pd.Series) -> str:
    v = row["inputs_per_s"]
    if is_missing(v) or not np.isfinite(float(v)):
        return "n/a"
    return f"{float(v):,.0f}" if float(v) >= 10 else f"{float(v):.2f}"


def _cost_col(row: pd.Series) -> str:
    v = row["usd_per_1000"]
    if is_missing(v):
        return "n/a"
    return "$0 (local)" if float(v) == 0 else f"${float(v):.4f}"


def _labelled_col(row: pd.Series) -> str:
    r, f = row["labelled_recall"], row["labelled_fpr"]
    if is_missing(r):
        return "n/a"
    return f"{fmt_pct(r, 1)} (FPR {fmt_pct(f, 1)})"


def _recall_col(target: float) -> Any:
    pct = round(100 * target)

    def show(row: pd.Series) -> str:
        r, f = row[f"recall_at_fpr_{pct}"], row[f"fpr_at_{pct}"]
        if is_missing(r):
            return "n/a"
        return f"{fmt_pct(r, 1)} (FPR {fmt_pct(f, 1)})"

    return show


@quiet
def classifiers_section(
    labels: pd.DataFrame,
    *,
    facts: ClassifierFacts | None = None,
    consensus: str | None = "consensus:human",
    fprs: Sequence[float] = FPR_TARGETS,
) -> Section:
    """The classifier comparison on the items every human labelled (see the module docstring).
    Raises :class:`NoDataError` without labels or without human labels."""
    if labels.empty:
        raise NoDataError(NO_LABELS)
    facts = facts or ClassifierFacts()
    humans = sorted(set(labels.loc[labels["rater_kind"] == "human", "rater"]))
    if not humans:
        raise NoDataError(NO_HUMANS)
    per_human = [set(labels.loc[labels["rater"] == h, "item_id"]) for h in humans]
    items = sorted(set.intersection(*per_human))
    if not items:
        raise NoDataError("no item was labelled by every human expert")
    wanted = set(items)
    if consensus is not None and not wanted <= set(
        labels.loc[labels["rater"] == consensus, "item_id"]
    ):
        consensus = None
    section = Section(
        key="classifiers",
        title="Classifier comparison",
        intro=(
            f"Every classifier in the store on the {len(items)} items that all {len(humans)} "
            f"human experts labelled ({', '.join(humans)}): mean Cohen's kappa against each "
            "expert (the study's headline metric; unusable outputs and 'any_crisis' count as a "
            "disagreement), kappa against the consensus labels (beside it, not the headline: "
            "the headline compares with each expert, as the study did), per-label F1, and "
            "binary crisis recall (any label but no_crisis) at fixed false-positive rates. "
            "The first row is "
            "the experts against each other: the ceiling."
        ),
    )
    evaluations: list[tuple[str, ClassifierEvaluation]] = []
    if len(humans) >= 2:
        try:
            evaluations.append(
                ("human", evaluate_humans(labels, humans, items, consensus=consensus, fprs=fprs))
            )
        except AnalysisError as exc:
            section.notes.append(f"Human ceiling not computed: {exc}")
    candidates = sorted(
        set(labels.loc[labels["rater_kind"].isin(["model_run", "majority"]), "rater"])
    )
    for rater in candidates:
        kind = facts.kinds.get(rater, "LLM majority" if rater.startswith("majority:") else "LLM")
        try:
            ev = evaluate_classifier(
                labels,
                rater,
                humans,
                items,
                consensus=consensus,
                scores=facts.scores.get(rater),
                fprs=fprs,
            )
        except AnalysisError:
            continue  # a classifier of other items (e.g. the test set only)
        evaluations.append((kind, ev))
    if len(evaluations) <= (1 if len(humans) >= 2 else 0):
        raise NoDataError(
            "no classifier labelled every item the human experts labelled (run classify, or "
            "`crisiseval triage train`, on those items)"
        )
    for rater, info in facts.training.items():
        training = info.get("training") or {}
        if not training:
            continue
        left = training.get("left_out") or {}
        section.summary.append(
            f"{rater} (trained classifier) was trained on {training.get('n_items')} items "
            f"labelled by {training.get('labels_from')}"
            + (f" in sample {training['sample']}" if training.get("sample") else "")
            + f"; the {training.get('evaluation_items')} evaluation items were never trained on "
            f"({left.get('evaluation item', 0)} left out by id, "
            f"{left.get('same text as an evaluation item', 0)} more by identical text)."
        )
    ceiling = next((ev.mean_kappa for kind, ev in evaluations if kind == "human"), None)
    rows = []
    for kind, ev in evaluations:
        base = ev.rater.removeprefix("majority:")
        speed = facts.speed.get(base)
        cost = facts.cost.get(base)
        if ev.rater.startswith("majority:") and speed is not None:
            runs = _runs_of(labels, base, wanted)
            speed = speed / max(runs, 1)
            cost = None if cost is None else cost * max(runs, 1)
        rows.append(
            {
                **ev.row(),
                "kind": "experts" if kind == "human" else kind,
                "inputs_per_s": float("nan") if kind == "human" or speed is None else speed,
                "usd_per_1000": None if kind == "human" else cost,
            }
        )
    data = pd.DataFrame(rows)
    head = data[data["rater"] == HUMANS]
    rest = data[data["rater"] != HUMANS].sort_values("mean_kappa", ascending=False)
    data = pd.concat([head, rest]).reset_index(drop=True)
    columns = [
        ("classifier", text_col("rater"), False),
        ("kind", text_col("kind"), False),
        ("runs", int_col("runs"), True),
        ("items", int_col("n_items"), True),
        ("mean kappa", float_col("mean_kappa"), True),
        ("min", float_col("min_kappa"), True),
        ("max", float_col("max_kappa"), True),
    ]
    if consensus is not None:
        columns.append(("kappa vs consensus", float_col("kappa_consensus"), True))
    columns += [
        ("macro F1", float_col("macro_f1"), True),
        ("inputs/s", _speed_col, True),
        ("per 1,000 inputs", _cost_col, True),
    ]
    section.tables.append(
        make_table(
            "classifiers_vs_experts",
            "Classifiers against the human experts",
            data,
            columns,
            note=(
                "Kappa: mean Cohen's kappa over (run x expert) pairs on the seven labels. "
                "Inputs/s: one stream, from the calls' latency (a trained classifier: per CPU "
                "second on one core); n/a when the store has no calls (imported labels). Cost: "
                "USD, from the calls' tokens and prices."
            ),
        )
    )
    recall_columns = [
        ("classifier", text_col("rater"), False),
        ("crisis score", text_col("crisis_score"), False),
        ("as labelled", _labelled_col, True),
    ] + [(f"at FPR {round(100 * t)}%", _recall_col(t), True) for t in fprs]
    section.tables.append(
        make_table(
            "classifiers_crisis_recall",
            "Binary crisis recall against the experts",
            data,
            recall_columns,
            note=(
                "A crisis is any label but no_crisis (any_crisis included). As labelled: the "
                "share of each expert's crisis items the classifier's labels call a crisis (its "
                "false-positive rate on the expert's no-crisis items in brackets). At FPR: the "
                "share flagged when at most that share of the expert's no-crisis items is "
                "flagged (the rate reached in brackets); the crisis score is the classifier's "
                "probability or moderation score where its labels carry one (score), else the "
                "share of its runs that label a crisis (labels). Means over the experts."
            ),
        )
    )
    f1_rows = [{"rater": r["rater"], **{lab: r[f"f1_{lab}"] for lab in LABELS}} for r in rows]
    f1 = pd.DataFrame(f1_rows).set_index("rater").loc[list(data["rater"])].reset_index()
    section.tables.append(
        make_table(
            "classifiers_per_label_f1",
            "Per-label F1 against the experts",
            f1,
            [("classifier", text_col("rater"), False)]
            + [(lab, float_col(lab), True) for lab in LABELS],
            note="F1 of each label, mean over (run x expert) pairs; n/a: no expert gave it.",
        )
    )
    if any(row["crisis_score"] == "labels" and row["kind"] != "experts" for row in rows) and (
        not facts.scores
    ):
        section.notes.append(
            "No classifier's crisis probabilities were available: recall at a fixed "
            "false-positive rate uses each classifier's labels (one operating point per run)."
        )
    section.figures.append(
        FigureSpec(
            "classifiers_kappa",
            "Classifiers against the human experts",
            "kappa_bars",
            {
                "names": list(data["rater"]),
                "means": list(data["mean_kappa"]),
                "lows": list(data["min_kappa"]),
                "highs": list(data["max_kappa"]),
                "title": "Mean Cohen's kappa against the human experts",
                "reference": ceiling,
                "reference_label": "experts' mean pairwise kappa",
            },
        )
    )
    fast = data[data["inputs_per_s"].map(lambda v: not is_missing(v) and np.isfinite(v))]
    if len(fast):
        section.figures.append(
            FigureSpec(
                "classifiers_speed",
                "Agreement with the experts against speed",
                "classifier_tradeoff",
                {
                    "names": list(fast["rater"]),
                    "speed": [float(v) for v in fast["inputs_per_s"]],
                    "kappa": [float(v) for v in fast["mean_kappa"]],
                    "title": "Mean kappa against the experts vs inputs per second",
                    "reference": ceiling,
                    "reference_label": "experts' mean pairwise kappa",
                },
                caption="Classifiers whose speed the store knows (calls it made, or a trained "
                "classifier's measured speed).",
            )
        )
    for kind, ev in evaluations:
        if kind in ("human", "LLM"):
            continue  # the experts and LLM runs: see the agreement section's confusions
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ev.rater)
        section.figures.append(
            FigureSpec(
                f"classifier_confusion_{safe}",
                f"Confusions: {ev.rater} vs the experts",
                "confusion_heatmap",
                {
                    "counts": ev.confusion,
                    "title": f"{ev.rater} vs the experts",
                    "xlabel": f"label by {ev.rater}",
                    "ylabel": "label by an expert",
                },
                caption="Counts pooled over the experts (and runs); colour: share of the row.",
            )
        )
    section.extra["evaluations"] = {ev.rater: ev for _kind, ev in evaluations}
    if ceiling is not None:
        section.notes.append(
            f"The experts' mean pairwise kappa (the ceiling) is {fmt_float(ceiling)}."
        )
    return section


def _runs_of(labels: pd.DataFrame, model: str, items: set[str]) -> int:
    runs = labels[(labels["rater"] == model) & (labels["rater_kind"] == "model_run")]
    return sum(1 for _, g in runs.groupby("run_index") if items <= set(g["item_id"]))


def facts_from(
    kinds: Mapping[str, str] | None = None,
    speed: Mapping[str, float] | None = None,
    cost: Mapping[str, float] | None = None,
    scores: Mapping[str, Mapping[str, float]] | None = None,
) -> ClassifierFacts:
    """:class:`ClassifierFacts` from plain mappings (tests, other callers)."""
    return ClassifierFacts(
        kinds=dict(kinds or {}),
        speed=dict(speed or {}),
        cost=dict(cost or {}),
        scores={k: dict(v) for k, v in (scores or {}).items()},
    )
