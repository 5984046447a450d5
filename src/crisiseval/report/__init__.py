"""The report of a run: one self-contained HTML page, its Markdown twin, CSV tables and PNG/SVG
figures (:func:`build_report`), and the sections the terminal commands print.

* :mod:`~crisiseval.report.sections`: the sections, computed with :mod:`crisiseval.analysis`;
* :mod:`~crisiseval.report.figures`: matplotlib figures (Agg, no pyplot);
* :mod:`~crisiseval.report.html` / :mod:`~crisiseval.report.markdown`: rendering;
* :mod:`~crisiseval.report.build`: writes the files.
"""

from __future__ import annotations

from crisiseval.report.build import ReportPaths, build_report, collect_sections
from crisiseval.report.model import NoDataError, Section, Table
from crisiseval.report.sections import (
    agreement_section,
    gallery_section,
    overview,
    primary_judge,
    scores_section,
    validity_section,
)

__all__ = [
    "NoDataError",
    "ReportPaths",
    "Section",
    "Table",
    "agreement_section",
    "build_report",
    "collect_sections",
    "gallery_section",
    "overview",
    "primary_judge",
    "scores_section",
    "validity_section",
]
