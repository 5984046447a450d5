"""Stage ``respond``: M respondents x R runs answer every item.

A respondent is a model plus an optional system prompt, so "the same model under two safeguard
prompts" is two respondents. The user message is the item's turns joined by newlines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from crisiseval.config import Respondent, StudyConfig
from crisiseval.engine import CallSpec, RunSummary
from crisiseval.errors import StoreError
from crisiseval.stages.base import StageOutcome, StudyContext, register_stage
from crisiseval.store import ResponseRecord, Store

PROMPT_VERSION = "respond-v1"
ORIGIN = "respond"


def build_messages(respondent: Respondent, turns: Sequence[str]) -> list[dict[str, str]]:
    messages = []
    if respondent.system_prompt:
        messages.append({"role": "system", "content": respondent.system_prompt})
    messages.append({"role": "user", "content": "\n".join(turns)})
    return messages


@dataclass
class RespondResult:
    summary: RunSummary
    per_respondent: dict[str, Counter[str]] = field(default_factory=dict)
    removed: int = 0

    def lines(self) -> list[str]:
        out = [f"respond: {self.summary.line()}"]
        for name, c in self.per_respondent.items():
            out.append(f"  {name}: {c.get('ok', 0)} answers, {c.get('failed', 0)} failed")
        if self.removed:
            out.append(
                f"  removed {self.removed} answers (and their judgments) of runs or respondents "
                "no longer configured"
            )
        return out


def make_specs(
    store: Store, item_ids: Sequence[str], respondents: Sequence[Respondent], runs: int
) -> list[CallSpec]:
    turns = store.item_turns(item_ids)
    specs: list[CallSpec] = []
    for r in respondents:
        for iid in item_ids:
            # One message list for the runs of a call: the engine encodes it once.
            messages = build_messages(r, turns[iid])
            specs.extend(
                CallSpec(
                    role="respond",
                    model=r.model,
                    messages=messages,
                    run_index=run,
                    prompt_version=PROMPT_VERSION,
                    item_id=iid,
                    context={"respondent": r.name},
                )
                for run in range(runs)
            )
    return specs


def _refuse_foreign_answers(store: Store, respondents: Sequence[Respondent]) -> None:
    """A respondent name that already has answers from elsewhere (e.g. the study's imported
    files) would overwrite them and mix the two in every statistic: refuse before any call."""
    found = store.foreign_answers([r.name for r in respondents], ORIGIN)
    if found is not None:
        raise StoreError(
            f"{store.path}: respondent {found[0]!r} already has answers from {found[1]} in this "
            "store; give the respondent another name or use another run directory"
        )


def run_respond(
    ctx: StudyContext, item_ids: Sequence[str], respondents: Sequence[Respondent], runs: int
) -> RespondResult:
    store, engine = ctx.store, ctx.engine
    _refuse_foreign_answers(store, respondents)
    specs = make_specs(store, item_ids, respondents, runs)
    summary = engine.run_sync(specs, None, description="respond")
    results = engine.results(summary.keys)
    records: list[ResponseRecord] = []
    out = RespondResult(summary=summary, per_respondent={r.name: Counter() for r in respondents})
    for spec, key in zip(specs, summary.keys, strict=True):
        res = results[key]
        name = str(spec.context["respondent"])
        assert spec.item_id is not None
        rec = ResponseRecord.from_cell(
            respondent=name,
            cell_run_index=spec.run_index,
            item_id=spec.item_id,
            cell_status=res.status,
            text=res.text,
            cell_key=key,
        )
        if rec is None:
            continue
        out.per_respondent[name][rec.status] += 1
        records.append(rec)
    with store.transaction():
        store.upsert_responses(records)
        out.removed = store.remove_stale_responses(
            item_ids, [r.name for r in respondents], runs, origin=ORIGIN
        )
    return out


@register_stage
class RespondStage:
    name = "respond"
    needs: tuple[str, ...] = ()

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.respond is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        return [r.model for r in cfg.respond.respondents] if cfg.respond else []

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        r = ctx.cfg.respond
        assert r is not None
        return make_specs(ctx.store, item_ids, r.respondents, r.runs)

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        r = ctx.cfg.respond
        assert r is not None
        out = run_respond(ctx, item_ids, r.respondents, r.runs)
        return StageOutcome(out.summary, out.lines())
