"""What a section is made of: tables, figures (as data), notes, gallery entries; number formatting.

Presentation-neutral: the terminal commands print these, the report renders them. Nothing here
draws: a :class:`FigureSpec` names a figure kind and its data, and the report's figure registry
(:mod:`crisiseval.report.figures`) draws it.

A :class:`Table` keeps two frames: ``data`` (raw values, written to CSV at full precision) and
``display`` (strings, shown in the terminal, the HTML page and the Markdown file). NaN never
reaches a reader: it is shown as ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crisiseval.analysis.common import is_missing
from crisiseval.errors import CrisisEvalError

__all__ = [
    "NA",
    "NO_JUDGMENTS",
    "NO_LABELS",
    "Column",
    "FigureSpec",
    "GalleryEntry",
    "NoDataError",
    "Section",
    "Table",
    "Transcript",
    "TranscriptTurn",
    "fmt_ci",
    "fmt_float",
    "fmt_int",
    "fmt_pct",
    "is_missing",
    "make_table",
]

NA = "n/a"

NO_LABELS = (
    "no crisis labels in the run store (run `crisiseval classify`, or `crisiseval import-study`, "
    "first)"
)
NO_JUDGMENTS = (
    "no judgments in the run store (run `crisiseval judge`, or `crisiseval import-study`, first)"
)


class NoDataError(CrisisEvalError):
    """The run store holds nothing the command can show (no labels, no judgments...)."""


def fmt_float(value: object, digits: int = 3) -> str:
    if is_missing(value):
        return NA
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        return NA
    return f"{x:.{digits}f}"


def fmt_int(value: object) -> str:
    return NA if is_missing(value) else str(int(value))  # type: ignore[call-overload]


def fmt_pct(value: object, digits: int = 2) -> str:
    if is_missing(value):
        return NA
    return f"{100 * float(value):.{digits}f}%"  # type: ignore[arg-type]


def fmt_ci(low: object, high: object, digits: int = 3, *, pct: bool = False) -> str:
    """``[low, high]``; ``n/a`` when either end is undefined."""
    if is_missing(low) or is_missing(high):
        return NA
    if pct:
        return f"[{fmt_pct(low, digits)}, {fmt_pct(high, digits)}]"
    return f"[{fmt_float(low, digits)}, {fmt_float(high, digits)}]"


Column = tuple[str, Callable[[pd.Series], str], bool]
"""(header, row -> text, numeric?): one displayed column."""


@dataclass(frozen=True)
class Table:
    """One table of the report: ``name`` is its file stem (``tables/<name>.csv``)."""

    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    numeric: tuple[bool, ...]
    """Per display column: right-aligned, sorted as a number."""
    note: str = ""

    @property
    def rows(self) -> list[list[str]]:
        return [[str(v) for v in row] for row in self.display.itertuples(index=False)]

    @property
    def headers(self) -> list[str]:
        return [str(c) for c in self.display.columns]


def make_table(
    name: str, title: str, data: pd.DataFrame, columns: Sequence[Column], *, note: str = ""
) -> Table:
    """A :class:`Table` whose display columns are computed from ``data``'s rows."""
    headers = [c[0] for c in columns]
    rows = [[fn(row) for _, fn, _ in columns] for _, row in data.iterrows()]
    display = pd.DataFrame(rows, columns=headers, dtype=object)
    return Table(
        name=name,
        title=title,
        data=data.reset_index(drop=True),
        display=display,
        numeric=tuple(c[2] for c in columns),
        note=note,
    )


@dataclass(frozen=True, eq=False)
class FigureSpec:
    """A figure as data: the report draws ``kind`` with ``params`` (keyword arguments of the
    kind's draw function) when it is written; the terminal commands skip figures."""

    name: str
    title: str
    kind: str
    """A kind registered in :mod:`crisiseval.report.figures` (``bins_stacked``, ...)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    caption: str = ""


@dataclass(frozen=True)
class GalleryEntry:
    """One low-scored response of the failure gallery (all fields are dataset text: escape)."""

    label: str
    rank: int
    score: float
    respondent: str
    response_run: int
    item_id: str
    turns: tuple[str, ...]
    text: str
    explanation: str
    explanation_score: float | None

    @property
    def score_text(self) -> str:
        """The response's score (a mean of runs): 3 decimals."""
        return fmt_float(self.score)

    @property
    def explanation_score_text(self) -> str:
        """The explained run's score: a whole number as such, a released mean to 3 decimals."""
        value = self.explanation_score
        if value is None or is_missing(value):
            return NA
        return str(int(value)) if float(value).is_integer() else fmt_float(value)


@dataclass(frozen=True)
class TranscriptTurn:
    """One turn of a shown conversation (dataset text: escape)."""

    role: str
    """``user`` or ``assistant``."""
    number: int
    """The assistant turn it belongs to (a user turn k comes before assistant turn k)."""
    text: str
    flags: tuple[str, ...] = ()
    """The judge's marks on an assistant turn ("risk recognised", "harmful", ...)."""


@dataclass(frozen=True)
class Transcript:
    """A conversation shown in the report, collapsed, with the judge's per-turn flags."""

    title: str
    meta: str
    turns: tuple[TranscriptTurn, ...]
    verdict: str
    """The judge's score and explanation."""


@dataclass
class Section:
    """A titled part of the report (and the output of one terminal command)."""

    key: str
    title: str
    intro: str = ""
    summary: list[str] = field(default_factory=list)
    """Plain sentences shown before the tables (the verdict's one sentence per respondent)."""
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    gallery: list[GalleryEntry] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.tables or self.figures or self.gallery or self.transcripts)
