"""Simulated conversations: a user-simulator model plays a persona; a respondent answers with the
whole history; up to N user turns; every turn is one cell of the run store.

Each turn's request is built from the turns before it, and cells are content-addressed, so
running again replays every finished turn from the store and continues each conversation at its
first missing turn: ``kill -9`` loses at most the turns in flight, and a resumed run gives the
same transcripts as an uninterrupted one. Conversations advance in lockstep rounds (all
simulator turns k, then all respondent turns k), each round one engine run. The first simulator
message of a persona and run is the same request for every respondent, so respondents are
compared on the same opening.

An infrastructure failure (after the engine's retries) ends the conversation as ``failed``: it is
kept with its turns so far, is never judged and is retried by the next run.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from crisiseval.config import Respondent
from crisiseval.conversations.personas import Persona
from crisiseval.engine import CallSpec, Engine, RunSummary
from crisiseval.prompts import render
from crisiseval.stages.outputs import merge_summaries
from crisiseval.store import ResponseRecord, Store, TurnRecord, record_run, response_id_for

SIMULATOR_VERSION = "simulator-v1"
RESPONDENT_VERSION = "converse-v1"
ORIGIN = "converse"
SAMPLE = "converse:personas"
_END = re.compile(r"\[\s*END\s*\]", re.IGNORECASE)

State = Literal["active", "ended", "limit", "failed", "broken"]
"""``broken``: the simulator did not play its part (an empty message, a refusal, or stepping out
of character); the conversation is kept for inspection but never judged."""

_OUT_OF_ROLE = re.compile(
    r"\b(as an ai|i am an ai|i'?m an ai|language model|i can(?:no|')t (?:help|assist|continue|"
    r"role-?play|do that)|i'?m not able to (?:help|role-?play)|as the (?:user|person) i)",
    re.IGNORECASE,
)


def persona_item_id(set_name: str, persona: Persona) -> str:
    """The store item of a persona card: a changed card is a new item (and new conversations)."""
    blob = f"{set_name}\x00{persona.id}\x00{persona.digest()}"
    return "ps_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def out_of_role(text: str) -> bool:
    """Whether a simulator message is the simulator refusing or stepping out of its role (then
    it is not the persona speaking, and the respondent must not be judged on it)."""
    return bool(_OUT_OF_ROLE.search(text))


def split_end(text: str) -> tuple[str, bool]:
    """The simulator's message without the end marker, and whether it ended the conversation."""
    ended = bool(_END.search(text))
    return _END.sub("", text).strip(), ended


def reveal_at(persona: Persona, turn: int) -> str | None:
    """What the persona may reveal from ``turn`` on (the disclosure that starts at it)."""
    for d in persona.disclosures:
        if d.turn == turn:
            return d.say
    return None


def simulator_messages(
    persona: Persona, turns: Sequence[tuple[str, str]], turn: int, limit: int
) -> list[dict[str, str]]:
    """The simulator's request for its ``turn``-th message: the persona (system), the
    conversation so far with the roles swapped (its own messages are the assistant's), and the
    in-character reminder appended to the respondent's latest reply."""
    system, reminder = (
        m["content"]
        for m in render(
            "simulator",
            persona=persona,
            # Only what the persona may have revealed by now: listing later disclosures
            # invites a concealed persona to reveal them early.
            disclosures=[d for d in persona.disclosures if d.turn <= turn],
            turn=turn,
            max_turns=limit,
            reveal=reveal_at(persona, turn),
            may_end=turn > persona.disclosures[-1].turn,
        )
    )
    messages = [{"role": "system", "content": system}]
    for role, text in turns:
        messages.append({"role": "assistant" if role == "user" else "user", "content": text})
    if messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n\n{reminder}"}
    else:
        messages.append({"role": "user", "content": reminder})
    return messages


def respondent_messages(
    respondent: Respondent, turns: Sequence[tuple[str, str]]
) -> list[dict[str, str]]:
    """The respondent's request: its system prompt, then the whole conversation."""
    messages = []
    if respondent.system_prompt:
        messages.append({"role": "system", "content": respondent.system_prompt})
    messages += [{"role": role, "content": text} for role, text in turns]
    return messages


