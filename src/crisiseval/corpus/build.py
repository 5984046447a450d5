"""Build the corpus: source adapters -> preprocessing -> the run store's ``items`` table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crisiseval.config import MAX_INPUT_CHARS
from crisiseval.corpus.preprocess import (
    MAX_TURNS,
    CorpusItem,
    CorpusStats,
    Preprocessor,
    SplitStyle,
    check_input_size,
)
from crisiseval.corpus.sources import ReadCounts, SourceAdapter, get_source
from crisiseval.errors import InputError
from crisiseval.store import Store

SourceSpec = tuple[str, Path | str | None]
"""``(source id, local override path or None for the hub)``; the id may also be a hub id or a
``hugg_*`` id of the study's files."""

ORIGIN = "corpus"


def resolve_specs(source_specs: Sequence[SourceSpec]) -> list[tuple[SourceAdapter, Path | None]]:
    """Check every spec before reading anything: known source, existing override path."""
    if not source_specs:
        raise InputError("no corpus sources given (expected at least one source id)")
    resolved: list[tuple[SourceAdapter, Path | None]] = []
    for source_id, raw_path in source_specs:
        adapter = get_source(source_id)
        path = Path(raw_path) if raw_path is not None else None
        if path is not None and not path.exists():
            raise InputError(f"{path}: no such file or directory (override for source {source_id})")
        resolved.append((adapter, path))
    return resolved


def build_corpus(
    store: Store,
    source_specs: Sequence[SourceSpec],
    *,
    max_turns: int = MAX_TURNS,
    style: SplitStyle = "grouped",
    max_input_chars: int = MAX_INPUT_CHARS,
    batch_size: int = 5000,
    kept: list[tuple[str, str]] | None = None,
) -> CorpusStats:
    """Read each source in order, preprocess, and add the kept items to ``store``.

    Dedup spans all sources of this call, in the order given (the first source wins). Items
    are written with ``origin="corpus"``, their source id and their source label (or None).
    A kept item longer than ``max_input_chars`` (all its cleaned turns; the experiment file's
    ``sample.max_input_chars``) is an InputError naming the file and record, and the build is
    all or nothing: on any error no item of this call is left in the store (it runs in one
    transaction, or joins the caller's). Returns the per-source, per-step counts; ``kept``,
    when given, receives (item id, source) of every item this build kept, so a sample can be
    drawn from exactly this build.
    """
    if max_input_chars < 1:
        raise ValueError(f"max_input_chars must be at least 1, got {max_input_chars}")
    resolved = resolve_specs(source_specs)
    stats = CorpusStats()
    pre = Preprocessor(
        max_turns=max_turns,
        style=style,
        extra_splits={a.source_id: a.extra_split for a, _ in resolved if a.extra_split},
        stats=stats,
    )
    with store.transaction():
        for adapter, path in resolved:
            counts = ReadCounts()
            stats.source(adapter.source_id)
            batch: list[CorpusItem] = []
            for where, doc in adapter.located_documents(path, counts=counts):
                item = pre.process(doc)
                if item is None:
                    continue
                check_input_size(item.turns, limit=max_input_chars, where=where)
                batch.append(item)
                if kept is not None:
                    kept.append((item.item_id, item.source))
                if len(batch) >= batch_size:
                    _flush(store, batch)
            _flush(store, batch)
            stats.source(adapter.source_id).add_read_counts(counts)
    return stats


def _flush(store: Store, batch: list[CorpusItem]) -> None:
    if batch:
        store.add_items(((it.turns, it.source, it.label) for it in batch), origin=ORIGIN)
        batch.clear()
