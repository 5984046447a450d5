"""Matching records to the items of a sample, and answers to known responses.

Items are identified by their turns (the released files carry no id). ``inputs`` comes in three
encodings: a list of turns, a Python-repr string of that list (``sampled_lowest_scores_*``) and a
``" | "``-joined string (``H{1,2}_scores_*``); :func:`turns_of` and :meth:`Sample.resolve`
normalise them, falling back to whitespace-insensitive ("loose") matching. Answers are matched by
their whitespace-normalised text, then by a near-exact match (:func:`near_match`) for spreadsheet
damage.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crisiseval.errors import InputError
from crisiseval.store import item_id_for

Turns = tuple[str, ...]

FUZZY_MIN_RATIO = 0.98
"""Least :class:`difflib.SequenceMatcher` ratio for an answer to match a known one near-exactly."""

Fallback = Callable[[int, set[str]], str | None]
"""Places record ``i`` that matched no item by other means, given the item ids already claimed."""


def occurrence_item_id(turns: Sequence[str], occurrence: int) -> str:
    """Id of the ``occurrence``-th record (1-based) with these turns within one sample.

    The first occurrence is the ordinary :func:`~crisiseval.store.item_id_for`; later ones hash
    the turns together with the occurrence number.
    """
    if occurrence <= 1:
        return item_id_for(turns)
    blob = json.dumps({"turns": list(turns), "occurrence": occurrence}, ensure_ascii=False)
    return "it_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def norm_text(text: str) -> str:
    """Whitespace-normalised text (runs of whitespace -> one space, stripped)."""
    return " ".join(text.split())


def preview(value: object) -> str:
    """A short repr of a value for an error message."""
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def turns_of(value: object, where: str) -> Turns | str:
    """``inputs`` as turns; a string that is not a Python list repr is returned as is (joined)."""
    if isinstance(value, list):
        if all(isinstance(t, str) for t in value):
            return tuple(value)
        raise InputError(f"{where}: `inputs` must be a list of strings")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                parsed = None
            if isinstance(parsed, list) and all(isinstance(t, str) for t in parsed):
                return tuple(parsed)
        return value
    raise InputError(
        f"{where}: `inputs` must be a list of turns or a string, got {type(value).__name__}"
    )


def _loose(turns: Sequence[str]) -> Turns:
    return tuple(norm_text(t) for t in turns)


def near_match(norm: str, known: Mapping[str, str]) -> tuple[float, str] | None:
    """(ratio, value) of the one known text that ``norm`` matches near-exactly, else None.

    ``known`` maps normalised texts to values. A match needs a ratio of at least
    :data:`FUZZY_MIN_RATIO` and must be strictly better than any other candidate.
    """
    best: list[tuple[float, str]] = []
    for cand, value in known.items():
        if abs(len(cand) - len(norm)) > (1 - FUZZY_MIN_RATIO) * max(len(cand), len(norm)):
            continue  # the ratio cannot reach the threshold: skip the costly comparison
        ratio = difflib.SequenceMatcher(None, norm, cand, autojunk=False).ratio()
        if ratio >= FUZZY_MIN_RATIO:
            best.append((ratio, value))
    best.sort(reverse=True)
    if best and (len(best) == 1 or best[0][0] > best[1][0]):
        return best[0]
    return None


@dataclass
class Sample:
    """A sample's items in file order, with the lookup tables that match ``inputs`` to them."""

    name: str
    rel: str
    item_ids: list[str]
    turns: list[Turns]
    occurrences: dict[Turns, list[str]]
    """Turns -> item id of each occurrence in the sample, in order."""
    loose: dict[Turns, Turns]
    joined: dict[str, set[Turns]]
    loose_joined: dict[str, set[Turns]]

    @classmethod
    def build(cls, name: str, rel: str, turns: list[Turns]) -> Sample:
        occurrences: dict[Turns, list[str]] = defaultdict(list)
        ids: list[str] = []
        loose: dict[Turns, Turns] = {}
        joined: dict[str, set[Turns]] = defaultdict(set)
        loose_joined: dict[str, set[Turns]] = defaultdict(set)
        for t in turns:
            occ = occurrences[t]
            iid = occurrence_item_id(t, len(occ) + 1)
            occ.append(iid)
            ids.append(iid)
            loose.setdefault(_loose(t), t)
            joined[" | ".join(t)].add(t)
            loose_joined[norm_text(" | ".join(t))].add(t)
        return cls(name, rel, ids, turns, dict(occurrences), loose, joined, loose_joined)

    def resolve(self, value: object, where: str) -> Turns | None:
        """The sample's turns that ``inputs`` denotes, or None when it matches no item."""
        parsed = turns_of(value, where)
        if isinstance(parsed, tuple):
            if parsed in self.occurrences:
                return parsed
            return self.loose.get(_loose(parsed))
        # a " | "-joined string: split it, verify the split is a known item, else match by
        # joining the known items' turns the same way
        split = tuple(parsed.split(" | "))
        if split in self.occurrences:
            return split
        for table, key in ((self.joined, parsed), (self.loose_joined, norm_text(parsed))):
            found = table.get(key)
            if found:
                if len(found) > 1:
                    raise InputError(
                        f"{where}: joined `inputs` {preview(parsed)} match {len(found)} different "
                        f"items of sample {self.name!r} (ambiguous split)"
                    )
                return next(iter(found))
        return self.loose.get(_loose(split))

    def match(
        self, records: list[dict[str, Any]], rel: str, *, fallback: Fallback | None = None
    ) -> list[str]:
        """Item id of every record; every record must match and every item be covered."""
        used: Counter[Turns] = Counter()
        ids: list[str | None] = []
        for i, rec in enumerate(records):
            turns = self.resolve(rec["inputs"], f"{rel}: record {i}")
            if turns is None:
                ids.append(None)
                continue
            occ = self.occurrences[turns]
            k = used[turns]
            if k >= len(occ):
                raise InputError(
                    f"{rel}: record {i}: these turns occur more often than in sample "
                    f"{self.name!r} ({len(occ)}x): {preview(list(turns))}"
                )
            used[turns] += 1
            ids.append(occ[k])
        if fallback is not None:
            claimed = {iid for iid in ids if iid is not None}
            for i, iid in enumerate(ids):
                if iid is None:
                    found = fallback(i, claimed)
                    if found is not None:
                        ids[i] = found
                        claimed.add(found)
        missing = [i for i, iid in enumerate(ids) if iid is None]
        if missing:
            i = missing[0]
            raise InputError(
                f"{rel}: {len(missing)} record(s) match no item of sample {self.name!r} "
                f"({self.rel}); first: record {i}, inputs {preview(records[i]['inputs'])}"
            )
        out = [iid for iid in ids if iid is not None]
        covered = len(set(out))
        if covered != len(self.item_ids) or len(out) != len(self.item_ids):
            raise InputError(
                f"{rel}: its {len(out)} records cover {covered} of the {len(self.item_ids)} items "
                f"of sample {self.name!r} ({self.rel}); expected exactly the sample's items"
            )
        return out

    def resolved_count(self, records: list[dict[str, Any]], rel: str) -> int:
        return sum(
            self.resolve(rec["inputs"], f"{rel}: record {i}") is not None
            for i, rec in enumerate(records)
        )