def transcript_text(turns: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{'User' if r == 'user' else 'Assistant'}: {t}" for r, t in turns)


@dataclass
class Conversation:
    set_name: str
    persona: Persona
    item_id: str
    respondent: Respondent
    run: int
    """The cell run index (from 0)."""
    limit: int
    turns: list[tuple[str, str, str]] = field(default_factory=list)
    """(role, text, cell key) in order."""
    state: State = "active"
    end_after_reply: bool = False

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(r, t) for r, t, _k in self.turns]

    @property
    def user_turns(self) -> int:
        return sum(1 for r, _t, _k in self.turns if r == "user")

    def record(self) -> ResponseRecord:
        ok = self.state in ("ended", "limit") and any(r == "assistant" for r, _, _ in self.turns)
        run = record_run(self.run)
        return ResponseRecord(
            response_id=response_id_for(self.item_id, self.respondent.name, run),
            item_id=self.item_id,
            respondent=self.respondent.name,
            run_index=run,
            text=transcript_text(self.pairs) if ok else None,
            status="ok" if ok else "failed",
            cell_key=self.turns[-1][2] if self.turns else None,
            origin=ORIGIN,
            kind="conversation",
            turns=tuple(
                TurnRecord(index=i, role=r, text=t, cell_key=k)
                for i, (r, t, k) in enumerate(self.turns)
            ),
        )


@dataclass
class ConverseResult:
    summary: RunSummary
    states: Counter[str] = field(default_factory=Counter)
    conversations: int = 0
    turns: int = 0
    removed: int = 0

    def lines(self) -> list[str]:
        out = [f"converse: {self.summary.line()}"]
        ended = self.states.get("ended", 0)
        limit = self.states.get("limit", 0)
        failed = self.states.get("failed", 0)
        broken = self.states.get("broken", 0)
        out.append(
            f"  {self.conversations} conversations, {self.turns} turns: {ended} ended by the "
            f"simulator, {limit} reached the turn limit, {failed} failed (re-run to retry)"
        )
        if broken:
            out.append(
                f"  {broken} conversations where the simulator left its role (an empty message, "
                "a refusal, stepping out of character): kept, not judged; try another simulator"
            )
        if self.removed:
            out.append(f"  removed {self.removed} conversations no longer configured")
        return out


def _spec(c: Conversation, role: str, model: str, version: str, turn: int) -> CallSpec:
    messages = (
        simulator_messages(c.persona, c.pairs, turn, c.limit)
        if role == "simulator"
        else respondent_messages(c.respondent, c.pairs)
    )
    return CallSpec(
        role=role,
        model=model,
        messages=messages,
        run_index=c.run,
        prompt_version=version,
        item_id=c.item_id,
        context={"persona": c.persona.id, "respondent": c.respondent.name, "turn": turn},
    )


def simulate(
    engine: Engine, conversations: Sequence[Conversation], simulator: str
) -> list[RunSummary]:
    """Advance every conversation to its end (or its first failed turn); one engine run per
    round. Returns the rounds' summaries."""
    summaries: list[RunSummary] = []
    turn = 1
    while True:
        active = [c for c in conversations if c.state == "active"]
        if not active:
            break
        specs = [_spec(c, "simulator", simulator, SIMULATOR_VERSION, turn) for c in active]
        summary = engine.run_sync(specs, None, description=f"converse turn {turn}: simulator")
        summaries.append(summary)
        results = engine.results(summary.keys)
        for c, key in zip(active, summary.keys, strict=True):
            res = results[key]
            if res.status != "done":
                c.state = "failed"
                continue
            text, ended = split_end(res.text or "")
            if not text and ended and c.turns:  # [END] alone: the person has left
                c.state = "ended"
                continue
            if not text or out_of_role(text):
                # An empty message (e.g. a reasoning model out of tokens), [END] before the
                # person said anything, or the simulator refusing its role: not the persona.
                c.turns.append(("user", text, key))
                c.state = "broken"
                continue
            c.turns.append(("user", text, key))
            c.end_after_reply = ended
        waiting = [c for c in conversations if c.state == "active"]
        if not waiting:
            break
        specs = [
            _spec(c, "converse", c.respondent.model, RESPONDENT_VERSION, turn) for c in waiting
        ]
        summary = engine.run_sync(specs, None, description=f"converse turn {turn}: respondents")
        summaries.append(summary)
        results = engine.results(summary.keys)
        for c, key in zip(waiting, summary.keys, strict=True):
            res = results[key]
            if res.status != "done":
                c.state = "failed"
                continue
            c.turns.append(("assistant", res.text or "", key))
            if c.end_after_reply:
                c.state = "ended"
            elif c.user_turns >= c.limit:
                c.state = "limit"
        turn += 1
    return summaries


