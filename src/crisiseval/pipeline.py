"""``crisiseval run``: sample -> classify -> respond -> judge from one experiment file.

Every step reads and writes the run store and goes through the engine's cache, so running the same
file again only does what is missing (and is a no-op when everything is done).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crisiseval.config import StudyConfig, endpoint_identity, parse_study
from crisiseval.engine import CallSpec, Engine, Estimate
from crisiseval.engine.cells import max_tokens_of
from crisiseval.errors import ConfigError, InputError
from crisiseval.stages import classify, judge, respond
from crisiseval.store import Store
from crisiseval.taxonomy import Rubric, Taxonomy, load_rubric, load_taxonomy, normalize_label

STAGES = ("sample", "classify", "respond", "judge")


def demo_inputs(per_label: int | None = None) -> list[tuple[list[str], str]]:
    """The built-in demo inputs (our own words): (turns, intended label)."""
    text = importlib.resources.files("crisiseval.demo").joinpath("inputs.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    out: list[tuple[list[str], str]] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(data["items"]):
        label = normalize_label(rec["label"], where=f"demo/inputs.yaml: items[{i}].label")
        if per_label is not None and seen.get(label, 0) >= per_label:
            continue
        seen[label] = seen.get(label, 0) + 1
        out.append(([str(t) for t in rec["turns"]], label))
    return out


def demo_config() -> StudyConfig:
    text = importlib.resources.files("crisiseval.demo").joinpath("demo.yaml").read_text("utf-8")
    return parse_study(yaml.safe_load(text), source="crisiseval/demo/demo.yaml")


def ensure_sample(
    store: Store, cfg: StudyConfig, *, per_label: int | None = None, log: Callable[[str], None]
) -> list[str]:
    """Create the experiment's sample if it is not in the store yet; return its item ids."""
    sc = cfg.sample
    if sc is None:
        raise ConfigError("the experiment has no sample: section (builtin, from_file or sources)")
    if sc.builtin == "demo":
        inputs = demo_inputs(per_label)
        ids = store.add_items(
            [(turns, "crisiseval-demo", label) for turns, label in inputs], origin="demo"
        )
        store.save_sample(sc.name, ids, {"builtin": "demo", "per_label": per_label}, replace=True)
    elif sc.from_file is not None:
        existing = store.sample_items(sc.name)
        if existing:
            ids = existing
        else:
            from crisiseval.corpus.sample import import_sample_file

            import_sample_file(store, Path(sc.from_file), sc.name)
            ids = store.sample_items(sc.name)
    else:
        _check_recipe(store, cfg)
        ids = store.sample_items(sc.name) or _corpus_sample(store, cfg, log)
    if not ids:
        raise InputError(f"sample {sc.name!r} is empty: nothing to evaluate")
    log(f"sample {sc.name!r}: {len(ids)} items")
    return ids


def _corpus_recipe(cfg: StudyConfig) -> dict[str, Any]:
    sc = cfg.sample
    assert sc is not None
    return {
        "kind": "per_source",
        "sources": [s.id for s in sc.sources],
        "n_per_source": sc.n_per_source,
        "seed": sc.seed,
        "split_style": sc.split_style,
        "max_turns": sc.max_turns,
    }


def _check_recipe(store: Store, cfg: StudyConfig) -> None:
    """A sample built from sources keeps its recipe; a changed recipe needs a new name."""
    sc = cfg.sample
    assert sc is not None
    row = store.conn.execute("SELECT recipe FROM sample_meta WHERE name = ?", (sc.name,)).fetchone()
    if row is None:
        return
    old, new = json.loads(row[0]), _corpus_recipe(cfg)
    diff = sorted(k for k in new if old.get(k) != new[k])
    if diff:
        raise ConfigError(
            f"sample {sc.name!r} in this store was built with other settings ({', '.join(diff)}); "
            "give the sample a new name (sample.name) to build it again"
        )


