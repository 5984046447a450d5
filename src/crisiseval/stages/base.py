"""What a stage is, and the registry that ``run``, ``--dry-run``, ``status`` and the CLI loop over.

A stage reads what it needs from the run store, asks the engine for its calls and writes records
back; it never calls another stage. It declares:

* ``name`` and ``needs`` (the stages whose records it reads: ``judge`` needs labels and answers);
* ``enabled(cfg)``: whether the experiment file configures it;
* ``models(cfg)``: the models it calls (checked before the first call of a run);
* ``plan(ctx, items)``: the calls it would make — what a dry run counts and prices;
* ``run(ctx, items)``: make the calls (resumably) and collect the records; returns a
  :class:`StageOutcome` (the calls' summary and printable lines).

Adding a stage is one module with a class and ``@register_stage``; nothing else is edited.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from crisiseval.config import StudyConfig
from crisiseval.engine import CallSpec, EndpointFactory, Engine, RunSummary
from crisiseval.engine.cells import max_tokens_of
from crisiseval.engine.progress import ProgressMode
from crisiseval.errors import ConfigError
from crisiseval.store import RaterId, Store
from crisiseval.taxonomy import Rubric, Taxonomy, load_rubric, load_taxonomy


@dataclass
class StudyContext:
    """Everything a stage may use: the experiment, the store, the engine, taxonomy and rubric."""

    cfg: StudyConfig
    store: Store
    engine: Engine
    taxonomy: Taxonomy
    rubric: Rubric

    @classmethod
    def open(
        cls,
        cfg: StudyConfig,
        run_dir: Path,
        *,
        progress: bool | ProgressMode | None = None,
        endpoint_factory: EndpointFactory | None = None,
    ) -> StudyContext:
        taxonomy = load_taxonomy(Path(cfg.taxonomy) if cfg.taxonomy else None)
        rubric = load_rubric(Path(cfg.judge.rubric) if cfg.judge and cfg.judge.rubric else None)
        missing = rubric.missing_for(taxonomy.names)
        if cfg.judge is not None and missing:
            raise ConfigError(
                f"rubric {rubric.name!r} has no levels for label(s) {', '.join(missing)} of "
                f"taxonomy {taxonomy.name!r}: every label the classifier can give must have a "
                "rubric (judge.rubric)"
            )
        store = Store.open(run_dir)
        engine = Engine(
            store,
            cfg.models,
            prices=cfg.prices,
            progress=progress,
            endpoint_factory=endpoint_factory,
        )
        return cls(cfg, store, engine, taxonomy, rubric)

    def label_rater(self) -> str:
        c = self.cfg.classify
        if c is None:
            raise ConfigError("judge needs item labels: add a classify: section")
        return str(RaterId.majority(c.majority_of or c.models[0]))

    def models_used(self, stages: Sequence[str]) -> list[str]:
        names: list[str] = []
        for stage in registered():
            if stage.name in stages and stage.enabled(self.cfg):
                names += stage.models(self.cfg)
        return list(dict.fromkeys(names))


@runtime_checkable
class Stage(Protocol):
    name: str
    needs: tuple[str, ...]

    def enabled(self, cfg: StudyConfig) -> bool: ...

    def models(self, cfg: StudyConfig) -> list[str]: ...

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]: ...

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome: ...


@dataclass
class StageOutcome:
    """What a stage's run reports: the engine's summary of its calls, and lines to print."""

    summary: RunSummary
    lines: list[str]


_REGISTRY: dict[str, Stage] = {}

S = TypeVar("S")


def register_stage(cls: type[S]) -> type[S]:
    """Class decorator: register one instance of a stage class, in definition order."""
    stage = cls()
    if not isinstance(stage, Stage):
        raise TypeError(f"{cls.__name__} does not implement the Stage protocol")
    if stage.name in _REGISTRY or stage.name == "sample":
        raise ValueError(f"a stage named {stage.name!r} is registered already")
    _REGISTRY[stage.name] = stage
    return cls


def unregister_stage(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> Iterator[Stage]:
    """The registered stages in the order they run: after the stages they need, otherwise in
    registration order."""
    _load_builtin()
    done: dict[str, Stage] = {}
    pending = list(_REGISTRY.values())
    while pending:
        ready = [s for s in pending if all(n in done or n not in _REGISTRY for n in s.needs)]
        if not ready:
            raise ValueError(
                "stages need each other in a cycle: " + ", ".join(s.name for s in pending)
            )
        done[ready[0].name] = ready[0]
        pending.remove(ready[0])
    yield from done.values()


def stage_names() -> tuple[str, ...]:
    """``sample`` (always first) and every registered stage."""
    return ("sample", *(s.name for s in registered()))


def _load_builtin() -> None:
    # Importing the built-in stage modules registers them, in this order.
    for module in ("classify", "respond", "judge", "behaviour", "converse"):
        importlib.import_module(f"crisiseval.stages.{module}")


Log = Callable[[str], None]


def planned_answers(ctx: StudyContext, item_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(response_id, item_id, text) of every answer the experiment will have: the stored one,
    or a max-length stand-in for one not collected yet (what a dry run of a stage that reads
    answers counts: an upper bound)."""
    cfg = ctx.cfg
    if cfg.respond is None:
        return []
    have = {(iid, who, run): (rid, text) for rid, iid, text, who, run in ctx.store.ok_responses()}
    answers: list[tuple[str, str, str]] = []
    for r in cfg.respond.respondents:
        filler = "x" * (4 * max_tokens_of(cfg.models[r.model].params))
        for iid in item_ids:
            for run in range(1, cfg.respond.runs + 1):
                rid, text = have.get((iid, r.name, run), (f"planned:{r.name}:{iid}:{run}", filler))
                answers.append((rid, iid, text))
    return answers