@dataclass
class SampleSet:
    """The study's samples, by name and by the stem of their file name."""

    by_name: dict[str, Sample] = field(default_factory=dict)
    by_stem: dict[str, Sample] = field(default_factory=dict)

    def add(self, stem: str, sample: Sample) -> None:
        self.by_name[sample.name] = sample
        self.by_stem[stem] = sample

    def item_ids(self) -> set[str]:
        """Distinct items over all samples."""
        return {iid for s in self.by_name.values() for iid in s.item_ids}

    def for_file(self, rel: str, records: list[dict[str, Any]], stem: str | None) -> Sample:
        """The sample a file's records belong to: the one its name refers to (``stem``), else
        the sample of its size whose items most of its records match."""
        if stem is not None:
            sample = self.by_stem.get(stem)
            if sample is None:
                raise InputError(
                    f"{rel}: refers to sample file processed/sampled_dataset_{stem}.json, "
                    "which is not in the study directory"
                )
            return sample
        candidates = [s for s in self.by_name.values() if len(s.item_ids) == len(records)]
        if not candidates:
            sizes = ", ".join(f"{s.name}: {len(s.item_ids)}" for s in self.by_name.values())
            raise InputError(
                f"{rel}: has {len(records)} records but no sample has that many items ({sizes})"
            )
        return max(candidates, key=lambda s: (s.resolved_count(records, rel), s.name))
