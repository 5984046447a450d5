"""The items of an Inspect task, read from crisiseval (no Inspect needed here).

A task's inputs come from exactly one of:

* a run store's sample (``run_dir`` + ``sample``; the sample may be omitted when the store holds
  one), each item labelled by a classifier's majority (``label_from``: a rater such as
  ``majority:gpt-4o-mini``; by default the store's only majority rater) or, when no classifier
  labelled the store or ``label_from="source"``, by its source label;
* the built-in demo inputs (``builtin="demo"``, optionally ``per_label``), labelled as written;
* probe suites (``probes``: built-in names or suite files), each probe labelled as its sample
  labels it: the topic's label for a risky probe, ``no_crisis`` for a benign twin.

With none of them the task runs the built-in demo inputs. An item without a label (a classifier
tie) stays in the dataset: its answer is collected, and the scorer leaves it unscored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError
from crisiseval.store import RaterId, Store
from crisiseval.taxonomy import NO_CRISIS, canonical_label

SOURCE = "source"
"""``label_from`` value that asks for the items' source labels."""


@dataclass(frozen=True)
class TaskItem:
    """One input of an Inspect task: the crisiseval item and the label it is judged under."""

    item_id: str
    turns: tuple[str, ...]
    label: str | None
    label_from: str | None
    """Where the label came from: a rater (``majority:NAME``), ``source``, or None."""
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The user message, as the respond stage sends it: the turns joined by newlines."""
        return "\n".join(self.turns)

    def metadata(self) -> dict[str, Any]:
        """The Inspect sample's metadata (``import-inspect`` reads it back)."""
        return {
            "item_id": self.item_id,
            "turns": list(self.turns),
            "label": self.label,
            "label_from": self.label_from,
            "source": self.source,
            **self.extra,
        }


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def task_items(
    *,
    run_dir: str | Path | None = None,
    sample: str | None = None,
    label_from: str | None = None,
    builtin: str | None = None,
    per_label: int | None = None,
    probes: str | Sequence[str] | None = None,
) -> list[TaskItem]:
    """The items of the task's arguments (see the module docstring)."""
    suites = _names(probes)
    origins = [
        name
        for name, given in (
            ("run_dir", run_dir is not None),
            ("builtin", builtin is not None),
            ("probes", bool(suites)),
        )
        if given
    ]
    if len(origins) > 1:
        raise InputError(
            f"crisis_response: give one of run_dir, builtin or probes (got {', '.join(origins)})"
        )
    if sample is not None and run_dir is None:
        raise InputError("crisis_response: sample names a sample of a run store: give run_dir too")
    if label_from is not None and run_dir is None:
        raise InputError("crisis_response: label_from chooses a run store's labels: give run_dir")
    if per_label is not None and (run_dir is not None or suites):
        raise InputError("crisis_response: per_label applies to the built-in demo inputs only")
    if run_dir is not None:
        return store_items(Path(run_dir), sample, label_from)
    if suites:
        return probe_items(suites)
    if builtin not in (None, "demo"):
        raise InputError(
            f"crisis_response: builtin={builtin!r}: the only built-in inputs are 'demo'"
        )
    return demo_items(per_label)


def demo_items(per_label: int | None = None) -> list[TaskItem]:
    """The built-in demo inputs (``per_label`` of each label; all 35 when None)."""
    from crisiseval.pipeline import demo_inputs
    from crisiseval.store.records import item_id_for

    if per_label is not None and per_label < 1:
        raise InputError(f"crisis_response: per_label={per_label}: expected 1 or more")
    return _unique(
        TaskItem(
            item_id=item_id_for(turns),
            turns=tuple(turns),
            label=label,
            label_from=SOURCE,
            source="crisiseval-demo",
        )
        for turns, label in demo_inputs(per_label)
    )


def probe_items(specs: Sequence[str]) -> list[TaskItem]:
    """Every probe of the suites (built-in names or files), labelled as a probe sample is."""
    from crisiseval.probes.sample import load_suites
    from crisiseval.store.records import item_id_for

    out: list[TaskItem] = []
    for suite in load_suites(specs):
        for p in suite.probes:
            out.append(
                TaskItem(
                    item_id=item_id_for(p.turns),
                    turns=tuple(p.turns),
                    label=p.label if p.intent == "risky" else NO_CRISIS,
                    label_from=SOURCE,
                    source=f"probes:{suite.name}",
                    extra={
                        "suite": suite.name,
                        "suite_version": suite.version,
                        "probe_id": p.id,
                        "intent": p.intent,
                        "expected": p.expected,
                        "language": p.language or suite.language,
                        "locale": p.locale,
                    },
                )
            )
    return _unique(out)


def store_items(run_dir: Path, sample: str | None, label_from: str | None) -> list[TaskItem]:
    """The items of ``sample`` in the run store of ``run_dir`` (read-only), with their labels."""
    with Store.open(run_dir, create=False, read_only=True) as store:
        names = store.sample_names()
        if sample is None:
            if len(names) != 1:
                listed = ", ".join(names) if names else "none"
                raise InputError(
                    f"{store.path}: give the sample (-T sample=NAME): the store holds {listed}"
                )
            sample = names[0]
        ids = store.sample_items(sample)
        if not ids and sample in names:
            raise InputError(f"{store.path}: sample {sample!r} is empty: nothing to evaluate")
        if not ids:
            listed = ", ".join(names) if names else "none"
            raise InputError(f"{store.path}: no sample {sample!r} (samples: {listed})")
        turns = store.item_turns(ids)
        items = store.items_frame()
        items = items[items["item_id"].isin(set(ids))]
        sources = {str(r.item_id): r.source for r in items.itertuples()}
        source_labels = {str(r.item_id): r.source_label for r in items.itertuples()}
        rater = _label_rater(store, label_from)
        labels = store.item_labels(rater) if rater is not None else {}
    out: list[TaskItem] = []
    for iid in ids:
        if rater is None:
            raw = source_labels.get(iid)
            label = canonical_label(raw) if isinstance(raw, str) else None
        else:
            label = labels.get(iid)
        source = sources.get(iid)
        out.append(
            TaskItem(
                item_id=iid,
                turns=tuple(turns[iid]),
                label=label,
                label_from=(rater or SOURCE) if label is not None else None,
                source=source if isinstance(source, str) else None,
                extra={"sample": sample},
            )
        )
    return _unique(out)


def _label_rater(store: Store, label_from: str | None) -> str | None:
    """The rater whose labels the items get (None: the items' source labels)."""
    if label_from == SOURCE:
        return None
    frame = store.labels_frame()
    raters = sorted(set(frame["rater"]))
    if label_from is not None:
        rater = str(RaterId.parse(label_from))
        if rater not in raters:
            raise InputError(
                f"{store.path}: no labels by {label_from!r} (raters: {', '.join(raters) or 'none'}"
                f"; or label_from={SOURCE} for the items' source labels)"
            )
        return rater
    majorities = sorted(set(frame.loc[frame["rater_kind"] == "majority", "rater"]))
    if len(majorities) > 1:
        raise InputError(
            f"{store.path}: several classifiers labelled this store ({', '.join(majorities)}): "
            "choose one with -T label_from=NAME"
        )
    return majorities[0] if majorities else None


def _unique(items: Any) -> list[TaskItem]:
    """Each item once, in order (Inspect sample ids must be unique)."""
    seen: set[str] = set()
    out: list[TaskItem] = []
    for item in items:
        if item.item_id not in seen:
            seen.add(item.item_id)
            out.append(item)
    return out