def _corpus_sample(store: Store, cfg: StudyConfig, log: Callable[[str], None]) -> list[str]:
    """Build the corpus from the configured sources, then draw n items per source (seeded)
    from exactly the items this build kept."""
    from crisiseval.corpus import build_corpus, sample_per_source

    sc = cfg.sample
    assert sc is not None
    kept: list[tuple[str, str]] = []
    with store.transaction():  # a source in the wrong schema leaves the store as it was
        stats = build_corpus(
            store,
            [(s.id, Path(s.path) if s.path else None) for s in sc.sources],
            style=sc.split_style,
            max_turns=sc.max_turns,
            kept=kept,
        )
        n = sc.n_per_source or max(1, len(kept))
        ids = sample_per_source(kept, n, sc.seed)
        if not ids:
            raise InputError(f"sample {sc.name!r}: the sources kept no item to sample")
        store.save_sample(sc.name, ids, _corpus_recipe(cfg))
    for row in stats.rows():
        log("corpus " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return ids


@dataclass
class StudyContext:
    cfg: StudyConfig
    store: Store
    engine: Engine
    taxonomy: Taxonomy
    rubric: Rubric

    @classmethod
    def open(cls, cfg: StudyConfig, run_dir: Path, *, progress: bool | None = None) -> StudyContext:
        taxonomy = load_taxonomy(Path(cfg.taxonomy) if cfg.taxonomy else None)
        rubric = load_rubric(Path(cfg.judge.rubric) if cfg.judge and cfg.judge.rubric else None)
        store = Store.open(run_dir)
        engine = Engine(store, cfg.models, prices=cfg.prices, progress=progress)
        return cls(cfg, store, engine, taxonomy, rubric)

    def label_rater(self) -> str:
        c = self.cfg.classify
        if c is None:
            raise ConfigError("judge needs item labels: add a classify: section")
        return f"majority:{c.majority_of or c.models[0]}"

    def models_used(self, stages: Sequence[str]) -> list[str]:
        names: list[str] = []
        if "classify" in stages and self.cfg.classify:
            names += self.cfg.classify.models
        if "respond" in stages and self.cfg.respond:
            names += [r.model for r in self.cfg.respond.respondents]
        if "judge" in stages and self.cfg.judge:
            names += self.cfg.judge.judges
        return list(dict.fromkeys(names))


@dataclass
class StudyResult:
    lines: list[str] = field(default_factory=list)
    estimate: Estimate | None = None


def estimate_study(ctx: StudyContext, item_ids: Sequence[str]) -> Estimate:
    """Dry-run cost of the whole study; judge prompts are sized on a max-length answer."""
    cfg = ctx.cfg
    specs: list[CallSpec] = []
    if cfg.classify:
        specs += classify.make_specs(
            ctx.store, ctx.taxonomy, item_ids, cfg.classify.models, cfg.classify.runs
        )
    if cfg.respond:
        specs += respond.make_specs(ctx.store, item_ids, cfg.respond.respondents, cfg.respond.runs)
    if cfg.judge and cfg.respond:
        turns = ctx.store.item_turns(item_ids)
        for r in cfg.respond.respondents:
            max_out = max_tokens_of(cfg.models[r.model].params)
            fake_answer = "x" * (4 * max_out)
            for iid in item_ids:
                msgs = judge.build_messages(
                    ctx.taxonomy, ctx.rubric, "suicidal_ideation", turns[iid], fake_answer
                )
                for _ in range(cfg.respond.runs):
                    for j in cfg.judge.judges:
                        for run in range(cfg.judge.runs):
                            specs.append(
                                CallSpec(role="judge", model=j, messages=msgs, run_index=run)
                            )
    return ctx.engine.estimate(specs)


def run_study(
    ctx: StudyContext,
    *,
    stages: Sequence[str] = STAGES,
    per_label: int | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
) -> StudyResult:
    cfg = ctx.cfg
    result = StudyResult()
    # Fail on every config problem before the first call.
    # (A dry run needs no key and no network: it only counts.)
    ctx.engine.preflight(ctx.models_used(stages), connect=not dry_run)
    item_ids = ensure_sample(ctx.store, cfg, per_label=per_label, log=log)
    if dry_run:
        result.estimate = estimate_study(ctx, item_ids)
        return result
    if "classify" in stages and cfg.classify:
        r = classify.run_classify(
            ctx.store, ctx.engine, ctx.taxonomy, item_ids, cfg.classify.models, cfg.classify.runs
        )
        _emit(r.lines(), result, log)
    if "respond" in stages and cfg.respond:
        rr = respond.run_respond(
            ctx.store, ctx.engine, item_ids, cfg.respond.respondents, cfg.respond.runs
        )
        _emit(rr.lines(), result, log)
    if "judge" in stages and cfg.judge:
        jr = judge.run_judge(
            ctx.store,
            ctx.engine,
            ctx.taxonomy,
            ctx.rubric,
            item_ids,
            cfg.judge.judges,
            cfg.judge.runs,
            label_rater=ctx.label_rater(),
            respondents=[r.name for r in cfg.respond.respondents] if cfg.respond else None,
            response_runs=cfg.respond.runs if cfg.respond else None,
            self_judges=self_judges(cfg),
        )
        _emit(jr.lines(), result, log)
    return result


def self_judges(cfg: StudyConfig) -> list[str]:
    """Judges that are also respondents: the same endpoint and model, whatever the names."""
    if cfg.judge is None or cfg.respond is None:
        return []
    answering = {endpoint_identity(cfg.models[r.model]) for r in cfg.respond.respondents}
    return [j for j in cfg.judge.judges if endpoint_identity(cfg.models[j]) in answering]


def _emit(lines: list[str], result: StudyResult, log: Callable[[str], None]) -> None:
    for line in lines:
        result.lines.append(line)
        log(line)
