"""The report of a run: one self-contained HTML page, its Markdown twin, CSV tables and PNG/SVG
figures (:func:`build_report`), rendered from the sections of :mod:`crisiseval.sections`.

* :mod:`~crisiseval.report.build`: computes the registered sections and writes the files;
* :mod:`~crisiseval.report.figures`: the figure kinds, drawn with matplotlib (Agg, no pyplot);
* :mod:`~crisiseval.report.html` / :mod:`~crisiseval.report.markdown`: rendering.

The terminal commands never import this package (nor matplotlib): they print the same sections.
"""

from __future__ import annotations

from crisiseval.report.build import ReportPaths, build_report, collect_sections

__all__ = ["ReportPaths", "build_report", "collect_sections"]
