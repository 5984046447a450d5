"""The study's preprocessing: split documents into turns, clean them, filter by length, dedup.

Steps, per document:

1. remove bracketed text (``[deleted]``, ``[link]``; not across lines) and backslashes;
2. split into turns at every newline and after ``...``, ``??``, ``!!``, ``?!``, ``!?`` or a
   single ``.``, ``?``, ``!`` (the delimiter stays with its turn). Two deliberate exceptions in
   the default ``"grouped"`` style: a ``.`` between two digits (``2.5``) and delimiters inside a
   URL or media file name (but not at its end) are not split points, so that a URL is dropped
   with its whole turn instead of leaving fragments. ``style="paper"`` instead splits after
   every single ``.``, ``?`` or ``!``, as the study's released code effectively does (``...``
   never survives there). A source may add its own split point (MentalChat16K: a quote
   before a newline, the quote being dropped as in the study);
3. drop a turn shorter than 2 characters, one with no letters (only quotes, dots, digits,
   punctuation or symbols), or one that refers to a URL or media file (``http``, ``www.``,
   ``reddit.com``, ``puu.sh``, ``.mp4``, ``.jpg``, ``.png``, ``.gif``); strip whitespace;
4. keep a conversation only if it has 1 to 40 turns (longer ones are dropped, not cut);
5. dedup: the same turns again in the same source, or in a later source (the first source
   wins), is dropped.

:class:`CorpusStats` counts every document at the step that removed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from crisiseval.corpus.sources import SOURCES, RawDoc, ReadCounts
from crisiseval.errors import InputError
from crisiseval.store import item_id_for

MAX_TURNS = 40
MIN_TURN_CHARS = 2

SplitStyle = Literal["grouped", "paper"]

_BRACKETED = re.compile(r"\[[^\[\]\n]*\]")
_DELIMITER = re.compile(r"\.\.\.|\?\?|!!|\?!|!\?|[.?!]")
_SINGLE_DELIMITER = re.compile(r"[.?!]")
_SPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")
_URL_OR_MEDIA = re.compile(
    r"http|www\.|reddit\.com|puu\.sh|\.(?:mp4|jpe?g|png|gif)(?![a-z0-9])", re.IGNORECASE
)
_NO_LETTERS = re.compile(r"[\W\d_]+")


def input_chars(turns: Sequence[str]) -> int:
    """The size of an input: the characters of all its turns."""
    return sum(len(turn) for turn in turns)


def check_input_size(turns: Sequence[str], *, limit: int, where: str) -> None:
    """Refuse an input longer than ``limit`` characters (``sample.max_input_chars``) with one
    line naming ``where`` (the file and record), the input's size and the limit."""
    size = input_chars(turns)
    if size > limit:
        raise InputError(
            f"{where}: the input is {size:,} characters, more than sample.max_input_chars = "
            f"{limit:,} (raise it in the experiment file's sample: section if the input is meant)"
        )


class CorpusItem(NamedTuple):
    """A kept conversation: its cleaned turns, source and source label."""

    turns: tuple[str, ...]
    source: str
    label: str | None
    item_id: str


class SourceStats(BaseModel):
    """Counts for one source. ``records_read = filtered_by_label + unextractable + docs_read``
    and ``docs_read = empty + too_long + duplicates_within + duplicates_across + kept``."""

    records_read: int = 0
    filtered_by_label: int = 0
    unextractable: int = 0
    docs_read: int = 0
    empty: int = 0
    too_long: int = 0
    duplicates_within: int = 0
    duplicates_across: int = 0
    kept: int = 0
    files: list[str] = Field(default_factory=list)

    def add_read_counts(self, counts: ReadCounts) -> None:
        self.records_read += counts.records
        self.filtered_by_label += counts.filtered_by_label
        self.unextractable += counts.unextractable
        self.files.extend(counts.files)


STEP_FIELDS: tuple[str, ...] = (
    "records_read",
    "filtered_by_label",
    "unextractable",
    "docs_read",
    "empty",
    "too_long",
    "duplicates_within",
    "duplicates_across",
    "kept",
)


class CorpusStats(BaseModel):
    """Per-source, per-step counts of a preprocessing run."""

    sources: dict[str, SourceStats] = Field(default_factory=dict)

    def source(self, source_id: str) -> SourceStats:
        """The stats of ``source_id`` (created empty on first use)."""
        if source_id not in self.sources:
            self.sources[source_id] = SourceStats()
        return self.sources[source_id]

    def total(self) -> SourceStats:
        out = SourceStats()
        for stats in self.sources.values():
            for name in STEP_FIELDS:
                setattr(out, name, getattr(out, name) + getattr(stats, name))
        return out

    def rows(self) -> list[dict[str, int | str]]:
        """One row per source plus a ``total`` row (for tables and reports)."""
        out: list[dict[str, int | str]] = []
        for source_id, stats in [*self.sources.items(), ("total", self.total())]:
            row: dict[str, int | str] = {"source": source_id}
            row.update({name: int(getattr(stats, name)) for name in STEP_FIELDS})
            out.append(row)
        return out


