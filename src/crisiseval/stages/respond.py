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
from crisiseval.errors import StoreError
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


def _refuse_foreign_answers(store: Store, respondents: Sequence[Respondent]) -> None:
    """A respondent name that already has answers from elsewhere (e.g. the study's imported
    files) would overwrite them and mix the two in every statistic: refuse before any call."""
    names = [r.name for r in respondents]
    marks = ",".join("?" * len(names))
    row = store.conn.execute(
        f"SELECT respondent, origin FROM responses WHERE respondent IN ({marks}) "
        "AND origin != 'respond' LIMIT 1",
        names,
    ).fetchone()
    if row is not None:
        raise StoreError(
            f"{store.path}: respondent {row[0]!r} already has answers from {row[1]} in this store; "
            "give the respondent another name or use another run directory"
        )


def run_respond(
    store: Store,
    engine: Engine,
    item_ids: Sequence[str],
    respondents: Sequence[Respondent],
    runs: int,
) -> RespondResult:
    _refuse_foreign_answers(store, respondents)
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
