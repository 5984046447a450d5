"""Stage ``behaviour``: J judges x K runs name the behaviour of every answer.

Beside the 1-5 rubric, a behaviour judge gives each answer one code of
:data:`crisiseval.probes.BEHAVIOURS` (supportive, refusal, informative, harmful,
pseudo-alignment, over-reaction): what missed-risk, over-refusal and pseudo-alignment rates are
counted from. For a probe the judge is told the test design's intent (risky or benign) and the
topic's label; for any other input it judges from the text alone. An answer's behaviour for a
judge is the majority of its valid runs (computed in the analysis; a tie gives none); an output
that is not one code is ``unparsed``, as for every judge.
"""

from __future__ import annotations

import enum
import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, create_model

from crisiseval.config import StudyConfig
from crisiseval.engine import CallSpec, RunSummary
from crisiseval.probes.suite import BEHAVIOUR_TEXT, BEHAVIOURS
from crisiseval.prompts import render
from crisiseval.stages.base import StageOutcome, StudyContext, planned_answers, register_stage
from crisiseval.stages.outputs import explanation_caps, explanation_fields, run_by_output
from crisiseval.store import BehaviourRecord, record_run
from crisiseval.taxonomy import Taxonomy

PROMPT_VERSION = "behaviour-v1"
EXPLANATION_CHARS = 300
"""The explanation limit when a judge model sets no ``explanation_chars``."""


def _code(value: Any) -> Any:
    # "Pseudo alignment", "over_reaction", "HARMFUL": the code meant, not a reason to re-ask.
    if isinstance(value, str):
        folded = value.strip().lower().replace("_", "-").replace(" ", "-")
        if folded in BEHAVIOURS:
            return folded
    return value


@functools.cache
def behaviour_output_for(explanation_chars: int | None = None) -> type[BaseModel]:
    """The behaviour judge's output model (``explanation_chars`` as for the judge)."""
    codes = enum.Enum("Behaviour", {c: c for c in BEHAVIOURS}, type=str)  # type: ignore[misc]
    model: type[BaseModel] = create_model(
        "BehaviourOutput",
        __doc__="What a behaviour judge must return.",
        behaviour=(Annotated[codes, BeforeValidator(_code)], ...),
        **explanation_fields(explanation_chars, EXPLANATION_CHARS),
    )
    return model


def build_messages(
    taxonomy: Taxonomy,
    turns: Sequence[str],
    response: str,
    *,
    intent: str | None,
    label: str | None,
    explanation_chars: int | None = None,
) -> list[dict[str, str]]:
    return render(
        "behaviour",
        behaviours=[{"code": c, "description": BEHAVIOUR_TEXT[c]} for c in BEHAVIOURS],
        intent=intent,
        label=taxonomy.get(label) if label is not None and label in taxonomy.names else None,
        turns=list(turns),
        response=response,
        explanation_chars=explanation_chars,
    )


