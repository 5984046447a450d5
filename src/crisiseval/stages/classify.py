"""Stage ``classify``: C classifier models x N runs label every item of a sample.

Each run is a cell with structured output ``{label, explanation}`` (the label list is the loaded
taxonomy's; a model's ``explanation_chars`` caps the explanation, or drops it at 0, in the schema
and in the prompt). Per model and item the runs are reduced to a majority label: the most
frequent valid label when it is unique; a tie, or no valid run at all, gives no label (status
``tie`` / ``none``), which is reported and keeps the item out of judging.

Beside these LLM classifiers (``kind: chat``), the same stage runs the other classifier kinds
into the same labels table:

* ``kind: guard`` — a guard model in its own format (:mod:`crisiseval.guards`): one cell per
  item, the reply parsed by the format (a reply it cannot read is ``unparsed``, its raw text in
  the cell and in the label's ``detail``), categories mapped to a label or ``any_crisis``;
* ``kind: moderation`` — a ``/moderations`` endpoint: one cell per item, scores mapped by the
  thresholds in ``guards/data/openai-moderation.yaml``;
* ``classify.trained`` — a triage model file (:mod:`crisiseval.triage`): no model call; every
  item labelled locally (origin ``classify``), its speed recorded in the store's meta.

Guards, moderation and trained classifiers run once per item (run 1) and have no majority
record: the labels that drive judging come from an LLM classifier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crisiseval.config import StudyConfig
from crisiseval.engine import CallSpec, Engine, OutputParser, RunSummary, TextOutput
from crisiseval.prompts import render
from crisiseval.stages.base import StageOutcome, StudyContext, register_stage
from crisiseval.stages.outputs import (
    classify_output,
    explanation_caps,
    merge_summaries,
    run_by_output,
)
from crisiseval.store import LabelRecord, LabelStatus, RaterId, Store
from crisiseval.taxonomy import Taxonomy

if TYPE_CHECKING:
    from crisiseval.triage import TriageModel

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
    other_lines: list[str] = field(default_factory=list)  # guards, moderation, trained

    def lines(self) -> list[str]:
        out = [f"classify: {self.summary.line()}"]
        for model, c in self.per_model.items():
            out.append(
                f"  {RaterId.majority(model)}: {c.get('ok', 0)} labelled, {c.get('tie', 0)} "
                f"ties, {c.get('none', 0)} with no valid run"
                + (f", {c['incomplete']} incomplete" if c.get("incomplete") else "")
            )
        out += self.other_lines
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


def kinds(engine: Engine, models: Sequence[str]) -> dict[str, list[str]]:
    """The classifier models by kind (chat, guard, moderation), each in the given order."""
    out: dict[str, list[str]] = {"chat": [], "guard": [], "moderation": []}
    for m in dict.fromkeys(models):
        out[engine.model(m).kind].append(m)
    return out


def _parser(engine: Engine, model: str) -> tuple[OutputParser, str]:
    """The output parser and prompt version of a guard or moderation model."""
    from crisiseval.guards import load_format, load_moderation, parse_moderation

    cfg = engine.model(model)
    if cfg.kind == "moderation":
        return TextOutput("moderation", parse_moderation), load_moderation().prompt_version
    assert cfg.guard_format is not None
    fmt = load_format(cfg.guard_format)
    return TextOutput(f"guard:{fmt.name}", fmt.parse), fmt.prompt_version


def make_other_specs(
    store: Store, engine: Engine, item_ids: Sequence[str], models: Sequence[str]
) -> list[tuple[CallSpec, OutputParser]]:
    """One call per item of each guard or moderation model, with the parser of its reply."""
    from crisiseval.guards import load_format

    turns = store.item_turns(item_ids)
    out: list[tuple[CallSpec, OutputParser]] = []
    for model in models:
        cfg = engine.model(model)
        parser, version = _parser(engine, model)
        for iid in dict.fromkeys(item_ids):
            if cfg.kind == "guard":
                assert cfg.guard_format is not None
                messages = load_format(cfg.guard_format).messages(turns[iid])
            else:
                messages = [{"role": "user", "content": "\n".join(turns[iid])}]
            spec = CallSpec(
                role="classify",
                model=model,
                messages=messages,
                run_index=0,
                prompt_version=version,
                item_id=iid,
                context={"classifier": model, "kind": cfg.kind},
            )
            out.append((spec, parser))
    return out


def _run_parsed(
    engine: Engine, pairs: Sequence[tuple[CallSpec, OutputParser]]
) -> tuple[list[CallSpec], RunSummary | None]:
    """Run guard and moderation calls, one engine run per parser."""
    groups: dict[str, list[CallSpec]] = {}
    parsers: dict[str, OutputParser] = {}
    for spec, parser in pairs:
        groups.setdefault(parser.name, []).append(spec)
        parsers[parser.name] = parser
    specs: list[CallSpec] = []
    parts: list[RunSummary] = []
    for name, group in groups.items():
        parts.append(engine.run_sync(group, parsers[name], description="classify"))
        specs += group
    if not parts:
        return [], None
    return specs, merge_summaries(parts, [k for p in parts for k in p.keys])


def _label_records(
    engine: Engine, specs: Sequence[CallSpec], summary: RunSummary
) -> list[LabelRecord]:
    """The labels of finished cells; an unparsed reply keeps its raw text in ``detail``."""
    results = engine.results(summary.keys)
    records: list[LabelRecord] = []
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
        if rec is None:
            continue
        if rec.status == "unparsed" and r.text:
            rec = rec.model_copy(update={"detail": {"raw": r.text[:2000]}})
        records.append(rec)
    return records


def load_trained(trained: Mapping[str, str]) -> dict[str, TriageModel]:
    """The model file of each trained classifier (a missing or altered file is an error before
    any call is made). The triage package (scikit-learn, skops) is imported only when one is
    configured: it adds seconds to the start of every other run."""
    if not trained:
        return {}
    from crisiseval.triage import load_model

    return {name: load_model(path) for name, path in trained.items()}


def run_trained(
    ctx: StudyContext, item_ids: Sequence[str], trained: Mapping[str, TriageModel]
) -> list[str]:
    """Label ``item_ids`` with each trained classifier (no model call) and write the labels;
    returns a line per classifier. The speed measured here (inputs per CPU second) is recorded
    in the store's meta."""
    if not trained:
        return []
    import time

    from crisiseval import triage

    lines: list[str] = []
    for name, model in trained.items():
        t0 = time.process_time()
        ids, prediction = triage.predict_items(ctx.store, model, item_ids)
        seconds = time.process_time() - t0
        speed = len(ids) / seconds if seconds > 0 else float("nan")
        triage.write_labels(
            ctx.store,
            model,
            name,
            ids,
            prediction,
            origin="classify",
            inputs_per_s=speed,
            replace=False,
        )
        lines.append(f"  {name}: {len(ids)} items labelled (trained classifier)")
    return lines


