"""Build the report of a run store: ``report.html`` (self-contained), ``report.md``,
``tables/*.csv`` and ``figures/*.png|svg``.

The report leads with the verdict (one judge's numbers per respondent, the judge named with the
reason it was chosen) and ends with an appendix of what the run store holds (record counts by
status). In between, what the store supports: a store with labels only gets the agreement
section; a store with judgments gets scores, judge validity and the failure gallery. Sections
that lack data are listed as skipped, with the reason. The configuration is never read (only
the names of the experiment's judges, kept in the store), so no endpoint, key or secret can
reach the report. CSV files hold the raw numbers at full precision; the HTML and Markdown
tables show means, CIs and SDs to 3 decimals and percentages to 2.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from crisiseval.analysis.agreement import InvalidPolicy
from crisiseval.analysis.judges import JudgeChoice
from crisiseval.errors import CrisisEvalError
from crisiseval.report import figures as fg
from crisiseval.report.html import render_html
from crisiseval.report.markdown import render_markdown
from crisiseval.sections import NoDataError, Section, SectionInputs, Table, registered_sections
from crisiseval.sections.overview import Overview, overview
from crisiseval.store import Store

__all__ = ["ReportPaths", "build_report", "collect_sections"]


@dataclass(frozen=True)
class ReportPaths:
    """The files :func:`build_report` wrote."""

    out_dir: Path
    html: Path
    markdown: Path
    tables: tuple[Path, ...]
    figures: tuple[Path, ...]
    judge: JudgeChoice | None = None
    """The judge of the verdict, the score tables and the gallery, and why it was chosen
    (``None`` when the store holds no judgments)."""

    def all(self) -> list[Path]:
        return [self.html, self.markdown, *self.tables, *self.figures]


def collect_sections(
    store: Store,
    *,
    gallery_per_label: int = 3,
    judge: str | None = None,
    configured: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    invalid: InvalidPolicy = "category",
    baseline: str | None = None,
    candidate: str | None = None,
) -> tuple[list[Section], list[tuple[str, str]]]:
    """Every registered section (:func:`crisiseval.sections.registered_sections`) the store
    supports, in order, and (section, reason) of those skipped.

    ``judge``: the judge asked for (``-j``); ``configured``: the experiment's judges (default:
    :meth:`Store.configured_judges`); ``baseline``/``candidate``: the comparison's pair (default:
    every configured respondent against the first); the rest as :func:`build_report`. Raises
    :class:`NoDataError` when the store holds no labels, no judgments and no model calls
    (nothing any stage produced), and :class:`~crisiseval.analysis.AnalysisError` when
    ``judge`` has no judgments in the store.
    """
    inputs = SectionInputs(
        store,
        judge=judge,
        configured=configured,
        n_boot=n_boot,
        seed=seed,
        invalid=invalid,
        gallery_per_label=gallery_per_label,
        baseline=baseline,
        candidate=candidate,
    )
    return _collect(inputs)


def _collect(inputs: SectionInputs) -> tuple[list[Section], list[tuple[str, str]]]:
    store = inputs.store
    if inputs.labels.empty and inputs.judgments.empty and not store.counts()["cells"]:
        raise NoDataError(
            f"{store.path}: nothing to report: the store holds no labels and no judgments "
            "(run `crisiseval run`, or `crisiseval import-study`, first)"
        )
    if inputs.judge is not None and not inputs.judgments.empty:
        _ = inputs.judge_choice  # a judge asked for without judgments is an error, not a skip
    sections: list[Section] = []
    skipped: list[tuple[str, str]] = []
    for spec in registered_sections():
        reason = spec.missing(inputs)
        if reason is not None:
            skipped.append((spec.title, reason))
            continue
        try:
            sections.append(spec.build(inputs))
        except CrisisEvalError as exc:
            skipped.append((spec.title, str(exc)))
    return sections, skipped


def _write_text(path: Path, text: str) -> None:
    """Write atomically (a reader never sees half a report)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clear(directory: Path, suffixes: tuple[str, ...]) -> None:
    """Remove files a previous report wrote there (the folder is the report's own)."""
    if directory.is_dir():
        for path in directory.iterdir():
            if path.is_file() and path.suffix in suffixes:
                path.unlink()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: object) -> object:
    """Dataset text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(table: Table, directory: Path) -> Path:
    path = directory / f"{table.name}.csv"
    data = table.data.copy()
    for col in data.columns:
        if data[col].dtype == object or pd.api.types.is_string_dtype(data[col]):
            data[col] = data[col].map(_defuse)
    data.to_csv(path, index=False, lineterminator="\n")
    return path


def build_report(
    store: Store,
    out_dir: Path | str,
    *,
    gallery_per_label: int = 3,
    judge: str | None = None,
    configured: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    invalid: InvalidPolicy = "category",
    notice: str | None = None,
    baseline: str | None = None,
    candidate: str | None = None,
) -> ReportPaths:
    """Write the report of ``store`` under ``out_dir`` and return the paths written (and the
    judge used).

    ``judge``: the judge of the verdict, the score tables and the gallery (default:
    :func:`~crisiseval.analysis.judges.choose_judge`: the experiment's first judge, else the
    model judge that scored the most answers); ``configured``: the experiment's judges (default:
    :meth:`Store.configured_judges`). ``gallery_per_label``: lowest-scored responses shown per
    label. ``n_boot``/``seed``: the input bootstrap of the score CIs. ``invalid``: how unusable
    labels count in agreement statistics (see :mod:`crisiseval.analysis.agreement`).
    ``notice``: a banner shown under the title (the demo's "not meaningful" warning).
    ``baseline``/``candidate``: the pair of the comparison section (default: every respondent of
    the experiment against its first; see :func:`crisiseval.analysis.compare.comparison_pairs`).
    """
    if gallery_per_label < 1:
        raise NoDataError(f"gallery_per_label={gallery_per_label}: expected at least 1")
    out = Path(out_dir)
    ov: Overview = overview(store)
    inputs = SectionInputs(
        store,
        judge=judge,
        configured=configured,
        n_boot=n_boot,
        seed=seed,
        invalid=invalid,
        gallery_per_label=gallery_per_label,
        baseline=baseline,
        candidate=candidate,
    )
    sections, skipped = _collect(inputs)
    choice = None if inputs.judgments.empty else inputs.judge_choice
    tables_dir = out / "tables"
    figures_dir = out / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    _clear(tables_dir, (".csv",))
    _clear(figures_dir, (".png", ".svg"))

    table_paths: list[Path] = []
    figure_paths: list[Path] = []
    used: set[str] = set()
    views: list[dict[str, Any]] = []
    for section in sections:
        figs = []
        for spec in section.figures:
            name = spec.name
            k = 2
            while name in used:
                name, k = f"{spec.name}_{k}", k + 1
            used.add(name)
            fig = fg.draw(spec)
            png_path, svg_path, png = fg.save_figure(fig, figures_dir, name)
            figure_paths += [png_path, svg_path]
            figs.append(
                {
                    "name": name,
                    "title": spec.title,
                    "caption": spec.caption,
                    "b64": base64.b64encode(png).decode("ascii"),
                }
            )
        table_paths += [_csv(t, tables_dir) for t in section.tables]
        views.append(
            {
                "key": section.key,
                "title": section.title,
                "intro": section.intro,
                "summary": list(section.summary),
                "notes": list(section.notes),
                "tables": [t for t in section.tables if section.key != "gallery"],
                "figures": figs,
                "gallery": list(section.gallery),
                "transcripts": list(section.transcripts),
            }
        )
    table_paths.append(_csv(ov.status, tables_dir))
    # dataset text (inputs, answers) is quoted in the gallery, the conversations' transcripts and
    # the comparison's worst inputs
    quotes = any(
        (s.key == "gallery" and s.gallery) or s.transcripts or s.extra.get("quotes")
        for s in sections
    )
    title = f"crisiseval report: {Path(store.path).parent.resolve().name or 'run'}"
    html_path = out / "report.html"
    md_path = out / "report.md"
    for path, render in ((html_path, render_html), (md_path, render_markdown)):
        page = render(
            title=title,
            overview=ov,
            sections=views,
            skipped=skipped,
            notice=notice,
            content_warning=quotes,
        )
        _write_text(path, page)
    return ReportPaths(
        out_dir=out,
        html=html_path,
        markdown=md_path,
        tables=tuple(table_paths),
        figures=tuple(figure_paths),
        judge=choice,
    )
