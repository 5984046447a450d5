"""Stage ``classify``: C classifier models x N runs label every item of a sample.

Each run is a cell with structured output ``{label, explanation}`` (the label list is the loaded
taxonomy's; a model's ``explanation_chars`` caps the explanation, or drops it at 0, in the schema
and in the prompt). Per model and item the runs are reduced to a majority label: the most
frequent valid label when it is unique; a tie, or no valid run at all, gives no label (status
``tie`` / ``none``), which is reported and keeps the item out of judging.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crisiseval.config import StudyConfig
from crisiseval.engine import CallSpec, RunSummary
from crisiseval.prompts import render
from crisiseval.stages.base import StageOutcome, StudyContext, register_stage
from crisiseval.stages.outputs import classify_output, explanation_caps, run_by_output
from crisiseval.store import LabelRecord, LabelStatus, RaterId, Store
from crisiseval.taxonomy import Taxonomy

PROMPT_VERSION = "classify-v1"


def build_messages(
    taxonomy: Taxonomy, turns: Sequence[str], explanation_chars: int | None = None
) -> list[dict[str, str]]:
    """The classifier's messages; ``explanation_chars`` as the model's (None: the usual
    explanation is asked for, 0: the label only)."""
    return render(
        "classify", taxonomy=taxonomy, turns=list(turns), explanation_chars=explanation_chars
    )


@dataclass
class ClassifyResult:
    summary: RunSummary
    per_model: dict[str, Counter[str]] = field(default_factory=dict)  # status counts of majority
    removed: int = 0

    def lines(self) -> list[str]:
        out = [f"classify: {self.summary.line()}"]
        for model, c in self.per_model.items():
            out.append(
                f"  {RaterId.majority(model)}: {c.get('ok', 0)} labelled, {c.get('tie', 0)} "
                f"ties, {c.get('none', 0)} with no valid run"
                + (f", {c['incomplete']} incomplete" if c.get("incomplete") else "")
            )
        if self.removed:
            out.append(
                f"  removed {self.removed} labels of runs or classifiers no longer configured"
            )
        return out


def majority(labels: Sequence[str | None]) -> tuple[str | None, LabelStatus]:
    """Majority of the valid labels of one item's runs: (label, status ok|tie|none)."""
    valid = [lab for lab in labels if lab]
    if not valid:
        return None, "none"
    counts = Counter(valid).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None, "tie"
    return counts[0][0], "ok"


def make_specs(
    store: Store,
    taxonomy: Taxonomy,
    item_ids: Sequence[str],
    models: Sequence[str],
    runs: int,
    caps: Mapping[str, int | None] | None = None,
) -> list[CallSpec]:
    """The classify calls; ``caps``: each model's ``explanation_chars`` (default: none set)."""
    caps = caps or {}
    turns = store.item_turns(item_ids)
    version = f"{PROMPT_VERSION}:{taxonomy.version}"
    messages = {
        (iid, cap): build_messages(taxonomy, turns[iid], cap)
        for cap in {caps.get(m) for m in models}
        for iid in dict.fromkeys(item_ids)
    }
    return [
        CallSpec(
            role="classify",
            model=model,
            messages=messages[iid, caps.get(model)],
            run_index=run,
            prompt_version=version,
            item_id=iid,
            context={"classifier": model},
        )
        for model in models
        for iid in item_ids
        for run in range(runs)
    ]


def run_classify(
    ctx: StudyContext, item_ids: Sequence[str], models: Sequence[str], runs: int
) -> ClassifyResult:
    store, engine, taxonomy = ctx.store, ctx.engine, ctx.taxonomy
    caps = explanation_caps(ctx.engine, models)
    specs = make_specs(store, taxonomy, item_ids, models, runs, caps)
    summary = run_by_output(
        engine,
        specs,
        lambda model: classify_output(taxonomy, caps[model]),
        description="classify",
    )
    results = engine.results(summary.keys)
    records: list[LabelRecord] = []
    by_item: dict[tuple[str, str], list[str | None]] = {}
    for spec, key in zip(specs, summary.keys, strict=True):
        r = results[key]
        assert spec.item_id is not None
        rec = LabelRecord.from_cell(
            classifier=spec.model,
            cell_run_index=spec.run_index,
            item_id=spec.item_id,
            cell_status=r.status,
            parsed=r.parsed,
            cell_key=key,
        )
        if rec is None:  # pending or in a batch: the run was interrupted
            continue
        records.append(rec)
        if rec.status != "failed":  # an infrastructure failure is not a vote
            by_item.setdefault((spec.model, spec.item_id), []).append(rec.label)
    result = ClassifyResult(summary=summary, per_model={m: Counter() for m in models})
    incomplete: list[tuple[str, str]] = []
    for model, iid in ((m, i) for m in models for i in dict.fromkeys(item_ids)):
        labels = by_item.get((model, iid), [])
        if len(labels) < runs:
            # Some runs failed or were interrupted: no majority until a re-run finishes them
            # (and none left over from an earlier, smaller number of runs).
            result.per_model[model]["incomplete"] += 1
            incomplete.append((str(RaterId.majority(model)), iid))
            continue
        lab, status = majority(labels)
        result.per_model[model][status] += 1
        records.append(LabelRecord.majority(model, iid, lab, status))
    with store.transaction():
        store.upsert_labels(records)
        if incomplete:
            store.delete_labels(incomplete)
        # A smaller study (fewer runs, a classifier dropped) leaves no labels behind.
        result.removed = store.remove_stale_labels(item_ids, models, runs, origin="classify")
    return result


@register_stage
class ClassifyStage:
    name = "classify"
    needs: tuple[str, ...] = ()

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.classify is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        return list(cfg.classify.models) if cfg.classify else []

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        c = ctx.cfg.classify
        assert c is not None
        caps = explanation_caps(ctx.engine, c.models)
        return make_specs(ctx.store, ctx.taxonomy, item_ids, c.models, c.runs, caps)

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        c = ctx.cfg.classify
        assert c is not None
        r = run_classify(ctx, item_ids, c.models, c.runs)
        return StageOutcome(r.summary, r.lines())
