"""Stage ``respond``: M respondents x R runs answer every item.

A respondent is a model plus an optional system prompt, so "the same model under two safeguard
prompts" is two respondents. The user message is the item's turns joined by newlines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crisiseval.config import Respondent
from crisiseval.engine import CallSpec, Engine, RunSummary
from crisiseval.store import Store, response_id_for

PROMPT_VERSION = "respond-v1"


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

    def lines(self) -> list[str]:
        out = [f"respond: {self.summary.line()}"]
        for name, c in self.per_respondent.items():
            out.append(f"  {name}: {c.get('ok', 0)} answers, {c.get('failed', 0)} failed")
        return out


def make_specs(
    store: Store, item_ids: Sequence[str], respondents: Sequence[Respondent], runs: int
) -> list[CallSpec]:
    turns = store.item_turns(item_ids)
    return [
        CallSpec(
            role="respond",
            model=r.model,
            messages=build_messages(r, turns[iid]),
            run_index=run,
            prompt_version=PROMPT_VERSION,
            item_id=iid,
            context={"respondent": r.name},
        )
        for r in respondents
        for iid in item_ids
        for run in range(runs)
    ]


def run_respond(
    store: Store,
    engine: Engine,
    item_ids: Sequence[str],
    respondents: Sequence[Respondent],
    runs: int,
) -> RespondResult:
    specs = make_specs(store, item_ids, respondents, runs)
    summary = engine.run_sync(specs, None, description="respond")
    results = engine.results(summary.keys)
    rows: list[dict[str, Any]] = []
    out = RespondResult(summary=summary, per_respondent={r.name: Counter() for r in respondents})
    for spec, key in zip(specs, summary.keys, strict=True):
        res = results[key]
        if res.status == "pending":
            continue
        name = str(spec.context["respondent"])
        assert spec.item_id is not None
        ok = res.status == "done"
        out.per_respondent[name]["ok" if ok else "failed"] += 1
        rows.append(
            {
                "response_id": response_id_for(spec.item_id, name, spec.run_index + 1),
                "item_id": spec.item_id,
                "respondent": name,
                "run_index": spec.run_index + 1,  # records number runs from 1
                "text": res.text if ok else None,
                "status": "ok" if ok else "failed",
                "tokens_out": None,
                "cell_key": key,
                "origin": "respond",
            }
        )
    store.upsert_responses(rows)
    return out
