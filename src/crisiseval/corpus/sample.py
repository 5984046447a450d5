"""Seeded, reproducible samples of corpus items, and import of the study's sample files.

Sampling is deterministic: the same items and seed give the same ids in the same order,
whatever the iteration order of the mapping passed in. Each stratum (a source, or a label) is
drawn with its own random generator seeded from ``(seed, stratum)``, so adding a new source
does not change the draw of the others. Strata come out in a fixed order (the study's label
order for labels, then alphabetical); within a stratum, in the order drawn.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisiseval.config import MAX_INPUT_CHARS
from crisiseval.corpus.preprocess import check_input_size
from crisiseval.errors import ConfigError, InputError
from crisiseval.store import Store
from crisiseval.taxonomy.labels import LABELS, normalize_optional_label
from crisiseval.textio import read_json

SAMPLE_FILE_ORIGIN = "sample-file"
NO_SOURCE = ""
"""The stratum of items without a source."""


def _pairs(
    mapping: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
) -> list[tuple[str, str | None]]:
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    return [(str(k), v) for k, v in items]


def _rng(seed: int, stratum: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1f{stratum}".encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _check_n(n: int) -> None:
    if n < 1:
        raise ConfigError(f"sample size per stratum must be at least 1, got {n}")


def _stratum_order(stratum: str) -> tuple[int, str]:
    return (LABELS.index(stratum), "") if stratum in LABELS else (len(LABELS), stratum)


def sample_strata(strata: Mapping[str, Iterable[str]], n: int, seed: int) -> list[str]:
    """Up to ``n`` ids from each stratum (all of a smaller one), seeded per stratum."""
    _check_n(n)
    out: list[str] = []
    for stratum in sorted(strata, key=_stratum_order):
        ids = sorted(set(strata[stratum]))
        out.extend(_rng(seed, stratum).sample(ids, min(n, len(ids))))
    return out


def _group(pairs: list[tuple[str, str | None]], *, keep_none: bool) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    key_of: dict[str, str | None] = {}
    for item_id, key in pairs:
        if key_of.setdefault(item_id, key) != key:
            raise ValueError(
                f"item {item_id} is given in two strata ({key_of[item_id]!r} and {key!r})"
            )
        if key is None and not keep_none:
            continue
        groups.setdefault(key if key is not None else NO_SOURCE, set()).add(item_id)
    return groups


def sample_per_source(
    item_sources: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
    n: int,
    seed: int,
) -> list[str]:
    """``n`` items per source (all of a source with fewer), given item id -> source."""
    return sample_strata(_group(_pairs(item_sources), keep_none=True), n, seed)


def sample_stratified(
    item_labels: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
    n: int,
    seed: int,
) -> list[str]:
    """``n`` items per label (all of a label with fewer), given item id -> label.

    Items whose label is None (no label, or a tie) are not sampled.
    """
    return sample_strata(_group(_pairs(item_labels), keep_none=False), n, seed)


def save_per_source_sample(
    store: Store,
    name: str,
    n: int,
    seed: int,
    *,
    sources: Iterable[str] | None = None,
    origin: str | None = "corpus",
    replace: bool = False,
) -> list[str]:
    """Draw ``n`` items per source from the store's items and save them as sample ``name``."""
    frame = store.items_frame()
    if origin is not None:
        frame = frame[frame["origin"] == origin]
    wanted = sorted(set(sources)) if sources is not None else None
    if wanted is not None:
        frame = frame[frame["source"].isin(wanted)]
    pairs = [
        (str(iid), None if src is None or src != src else str(src))
        for iid, src in zip(frame["item_id"], frame["source"], strict=True)
    ]
    ids = sample_per_source(pairs, n, seed)
    if not ids:
        raise InputError(
            f"{store.path}: no items to sample (origin {origin!r}, sources {wanted or 'all'}); "
            "build the corpus first"
        )
    recipe = {"kind": "per_source", "n": n, "seed": seed, "sources": wanted, "origin": origin}
    store.save_sample(name, ids, recipe, replace=replace)
    return ids


