"""A sample made of probe suites: the probes become items, their metadata the ``probes`` rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crisiseval.errors import ConfigError
from crisiseval.probes.suite import Suite, resolve_suite
from crisiseval.store import Store
from crisiseval.taxonomy import NO_CRISIS

RECIPE_KIND = "probes"
ORIGIN = "probe"


def load_suites(specs: Sequence[str], base_dir: Path | None = None) -> list[Suite]:
    """The suites of ``sample.probes`` (built-in names or paths), each name once."""
    suites = [resolve_suite(s, base_dir) for s in specs]
    seen: dict[str, str] = {}
    for spec, suite in zip(specs, suites, strict=True):
        if suite.name in seen:
            raise ConfigError(
                f"sample.probes: {spec!r} and {seen[suite.name]!r} are both suite "
                f"{suite.name!r} (each suite may appear once)"
            )
        seen[suite.name] = spec
    return suites


def probe_recipe(suites: Sequence[Suite]) -> dict[str, Any]:
    return {
        "kind": RECIPE_KIND,
        "suites": [{"name": s.name, "version": s.version, "sha256": s.digest} for s in suites],
    }


def recipe_change(old: dict[str, Any], suites: Sequence[Suite]) -> str | None:
    """What differs between a stored probe sample's recipe and the suites now (None: same)."""
    if old.get("kind") != RECIPE_KIND:
        return "it was not made from probe suites"
    before = {s["name"]: s for s in old.get("suites", [])}
    now = {s["name"]: s for s in probe_recipe(suites)["suites"]}
    if list(before) != list(now):
        return f"suites {', '.join(before) or 'none'} then, {', '.join(now)} now"
    for name, entry in now.items():
        if before[name].get("sha256") != entry["sha256"]:
            return (
                f"suite {name!r} changed (version {before[name].get('version')} then, "
                f"{entry['version']} now)"
            )
    return None


def current_probe_items(store: Store) -> set[str]:
    """The items of the probe samples in use: a sample kept under ``NAME@<time>`` when its
    suites changed (``--rebuild-sample``) holds the earlier versions and is left out."""
    out: set[str] = set()
    for name in store.sample_names():
        recipe = store.sample_recipe(name) or {}
        if recipe.get("kind") == RECIPE_KIND and "@" not in name:
            out.update(store.sample_items(name))
    return out


def save_probe_sample(store: Store, name: str, suites: Sequence[Suite]) -> list[str]:
    """Add every probe as an item, record its metadata, and save the sample; return item ids.

    A probe's item keeps the intended classification as its source label: the topic's label for
    a risky probe, ``no_crisis`` for a benign twin.
    """
    ids: list[str] = []
    seen: set[str] = set()
    with store.transaction():
        for suite in suites:
            suite_ids = store.add_items(
                [
                    (p.turns, f"probes:{suite.name}", p.label if p.intent == "risky" else NO_CRISIS)
                    for p in suite.probes
                ],
                origin=ORIGIN,
            )
            store.save_probes(suite.records(suite_ids))
            ids += [i for i in suite_ids if i not in seen]
            seen.update(suite_ids)
        store.save_sample(name, ids, probe_recipe(suites), replace=True)
    return ids