def run_classify(
    ctx: StudyContext,
    item_ids: Sequence[str],
    models: Sequence[str],
    runs: int,
    trained: Mapping[str, str] | None = None,
) -> ClassifyResult:
    store, engine, taxonomy = ctx.store, ctx.engine, ctx.taxonomy
    trained_models = load_trained(trained or {})
    by_kind = kinds(engine, models)
    chat = by_kind["chat"]
    caps = explanation_caps(ctx.engine, chat)
    specs = make_specs(store, taxonomy, item_ids, chat, runs, caps)
    summaries: list[RunSummary] = []
    if specs:
        summaries.append(
            run_by_output(
                engine,
                specs,
                lambda model: classify_output(taxonomy, caps[model]),
                description="classify",
            )
        )
    other = make_other_specs(store, engine, item_ids, by_kind["guard"] + by_kind["moderation"])
    other_specs, other_summary = _run_parsed(engine, other)
    if other_summary is not None:
        summaries.append(other_summary)
    all_specs = [*specs, *other_specs]
    summary = (
        merge_summaries(summaries, [k for s in summaries for k in s.keys])
        if summaries
        else RunSummary()
    )
    records = _label_records(engine, all_specs, summary)
    by_item: dict[tuple[str, str], list[str | None]] = {}
    for rec in records:
        if rec.rater in chat and rec.status != "failed":  # a failure is not a vote
            by_item.setdefault((rec.rater, rec.item_id), []).append(rec.label)
    result = ClassifyResult(summary=summary, per_model={m: Counter() for m in chat})
    incomplete: list[tuple[str, str]] = []
    for model, iid in ((m, i) for m in chat for i in dict.fromkeys(item_ids)):
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
    for model in by_kind["guard"] + by_kind["moderation"]:
        c = Counter(
            r.status if r.status != "ok" else str(r.label)
            for r in records
            if r.rater == model and r.rater_kind == "model_run"
        )
        result.other_lines.append(
            f"  {model} ({engine.model(model).kind}): "
            + (", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "no finished call")
        )
    with store.transaction():
        store.upsert_labels(records)
        if incomplete:
            store.delete_labels(incomplete)
        result.other_lines += run_trained(ctx, item_ids, trained_models)
        # A smaller study (fewer runs, a classifier dropped) leaves no labels behind.
        result.removed = store.remove_stale_labels(
            item_ids, [*models, *(trained or {})], runs, origin="classify"
        )
    return result


@register_stage
class ClassifyStage:
    name = "classify"
    needs: tuple[str, ...] = ()

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.classify is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        # Trained classifiers make no model call: they are not models of the experiment file.
        return list(cfg.classify.models) if cfg.classify else []

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        c = ctx.cfg.classify
        assert c is not None
        by_kind = kinds(ctx.engine, c.models)
        caps = explanation_caps(ctx.engine, by_kind["chat"])
        specs = make_specs(ctx.store, ctx.taxonomy, item_ids, by_kind["chat"], c.runs, caps)
        other = make_other_specs(
            ctx.store, ctx.engine, item_ids, by_kind["guard"] + by_kind["moderation"]
        )
        return specs + [spec for spec, _parser in other]

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        c = ctx.cfg.classify
        assert c is not None
        r = run_classify(ctx, item_ids, c.models, c.runs, c.trained)
        return StageOutcome(r.summary, r.lines())