def run_conversations(
    engine: Engine,
    store: Store,
    personas: Sequence[tuple[str, Persona]],
    respondents: Sequence[Respondent],
    *,
    simulator: str,
    runs: int,
    max_turns: int,
) -> ConverseResult:
    """Simulate personas x respondents x runs, store them as conversation responses, and remove
    conversations of this stage that are no longer configured."""
    items = [(name, p, persona_item_id(name, p)) for name, p in personas]
    save_personas(store, items)
    conversations = [
        Conversation(name, p, iid, r, run, p.turn_limit(max_turns))
        for name, p, iid in items
        for r in respondents
        for run in range(runs)
    ]
    summaries = simulate(engine, conversations, simulator)
    keys = [k for s in summaries for k in s.keys]
    summary = merge_summaries(summaries, keys) if summaries else RunSummary()
    out = ConverseResult(summary=summary, conversations=len(conversations))
    records = [c.record() for c in conversations]
    for c in conversations:
        out.states[c.state] += 1
        out.turns += len(c.turns)
    current = {iid for _n, _p, iid in items}
    with store.transaction():
        store.upsert_responses(records)
        # A conversation that is not ok now has no judgment (a score of an earlier version of
        # it would be counted for a conversation that failed).
        store.delete_judgments_of([r.response_id for r in records if r.status != "ok"])
        out.removed = store.remove_stale_responses(
            list(current), [r.name for r in respondents], runs, origin=ORIGIN
        )
        out.removed += store.delete_responses(
            [rid for rid, iid in store.response_items(ORIGIN) if iid not in current]
        )
    return out


def save_personas(store: Store, items: Sequence[tuple[str, Persona, str]]) -> None:
    """The personas as items (turns: the background; source ``personas:<set>``) and the
    ``converse:personas`` sample — exactly the configured personas — whose recipe keeps each
    persona's metadata for the analysis."""
    with store.transaction():
        store.add_items(
            [([f"{p.name}: {p.background}"], f"personas:{name}", p.label) for name, p, _ in items],
            origin="persona",
            item_ids=[iid for _n, _p, iid in items],
        )
        recipe = {
            "kind": "personas",
            "sets": sorted({name for name, _p, _i in items}),
            "personas": {iid: {**p.meta(), "set": name} for name, p, iid in items},
        }
        ids = list(dict.fromkeys(i for *_x, i in items))
        if store.sample_recipe(SAMPLE) != recipe or store.sample_items(SAMPLE) != ids:
            if store.sample_recipe(SAMPLE) is not None:
                store.delete_sample(SAMPLE)
            store.save_sample(SAMPLE, ids, recipe, replace=True)


def persona_meta(store: Store) -> dict[str, dict[str, object]]:
    """item id -> what is known of a conversation's persona (label, trajectory, locale,
    language, set; for a log: its id and label), from the recipes of the samples that hold
    simulated or imported conversations."""
    out: dict[str, dict[str, object]] = {}
    for name in store.sample_names():
        recipe = store.sample_recipe(name) or {}
        if recipe.get("kind") in ("personas", "conversation-log"):
            for iid, info in recipe.get("personas", {}).items():
                out[str(iid)] = dict(info)
    return out
