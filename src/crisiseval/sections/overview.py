"""The report's appendix: what the run store holds, and every record that is not ok."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crisiseval import __version__
from crisiseval.sections._format import int_col, text_col
from crisiseval.sections._model import Table, make_table

if TYPE_CHECKING:
    from crisiseval.store import Store

__all__ = ["Overview", "overview"]

_RECORDS = ("labels", "responses", "judgments", "cells")
"""The record kinds of :meth:`Store.status_counts`, in the order problems are listed."""


@dataclass(frozen=True)
class Overview:
    """What the run store holds (the report's appendix). Never holds a config or a key."""

    generated_at: str
    version: str
    store: str
    created_at: str
    counts: list[tuple[str, int]]
    samples: list[tuple[str, int]]
    problems: list[str]
    status: Table


def overview(store: Store) -> Overview:
    """Counts of every record kind, and of every non-ok status (unparsed, failed, ties...)."""
    counts = store.counts()
    created = store.meta_value("created_at")
    data = store.status_counts().sort_values(["record", "group", "status"], kind="mergesort")
    problems: list[str] = []
    for record in _RECORDS:
        bad = data[
            (data["record"] == record) & (data["status"] != "ok") & (data["status"] != "done")
        ]
        if bad.empty:
            continue
        parts = [f"{int(r['n'])} {r['status']} ({r['group']})" for _, r in bad.iterrows()]
        problems.append(f"{record}: " + ", ".join(parts))
    status = make_table(
        "run_contents",
        "Records by status",
        data,
        [
            ("record", text_col("record"), False),
            ("group (kind / respondent / role)", text_col("group"), False),
            ("status", text_col("status"), False),
            ("n", int_col("n"), True),
        ],
        note="Every record is counted here, whatever its status: unparsed and failed model "
        "outputs are kept in the store and reported, never dropped silently.",
    )
    samples = [(name, len(store.sample_items(name))) for name in store.sample_names()]
    return Overview(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        store=str(store.path),
        created_at=created if created is not None else "",
        counts=[(k, counts[k]) for k in ("items", "labels", "responses", "judgments", "cells")],
        samples=samples,
        problems=problems,
        status=status,
    )
