"""``crisiseval run``: the sample, then every registered stage, from one experiment file.

Every step reads and writes the run store and goes through the engine's cache, so running the same
file again only does what is missing (and is a no-op when everything is done). The stages come
from the registry (:mod:`crisiseval.stages.base`); nothing here names one.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisiseval.config import StudyConfig, parse_study
from crisiseval.corpus.sample import SAMPLE_FILE_ORIGIN
from crisiseval.engine import CallSpec, Estimate, RunSummary
from crisiseval.engine.gcpolicy import bulk_work
from crisiseval.errors import ConfigError, InputError
from crisiseval.stages.base import StudyContext, registered, stage_names
from crisiseval.stages.judge import self_judges
from crisiseval.store import Store, now_iso
from crisiseval.taxonomy import normalize_label
from crisiseval.textio import load_yaml

__all__ = [
    "StudyContext",
    "StudyResult",
    "demo_config",
    "demo_inputs",
    "ensure_sample",
    "estimate_study",
    "plan_study",
    "run_study",
    "self_judges",
]


def demo_inputs(per_label: int | None = None) -> list[tuple[list[str], str]]:
    """The built-in demo inputs (our own words): (turns, intended label)."""
    text = importlib.resources.files("crisiseval.demo").joinpath("inputs.yaml").read_text("utf-8")
    data = load_yaml(text, where="crisiseval/demo/inputs.yaml")
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
    where = "crisiseval/demo/demo.yaml"
    return parse_study(load_yaml(text, where=where), source=where)


def ensure_sample(
    store: Store,
    cfg: StudyConfig,
    *,
    per_label: int | None = None,
    log: Callable[[str], None],
    rebuild: bool = False,
) -> list[str]:
    """Create the experiment's sample if it is not in the store yet; return its item ids.

    A sample built from a file or from sources is checked against its recipe (settings and the
    file's digest) on every run: inputs that changed since are an error naming the choices
    (a new ``sample.name``, or ``rebuild`` — ``--rebuild-sample`` — which keeps the old sample
    and its records under ``NAME@<time>`` and builds the sample again).
    """
    sc = cfg.sample
    if sc is None:
        if cfg.classify or cfg.respond or cfg.judge or cfg.behaviour:
            raise ConfigError(
                "the experiment has no sample: section (builtin, from_file, sources or probes)"
            )
        return []  # conversations only: personas are their own items
    if sc.builtin == "demo":
        inputs = demo_inputs(per_label)
        ids = store.add_items(
            [(turns, "crisiseval-demo", label) for turns, label in inputs], origin="demo"
        )
        store.save_sample(sc.name, ids, {"builtin": "demo", "per_label": per_label}, replace=True)
    elif sc.probes:
        ids = _probe_sample(store, cfg, rebuild=rebuild, log=log)
    else:
        changed = _recipe_change(store, cfg)
        if changed is not None:
            if not rebuild:
                raise ConfigError(
                    f"sample {sc.name!r} in this store was built from other inputs ({changed}); "
                    "give the sample a new name (sample.name), or pass --rebuild-sample to build "
                    "it again (the old sample keeps its records under another name)"
                )
            kept = f"{sc.name}@{now_iso()[:19].replace(':', '')}"
            store.rename_sample(sc.name, kept)
            log(f"sample {sc.name!r}: inputs changed ({changed}); the old one is kept as {kept!r}")
        if sc.from_file is not None:
            ids = store.sample_items(sc.name)
            if not ids:
                from crisiseval.corpus.sample import import_sample_file

                import_sample_file(
                    store, Path(sc.from_file), sc.name, max_input_chars=sc.max_input_chars
                )
                ids = store.sample_items(sc.name)
        else:
            ids = store.sample_items(sc.name) or _corpus_sample(store, cfg, log)
    if not ids:
        raise InputError(f"sample {sc.name!r} is empty: nothing to evaluate")
    log(f"sample {sc.name!r}: {len(ids)} items")
    return ids


def _probe_sample(
    store: Store, cfg: StudyConfig, *, rebuild: bool, log: Callable[[str], None]
) -> list[str]:
    """The probe suites' sample; a suite whose file changed since is handled as a changed
    sample file (an error, or ``rebuild``)."""
    from crisiseval.probes.sample import load_suites, recipe_change, save_probe_sample

    sc = cfg.sample
    assert sc is not None
    suites = load_suites(sc.probes)
    old = store.sample_recipe(sc.name)
    if old is not None:
        changed = recipe_change(old, suites)
        if changed is None:
            return store.sample_items(sc.name)
        if not rebuild:
            raise ConfigError(
                f"sample {sc.name!r} in this store was built from other inputs ({changed}); "
                "give the sample a new name (sample.name), or pass --rebuild-sample to build "
                "it again (the old sample keeps its records under another name)"
            )
        kept = f"{sc.name}@{now_iso()[:19].replace(':', '')}"
        store.rename_sample(sc.name, kept)
        log(f"sample {sc.name!r}: inputs changed ({changed}); the old one is kept as {kept!r}")
    ids = save_probe_sample(store, sc.name, suites)
    for s in suites:
        log(f"probe suite {s.name} v{s.version}: {len(s.probes)} probes, {s.pairs} pairs")
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


def _recipe_change(store: Store, cfg: StudyConfig) -> str | None:
    """What differs between the stored sample's recipe and the experiment's inputs (None: the
    sample is new or the same)."""
    sc = cfg.sample
    assert sc is not None
    old = store.sample_recipe(sc.name)
    if old is None:
        return None
    if sc.from_file is not None:
        path = Path(sc.from_file)
        if old.get("kind") != SAMPLE_FILE_ORIGIN:
            return f"it was not made from a file; now {path.name}"
        if not path.is_file():
            return None  # reading the file will say it is missing, when it is needed
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if old.get("sha256") != digest:
            return f"{path} has changed: sha256 {old.get('sha256')} then, {digest} now"
        return None
    new = _corpus_recipe(cfg)
    diff = sorted(k for k in new if old.get(k) != new[k])
    return f"settings {', '.join(diff)} differ" if diff else None


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
            max_input_chars=sc.max_input_chars,
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
class StudyResult:
    lines: list[str] = field(default_factory=list)
    estimate: Estimate | None = None
    summaries: list[RunSummary] = field(default_factory=list)


def plan_study(
    ctx: StudyContext, item_ids: Sequence[str], stages: Sequence[str] | None = None
) -> list[CallSpec]:
    """Every call the enabled stages would make (what a dry run counts and prices)."""
    return [
        spec
        for stage in registered()
        if (stages is None or stage.name in stages) and stage.enabled(ctx.cfg)
        for spec in stage.plan(ctx, item_ids)
    ]


def estimate_study(
    ctx: StudyContext, item_ids: Sequence[str], stages: Sequence[str] | None = None
) -> Estimate:
    """Dry-run cost of the study; judge prompts of answers not collected yet are sized on a
    max-length answer."""
    return ctx.engine.estimate(plan_study(ctx, item_ids, stages))


def run_study(
    ctx: StudyContext,
    *,
    stages: Sequence[str] | None = None,
    per_label: int | None = None,
    dry_run: bool = False,
    rebuild_sample: bool = False,
    log: Callable[[str], None] = print,
) -> StudyResult:
    """Sample, then every registered stage in ``stages`` (all when None) that the experiment
    enables, in the registry's order."""
    cfg = ctx.cfg
    wanted = stage_names() if stages is None else tuple(stages)
    result = StudyResult()
    # Fail on every config problem before the first call.
    # (A dry run needs no key and no network: it only counts.)
    ctx.engine.preflight(ctx.models_used(wanted), connect=not dry_run)
    item_ids = ensure_sample(ctx.store, cfg, per_label=per_label, log=log, rebuild=rebuild_sample)
    if dry_run:
        result.estimate = estimate_study(ctx, item_ids, wanted)
        if cfg.respond is not None:
            from crisiseval.analysis.power import dry_run_line

            result.lines.append(dry_run_line(len(item_ids), cfg.respond.runs))
        return result
    if cfg.respond is not None and "respond" in wanted:
        # The report compares every respondent with the first one (the baseline) by default.
        names = [r.name for r in cfg.respond.respondents]
        ctx.store.set_meta("study_respondents", json.dumps(names))
    if cfg.judge is not None and "judge" in wanted:
        # The report and `scores` use the experiment's first judge unless told otherwise.
        ctx.store.set_meta("study_judges", json.dumps(list(cfg.judge.judges)))
    for stage in registered():
        if stage.name in wanted and stage.enabled(cfg):
            with bulk_work():  # the collector runs while calls are in flight (run_sync)
                outcome = stage.run(ctx, item_ids)
            result.summaries.append(outcome.summary)
            for line in outcome.lines:
                result.lines.append(line)
                log(line)
    return result