@dataclass
class BehaviourResult:
    summary: RunSummary
    responses: int = 0
    probes: int = 0
    per_judge: dict[str, Counter[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"behaviour: {self.summary.line()}"]
        out.append(
            f"  {self.responses} answers judged ({self.probes} of them to probes, with their "
            "intent)"
        )
        for name, c in self.per_judge.items():
            out.append(
                f"  {name}: {c.get('ok', 0)} behaviours, {c.get('unparsed', 0)} unparsed, "
                f"{c.get('failed', 0)} failed"
            )
        return out


def make_specs(
    ctx: StudyContext,
    answers: Sequence[tuple[str, str, str]],
    judges: Sequence[str],
    runs: int,
) -> list[CallSpec]:
    """One call per (answer, judge, run); ``answers`` as (response_id, item_id, text)."""
    items = list(dict.fromkeys(a[1] for a in answers))
    turns = ctx.store.item_turns(items)
    probes = {p.item_id: p for p in ctx.store.probes(items)}
    version = f"{PROMPT_VERSION}:{ctx.taxonomy.version}"
    caps = explanation_caps(ctx.engine, judges)
    specs: list[CallSpec] = []
    for response_id, iid, text in answers:
        probe = probes.get(iid)
        intent = probe.intent if probe else None
        label = probe.label if probe else None
        messages = {
            cap: build_messages(
                ctx.taxonomy, turns[iid], text, intent=intent, label=label, explanation_chars=cap
            )
            for cap in set(caps.values())
        }
        for judge in judges:
            for run in range(runs):
                specs.append(
                    CallSpec(
                        role="behaviour",
                        model=judge,
                        messages=messages[caps[judge]],
                        run_index=run,
                        prompt_version=version,
                        item_id=iid,
                        context={"response_id": response_id, "judge": judge},
                    )
                )
    return specs


def _answers(
    ctx: StudyContext, item_ids: Sequence[str], respondents: Sequence[str] | None, runs: int | None
) -> list[tuple[str, str, str]]:
    wanted = set(item_ids)
    keep = set(respondents) if respondents is not None else None
    return [
        (rid, iid, text)
        for rid, iid, text, who, run in ctx.store.ok_responses()
        if iid in wanted and (keep is None or who in keep) and (runs is None or run <= runs)
    ]


def run_behaviour(
    ctx: StudyContext,
    item_ids: Sequence[str],
    judges: Sequence[str],
    runs: int,
    *,
    respondents: Sequence[str] | None = None,
    response_runs: int | None = None,
) -> BehaviourResult:
    """Name the behaviour of the answers of ``respondents`` (all when None) to ``item_ids``.

    Behaviours written earlier for these items that are out of scope now (fewer runs, a judge or
    respondent no longer configured) are removed.
    """
    store, engine = ctx.store, ctx.engine
    answers = _answers(ctx, item_ids, respondents, response_runs)
    specs = make_specs(ctx, answers, judges, runs)
    caps = explanation_caps(engine, judges)
    summary = run_by_output(
        engine, specs, lambda model: behaviour_output_for(caps[model]), description="behaviour"
    )
    results = engine.results(summary.keys)
    probe_items = {p.item_id for p in store.probes(item_ids)}
    out = BehaviourResult(
        summary=summary,
        responses=len(answers),
        probes=sum(1 for a in answers if a[1] in probe_items),
        per_judge={j: Counter() for j in judges},
    )
    records: list[BehaviourRecord] = []
    for spec, key in zip(specs, summary.keys, strict=True):
        res = results[key]
        rec = BehaviourRecord.from_cell(
            response_id=str(spec.context["response_id"]),
            judge=spec.model,
            cell_run_index=spec.run_index,
            cell_status=res.status,
            parsed=res.parsed,
            cell_key=key,
        )
        if rec is None:
            continue
        out.per_judge[spec.model][rec.status] += 1
        records.append(rec)
    current = {(s.context["response_id"], s.model, record_run(s.run_index)) for s in specs}
    wanted = set(item_ids)
    stale = [
        (rid, judge, run)
        for rid, judge, run, iid in store.behaviour_keys()
        if (iid in wanted or not iid) and (rid, judge, run) not in current
    ]
    with store.transaction():
        store.upsert_behaviours(records)
        store.delete_behaviours(stale)
    return out


@register_stage
class BehaviourStage:
    name = "behaviour"
    needs: tuple[str, ...] = ("respond",)

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.behaviour is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        return list(cfg.behaviour.judges) if cfg.behaviour else []

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        """The calls for every configured answer; an answer not collected yet is sized as a
        max-length reply (an upper bound)."""
        cfg = ctx.cfg
        b = cfg.behaviour
        assert b is not None
        if cfg.respond is None:
            return make_specs(ctx, _answers(ctx, item_ids, None, None), b.judges, b.runs)
        answers = planned_answers(ctx, item_ids)
        return make_specs(ctx, answers, b.judges, b.runs)

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        cfg = ctx.cfg
        b = cfg.behaviour
        assert b is not None
        result = run_behaviour(
            ctx,
            item_ids,
            b.judges,
            b.runs,
            respondents=[r.name for r in cfg.respond.respondents] if cfg.respond else None,
            response_runs=cfg.respond.runs if cfg.respond else None,
        )
        return StageOutcome(result.summary, result.lines())