# ---------------------------------------------------------------------------------- turns
def remove_bracketed(text: str) -> str:
    """Remove ``[...]`` spans (innermost first, never across a newline) and backslashes."""
    previous = None
    while previous != text:
        previous = text
        text = _BRACKETED.sub("", text)
    return text.replace("\\", "")


def _protected_spans(line: str) -> list[tuple[int, int]]:
    """The whitespace-delimited tokens of ``line`` that hold a URL or media file name."""
    spans: list[tuple[int, int]] = []
    for match in _URL_OR_MEDIA.finditer(line):
        if spans and match.start() < spans[-1][1]:
            continue
        space_before = _LAST_SPACE.search(line, 0, match.start())
        space_after = _SPACE.search(line, match.end())
        spans.append(
            (
                space_before.end() if space_before else 0,
                space_after.start() if space_after else len(line),
            )
        )
    return spans


def _cut_points(line: str, style: SplitStyle) -> list[int]:
    if style == "paper":
        return [m.end() for m in _SINGLE_DELIMITER.finditer(line)]
    protected = _protected_spans(line)
    cuts: list[int] = []
    for match in _DELIMITER.finditer(line):
        start, end = match.span()
        if any(lo <= start and end < hi for lo, hi in protected):  # inside, not ending, a URL
            continue
        if (
            match[0] == "."
            and start > 0
            and end < len(line)
            and line[start - 1].isdigit()
            and line[end].isdigit()
        ):
            continue
        cuts.append(end)
    return cuts


def split_turns(
    text: str, *, extra_split: str | None = None, style: SplitStyle = "grouped"
) -> list[str]:
    """Split ``text`` into raw pieces (not yet cleaned; whitespace kept).

    Joined together, the pieces are ``text`` minus its line breaks and minus the matches of
    ``extra_split``.
    """
    segments = re.split(extra_split, text) if extra_split else [text]
    pieces: list[str] = []
    for segment in segments:
        for line in segment.splitlines():
            start = 0
            for cut in _cut_points(line, style):
                pieces.append(line[start:cut])
                start = cut
            pieces.append(line[start:])
    return pieces


def clean_turn(piece: str) -> str | None:
    """The cleaned turn, or None when the piece is to be dropped."""
    turn = remove_bracketed(piece).strip()
    if len(turn) < MIN_TURN_CHARS:
        return None
    if _NO_LETTERS.fullmatch(turn):
        return None
    if _URL_OR_MEDIA.search(turn):
        return None
    return turn


def text_to_turns(
    text: str, *, extra_split: str | None = None, style: SplitStyle = "grouped"
) -> list[str]:
    """Steps 1-3: the cleaned turns of one document (possibly none)."""
    cleaned = remove_bracketed(text)
    turns: list[str] = []
    for piece in split_turns(cleaned, extra_split=extra_split, style=style):
        turn = clean_turn(piece)
        if turn is not None:
            turns.append(turn)
    return turns


# ---------------------------------------------------------------------------------- documents
def default_extra_splits() -> dict[str, str]:
    """The sources' own extra split points (by source id)."""
    return {a.source_id: a.extra_split for a in SOURCES if a.extra_split is not None}


class Preprocessor:
    """Streaming preprocessing with dedup state shared across sources (first source wins)."""

    def __init__(
        self,
        *,
        max_turns: int = MAX_TURNS,
        style: SplitStyle = "grouped",
        extra_splits: Mapping[str, str] | None = None,
        stats: CorpusStats | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        self.max_turns = max_turns
        self.style: SplitStyle = style
        self.extra_splits = dict(default_extra_splits() if extra_splits is None else extra_splits)
        self.stats = stats if stats is not None else CorpusStats()
        self._first_source: dict[str, str] = {}

    def process(self, doc: RawDoc) -> CorpusItem | None:
        """The item for ``doc``, or None when a step removed it (counted in ``stats``)."""
        stats = self.stats.source(doc.source_id)
        stats.docs_read += 1
        turns = text_to_turns(
            doc.text, extra_split=self.extra_splits.get(doc.source_id), style=self.style
        )
        if not turns:
            stats.empty += 1
            return None
        if len(turns) > self.max_turns:
            stats.too_long += 1
            return None
        item_id = item_id_for(turns)
        first = self._first_source.get(item_id)
        if first is not None:
            if first == doc.source_id:
                stats.duplicates_within += 1
            else:
                stats.duplicates_across += 1
            return None
        self._first_source[item_id] = doc.source_id
        stats.kept += 1
        return CorpusItem(tuple(turns), doc.source_id, doc.label, item_id)

    def run(self, docs: Iterable[RawDoc]) -> Iterator[CorpusItem]:
        for doc in docs:
            item = self.process(doc)
            if item is not None:
                yield item


def preprocess(
    docs: Iterable[RawDoc],
    *,
    max_turns: int = MAX_TURNS,
    style: SplitStyle = "grouped",
    extra_splits: Mapping[str, str] | None = None,
) -> tuple[list[CorpusItem], CorpusStats]:
    """Run all steps over ``docs`` (in order); return the kept items and the counts."""
    pre = Preprocessor(max_turns=max_turns, style=style, extra_splits=extra_splits)
    items = list(pre.run(docs))
    return items, pre.stats