def save_stratified_sample(
    store: Store,
    name: str,
    item_labels: Mapping[str, str | None],
    n: int,
    seed: int,
    *,
    label_source: str = "",
    replace: bool = False,
) -> list[str]:
    """Draw ``n`` items per label and save them as sample ``name``."""
    ids = sample_stratified(item_labels, n, seed)
    if not ids:
        raise InputError(f"{store.path}: no labelled items to sample for {name!r}")
    recipe = {"kind": "stratified", "n": n, "seed": seed, "labels_from": label_source}
    store.save_sample(name, ids, recipe, replace=replace)
    return ids


# ---------------------------------------------------------------------------------- files
@dataclass(frozen=True)
class SampleFileImport:
    """The result of :func:`import_sample_file`."""

    name: str
    records: int
    item_ids: list[str]

    @property
    def duplicates(self) -> int:
        """Records whose turns repeat an earlier record's (the study's files have a few)."""
        return self.records - len(self.item_ids)


def parse_inputs(value: Any, *, where: str) -> list[str]:
    """A record's ``inputs`` as a list of turns.

    Accepts a list of strings, a Python-repr string of such a list, or a ``" | "``-joined
    string (a plain string without ``" | "`` is one turn).
    """
    turns: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                turns = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise InputError(
                    f"{where}: looks like a list but cannot be parsed as one"
                ) from None
        else:
            turns = value.split(" | ")
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise InputError(
            f"{where}: expected a list of turns (strings), a Python-repr list or a ' | '-joined "
            f"string, got {type(value).__name__}"
        )
    if not turns or not all(t.strip() for t in turns):
        raise InputError(f"{where}: expected at least one turn and no empty turns")
    return turns


def _read_json_list(path: Path) -> list[Any]:
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(
            f"{path}: expected a JSON list of records with an 'inputs' field, got "
            f"{type(data).__name__}"
        )
    return data


def import_sample_file(
    store: Store,
    path: Path | str,
    name: str,
    *,
    replace: bool = False,
    max_input_chars: int = MAX_INPUT_CHARS,
) -> SampleFileImport:
    """Add the items of a sample file to the store and save them as sample ``name``.

    The file is a JSON list of records ``{"inputs": [...], "label": ..., "dataset_id": ...}``
    (the study's released layout). ``inputs`` is required; ``label`` (any known spelling;
    ``""``/null/NaN = none) and ``dataset_id`` (the item's source) are optional. Items are
    identified by their turns: a record repeating earlier turns adds nothing new, and the
    sample keeps the first occurrence's position. An input longer than ``max_input_chars``
    (all its turns; the experiment file's ``sample.max_input_chars``) is an InputError naming
    the record. Every record is checked before anything is written, and the items and the
    sample are written together or not at all.
    """
    path = Path(path)
    records = _read_json_list(path)
    if not records:
        raise InputError(f"{path}: the sample is empty (expected at least one record)")
    rows: list[tuple[list[str], str | None, str | None]] = []
    for index, record in enumerate(records):
        where = f"{path}: record [{index}]"
        if not isinstance(record, dict):
            raise InputError(
                f"{where}: expected an object with field 'inputs', got {type(record).__name__}"
            )
        if "inputs" not in record:
            raise InputError(f"{where}: no field 'inputs' (expected a list of turns)")
        turns = parse_inputs(record["inputs"], where=f"{where}, field 'inputs'")
        check_input_size(turns, limit=max_input_chars, where=f"{where}, field 'inputs'")
        label = normalize_optional_label(record.get("label"), where=f"{where}, field 'label'")
        source = record.get("dataset_id")
        if source is not None and not isinstance(source, str):
            raise InputError(
                f"{where}, field 'dataset_id': expected a string, got {type(source).__name__}"
            )
        rows.append((turns, source or None, label))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    with store.transaction():
        ids = store.add_items(rows, origin=SAMPLE_FILE_ORIGIN)
        unique = list(dict.fromkeys(ids))
        recipe = {
            "kind": SAMPLE_FILE_ORIGIN,
            "file": path.name,
            "sha256": digest,
            "records": len(records),
            "unique_items": len(unique),
        }
        store.save_sample(name, unique, recipe, replace=replace)
    return SampleFileImport(name=name, records=len(records), item_ids=unique)
