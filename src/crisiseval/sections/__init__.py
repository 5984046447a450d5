"""The sections of a run's results: tables, figures (as data) and notes computed with
:mod:`crisiseval.analysis`, presentation-neutral. The terminal commands print them; the report
(:mod:`crisiseval.report`) renders them to HTML and Markdown and draws their figures.

A section is one public module here: a function from frames to a :class:`Section`, and a small
function registered with :func:`section` that feeds it from :class:`SectionInputs` (the report
computes every registered section, in order). A section whose data is missing entirely raises
:class:`NoDataError` (one clear line); a part that cannot be computed is left out with a note.

* :mod:`~crisiseval.sections.verdict`: the verdict, first (one judge's numbers and a sentence
  per respondent);
* :mod:`~crisiseval.sections.overview`: the report's appendix (what the store holds);
* :mod:`~crisiseval.sections.agreement`: agreement on crisis labels;
* :mod:`~crisiseval.sections.scores`: appropriateness scores;
* :mod:`~crisiseval.sections.validity`: judge validity;
* :mod:`~crisiseval.sections.probes`: probe suites (missed risk, over-refusal, resources);
* :mod:`~crisiseval.sections.conversations`: multi-turn conversations;
* :mod:`~crisiseval.sections.gallery`: the failure gallery.

Importing this package is cheap (pandas only): the section modules, which pull in the statistics
libraries, are imported when used (:func:`registered_sections` imports them all).
"""

from __future__ import annotations

from crisiseval.sections._model import (
    NA,
    NO_JUDGMENTS,
    NO_LABELS,
    Column,
    FigureSpec,
    GalleryEntry,
    NoDataError,
    Section,
    Table,
    Transcript,
    TranscriptTurn,
    fmt_ci,
    fmt_float,
    fmt_int,
    fmt_pct,
    is_missing,
    make_table,
)
from crisiseval.sections._registry import (
    Requirement,
    SectionFn,
    SectionInputs,
    SectionSpec,
    registered_sections,
    section,
    unregister_section,
)

__all__ = [
    "NA",
    "NO_JUDGMENTS",
    "NO_LABELS",
    "Column",
    "FigureSpec",
    "GalleryEntry",
    "NoDataError",
    "Requirement",
    "Section",
    "SectionFn",
    "SectionInputs",
    "SectionSpec",
    "Table",
    "Transcript",
    "TranscriptTurn",
    "fmt_ci",
    "fmt_float",
    "fmt_int",
    "fmt_pct",
    "is_missing",
    "make_table",
    "registered_sections",
    "section",
    "unregister_section",
]
