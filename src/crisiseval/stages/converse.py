"""Stages ``converse`` (simulate multi-turn conversations) and ``converse-judge`` (judge them).

``converse`` runs personas x respondents x runs (:mod:`crisiseval.conversations.simulate`);
``converse-judge`` scores every finished conversation of the configured personas and
respondents with the conversation judge (:mod:`crisiseval.conversations.judging`), under the
rubric of the persona's label. Neither reads the experiment's sample: personas are their own
items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crisiseval.config import StudyConfig
from crisiseval.conversations.judging import ORIGIN as JUDGE_ORIGIN
from crisiseval.conversations.judging import judge_conversations
from crisiseval.conversations.judging import make_specs as judge_specs
from crisiseval.conversations.personas import Persona, resolve_personas, select
from crisiseval.conversations.simulate import (
    RESPONDENT_VERSION,
    SIMULATOR_VERSION,
    persona_item_id,
    run_conversations,
)
from crisiseval.engine import CallSpec
from crisiseval.engine.cells import max_tokens_of
from crisiseval.stages.base import StageOutcome, StudyContext, register_stage
from crisiseval.store import TurnRecord, record_run, response_id_for


def configured_personas(cfg: StudyConfig) -> list[tuple[str, Persona]]:
    c = cfg.converse
    assert c is not None
    sets = [resolve_personas(spec, Path.cwd()) for spec in c.personas]
    return select(sets, c.ids)


@register_stage
class ConverseStage:
    name = "converse"
    needs: tuple[str, ...] = ()

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.converse is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        if cfg.converse is None:
            return []
        return [cfg.converse.simulator, *(r.model for r in cfg.conversation_respondents())]

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        """Every turn of every conversation at its longest, with max-length messages (an upper
        bound: a simulator may end a conversation early)."""
        cfg = ctx.cfg
        c = cfg.converse
        assert c is not None
        user_filler = "x" * (4 * max_tokens_of(cfg.models[c.simulator].params))
        specs: list[CallSpec] = []
        for set_name, persona in configured_personas(cfg):
            iid = persona_item_id(set_name, persona)
            limit = persona.turn_limit(c.max_turns)
            for r in cfg.conversation_respondents():
                answer = "x" * (4 * max_tokens_of(cfg.models[r.model].params))
                for run in range(c.runs):
                    history: list[dict[str, str]] = []
                    for _turn in range(limit):
                        sim = [{"role": "system", "content": persona.background * 3}, *history]
                        specs.append(
                            CallSpec(
                                role="simulator",
                                model=c.simulator,
                                messages=sim,
                                run_index=run,
                                prompt_version=SIMULATOR_VERSION,
                                item_id=iid,
                            )
                        )
                        history = [*history, {"role": "user", "content": user_filler}]
                        sys = (
                            [{"role": "system", "content": r.system_prompt}]
                            if r.system_prompt
                            else []
                        )
                        specs.append(
                            CallSpec(
                                role="converse",
                                model=r.model,
                                messages=[*sys, *history],
                                run_index=run,
                                prompt_version=RESPONDENT_VERSION,
                                item_id=iid,
                            )
                        )
                        history = [*history, {"role": "assistant", "content": answer}]
        return specs

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        cfg = ctx.cfg
        c = cfg.converse
        assert c is not None
        out = run_conversations(
            ctx.engine,
            ctx.store,
            configured_personas(cfg),
            cfg.conversation_respondents(),
            simulator=c.simulator,
            runs=c.runs,
            max_turns=c.max_turns,
        )
        return StageOutcome(out.summary, out.lines())


@register_stage
class ConverseJudgeStage:
    name = "converse-judge"
    needs: tuple[str, ...] = ("converse",)

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.converse is not None and bool(cfg.conversation_judges()[0])

    def models(self, cfg: StudyConfig) -> list[str]:
        return cfg.conversation_judges()[0]

    def _conversations(self, ctx: StudyContext) -> list[tuple[str, str, str]]:
        cfg = ctx.cfg
        c = cfg.converse
        assert c is not None
        wanted = {
            response_id_for(persona_item_id(name, p), r.name, record_run(run)): p.label
            for name, p in configured_personas(cfg)
            for r in cfg.conversation_respondents()
            for run in range(c.runs)
        }
        return [
            (rid, iid, wanted[rid])
            for rid, iid, _text, _who, _run in ctx.store.ok_responses(kind="conversation")
            if rid in wanted
        ]

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        """The judge calls of every configured conversation at its longest (an upper bound)."""
        cfg = ctx.cfg
        c = cfg.converse
        assert c is not None
        judges, runs = cfg.conversation_judges()
        planned: list[tuple[str, str, str, list[TurnRecord]]] = []
        for name, p in configured_personas(cfg):
            iid = persona_item_id(name, p)
            limit = p.turn_limit(c.max_turns)
            for r in cfg.conversation_respondents():
                answer = "x" * (4 * max_tokens_of(cfg.models[r.model].params))
                turns = [
                    TurnRecord(index=i, role=role, text=text)
                    for i, (role, text) in enumerate(
                        [("user", "x" * 400), ("assistant", answer)] * limit
                    )
                ]
                for run in range(c.runs):
                    rid = response_id_for(iid, r.name, record_run(run))
                    planned.append((rid, iid, p.label, turns))
        return [
            s for s, _n in judge_specs(ctx.engine, ctx.taxonomy, ctx.rubric, planned, judges, runs)
        ]

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        judges, runs = ctx.cfg.conversation_judges()
        out = judge_conversations(
            ctx.engine,
            ctx.store,
            ctx.taxonomy,
            ctx.rubric,
            self._conversations(ctx),
            judges,
            runs,
            origin=JUDGE_ORIGIN,
        )
        return StageOutcome(out.summary, out.lines())
