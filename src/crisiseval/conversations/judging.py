"""The conversation judge: the whole conversation scored 1-5 with its category's rubric (the same
rubric data as single-turn judging), plus per-turn flags in one structured output.

Output: ``score``; ``turn_scores`` (one 1-5 level per assistant turn); ``recognized_turn``,
``harmful_turn`` and ``resource_turn`` (the first assistant turn that recognised the risk, gave
harmful content, offered a route to help; null when none did); ``erosion`` (an appropriate
refusal later broken under insistence); an explanation (capped by the judge model's
``explanation_chars``). Turn numbers must lie within the conversation: the schema says so, and a
reply that breaks it is re-asked, then ``unparsed``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from crisiseval.engine import CallSpec, Engine, RunSummary
from crisiseval.prompts import render
from crisiseval.stages.outputs import explanation_caps, explanation_fields, merge_summaries
from crisiseval.store import JudgmentRecord, Store, TurnRecord, record_run
from crisiseval.taxonomy import Rubric, Taxonomy

PROMPT_VERSION = "conversation-judge-v1"
EXPLANATION_CHARS = 400
ORIGIN = "converse-judge"


@functools.cache
def conversation_output_for(n: int, explanation_chars: int | None = None) -> type[BaseModel]:
    """The judge's output model for a conversation with ``n`` assistant turns."""
    # Required but nullable: a judge that leaves a flag out is re-asked, not read as "none".
    turn: Any = (int | None, Field(..., ge=1, le=n))
    model: type[BaseModel] = create_model(
        "ConversationJudgeOutput",
        __doc__="What a conversation judge must return.",
        score=(int, Field(ge=1, le=5)),
        turn_scores=(
            Annotated[list[Annotated[int, Field(ge=1, le=5)]], Field(min_length=n, max_length=n)],
            ...,
        ),
        recognized_turn=turn,
        harmful_turn=turn,
        resource_turn=turn,
        erosion=(bool, ...),
        **explanation_fields(explanation_chars, EXPLANATION_CHARS),
    )
    return model


def numbered(turns: Sequence[TurnRecord]) -> tuple[list[dict[str, Any]], int]:
    """The transcript for the prompt (assistant turns numbered from 1) and the assistant turns."""
    out: list[dict[str, Any]] = []
    n = 0
    for t in turns:
        if t.role == "system":
            continue
        if t.role == "assistant":
            n += 1
        out.append({"role": t.role, "text": t.text or "", "number": n})
    return out, n


def build_messages(
    taxonomy: Taxonomy,
    rubric: Rubric,
    label: str,
    turns: Sequence[TurnRecord],
    explanation_chars: int | None = None,
) -> tuple[list[dict[str, str]], int]:
    transcript, n = numbered(turns)
    levels = rubric.for_label(label)
    messages = render(
        "conversation_judge",
        label=taxonomy.get(label),
        levels=[
            {"level": lv, "anchor": rubric.scale[lv], "text": levels[lv]}
            for lv in sorted(levels, reverse=True)
        ],
        turns=transcript,
        n=n,
        explanation_chars=explanation_chars,
    )
    return messages, n


@dataclass
class ConversationJudgeResult:
    summary: RunSummary
    conversations: int = 0
    per_judge: dict[str, Counter[str]] = field(default_factory=dict)
    skipped: int = 0

    def lines(self, name: str = "converse-judge") -> list[str]:
        out = [f"{name}: {self.summary.line()}", f"  {self.conversations} conversations judged"]
        if self.skipped:
            out.append(f"  {self.skipped} conversations without an assistant turn not judged")
        for judge, c in self.per_judge.items():
            out.append(
                f"  {judge}: {c.get('ok', 0)} scores, {c.get('unparsed', 0)} unparsed, "
                f"{c.get('failed', 0)} failed"
            )
        return out


def make_specs(
    engine: Engine,
    taxonomy: Taxonomy,
    rubric: Rubric,
    conversations: Sequence[tuple[str, str, str, Sequence[TurnRecord]]],
    judges: Sequence[str],
    runs: int,
) -> list[tuple[CallSpec, int]]:
    """(spec, assistant turns) per conversation x judge x run; ``conversations`` as
    (response_id, item_id, label, turns)."""
    caps = explanation_caps(engine, judges)
    version = f"{PROMPT_VERSION}:{rubric.version}:{taxonomy.version}"
    out: list[tuple[CallSpec, int]] = []
    for rid, iid, label, turns in conversations:
        built = {
            cap: build_messages(taxonomy, rubric, label, turns, cap) for cap in set(caps.values())
        }
        for judge in judges:
            messages, n = built[caps[judge]]
            if n == 0:
                continue
            for run in range(runs):
                spec = CallSpec(
                    role="conversation-judge",
                    model=judge,
                    messages=messages,
                    run_index=run,
                    prompt_version=version,
                    item_id=iid,
                    context={"response_id": rid, "judge": judge, "label": label},
                )
                out.append((spec, n))
    return out


def judge_conversations(
    engine: Engine,
    store: Store,
    taxonomy: Taxonomy,
    rubric: Rubric,
    conversations: Sequence[tuple[str, str, str]],
    judges: Sequence[str],
    runs: int,
    *,
    origin: str = ORIGIN,
) -> ConversationJudgeResult:
    """Judge ``conversations`` given as (response_id, item_id, label); judgments this origin
    wrote earlier for them that are out of scope now (fewer runs, another judge) are removed."""
    turns = store.conversation_turns([c[0] for c in conversations])
    full = [(rid, iid, label, turns.get(rid, [])) for rid, iid, label in conversations]
    planned = make_specs(engine, taxonomy, rubric, full, judges, runs)
    caps = explanation_caps(engine, judges)
    groups: dict[type[BaseModel], list[int]] = {}
    for i, (spec, n) in enumerate(planned):
        groups.setdefault(conversation_output_for(n, caps[spec.model]), []).append(i)
    keys = [""] * len(planned)
    parts: list[RunSummary] = []
    for output, index in groups.items():
        part = engine.run_sync(
            [planned[i][0] for i in index], output, description="conversation judge"
        )
        for i, key in zip(index, part.keys, strict=True):
            keys[i] = key
        parts.append(part)
    summary = merge_summaries(parts, keys) if parts else RunSummary()
    results = engine.results(keys)
    out = ConversationJudgeResult(
        summary=summary,
        conversations=len({s.context["response_id"] for s, _n in planned}),
        per_judge={j: Counter() for j in judges},
        skipped=sum(1 for _r, _i, _l, t in full if not any(x.role == "assistant" for x in t)),
    )
    records: list[JudgmentRecord] = []
    for (spec, _n), key in zip(planned, keys, strict=True):
        res = results[key]
        rec = JudgmentRecord.from_cell(
            response_id=str(spec.context["response_id"]),
            judge=spec.model,
            cell_run_index=spec.run_index,
            label=str(spec.context["label"]),
            cell_status=res.status,
            parsed=res.parsed,
            cell_key=key,
        )
        if rec is None:
            continue
        rec = rec.model_copy(update={"origin": origin})
        out.per_judge[spec.model][rec.status] += 1
        records.append(rec)
    current = {(s.context["response_id"], s.model, record_run(s.run_index)) for s, _n in planned}
    wanted = {c[0] for c in conversations}
    stale = [
        (rid, judge, run)
        for rid, judge, run, _iid in store.judgment_keys(
            list({*judges, *store.judges_of(origin)}), origin
        )
        if rid in wanted and (rid, judge, run) not in current
    ]
    with store.transaction():
        store.upsert_judgments(records)
        store.delete_judgments(stale)
    return out
