"""The analysis commands: ``import-study``, ``agreement``, ``scores``, ``judge-validity``,
``report``.

Plain functions with typer-annotated parameters; :func:`register` adds them to a typer app
(``crisiseval.cli`` does). Each works on a run directory (``--run-dir/-d``, default ``.``) and
prints rich tables to stdout. ``import-study`` writes (it holds the run directory's lock); the
others open the store read-only. A store without the data a command needs raises a
:class:`~crisiseval.errors.CrisisEvalError` (the CLI prints it as one line and exits 2); a part of
the output that lacks data is skipped with a note. Heavy libraries (pandas, scipy, the report's
matplotlib) are imported inside the commands that use them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from crisiseval.cli._common import (
    BootOpt,
    JudgeOpt,
    RunDir,
    RunDirOpt,
    SeedOpt,
    progress_setting,
    table_console,
)
from crisiseval.engine.progress import busy
from crisiseval.errors import InputError
from crisiseval.store import Store

if TYPE_CHECKING:
    from crisiseval.sections import Section, Table

__all__ = [
    "COMMANDS",
    "Invalid",
    "agreement",
    "import_study",
    "judge_validity",
    "print_section",
    "register",
    "report",
    "scores",
]


class Invalid(StrEnum):
    """How unusable labels (unparsed classifier outputs, ties) count in label agreement."""

    category = "category"
    drop = "drop"


def _console() -> Console:
    return table_console()


def _rich_table(table: Table) -> RichTable:
    out = RichTable(title=table.title, title_justify="left", title_style="bold")
    for header, numeric in zip(table.headers, table.numeric, strict=True):
        if numeric:
            out.add_column(Text(header), justify="right", no_wrap=True)
        else:
            out.add_column(Text(header), justify="left", overflow="fold")
    for row in table.rows:
        out.add_row(*(Text(cell) for cell in row))  # Text: no rich markup from the data
    return out


def print_section(section: Section, console: Console | None = None) -> None:
    """Print a report section's tables and notes (figures are for the report only)."""
    console = console or _console()
    console.print(Text(section.title, style="bold underline"))
    if section.intro:
        console.print(Text(section.intro, style="dim"))
    for line in section.summary:
        console.print(Text(line))
    for table in section.tables:
        console.print(_rich_table(table))
        if table.note:
            console.print(Text(table.note, style="dim"))
    for note in section.notes:
        console.print(Text("note: " + note, style="yellow"))


def _open(run_dir: Path) -> contextlib.AbstractContextManager[Store]:
    return RunDir(run_dir).reader()


def import_study(
    study_dir: Annotated[
        Path,
        typer.Argument(
            help="The study's released data (the folder with processed/, human_label/, ...)."
        ),
    ],
    run_dir: RunDirOpt = Path("."),
) -> None:
    """Import the released data of "Between Help and Harm" into the run store (idempotent)."""
    from crisiseval.importers import paper

    console = _console()
    # The lock for the whole import; a failed import leaves no store (or folder) it made.
    with (
        RunDir(run_dir).writer() as store,
        busy(progress_setting(), console, f"import-study {study_dir}"),
    ):
        summary = paper.import_study(store, study_dir)
        path = store.path
    counts = RichTable(
        title="Imported (rows after de-duplication)",
        title_justify="left",
        title_style="bold",
    )
    counts.add_column("kind")
    counts.add_column("n", justify="right")
    for kind, n in summary.counts().items():
        counts.add_row(Text(kind), Text(str(n)))
    for kind, n in sorted(summary.label_status.items()):
        counts.add_row(Text(f"label status:{kind}"), Text(str(n)))
    for kind, n in sorted(summary.judgment_status.items()):
        counts.add_row(Text(f"judgment status:{kind}"), Text(str(n)))
    console.print(counts)
    console.print(Text(f"{len(summary.files)} JSON files read from {summary.study_dir}"))
    for rel, why in sorted(summary.skipped.items()):
        console.print(Text(f"not read: {rel}: {why}", style="dim"))
    not_judged = sum(summary.not_judged.values())
    if not_judged:
        per = ", ".join(f"{j}: {n}" for j, n in sorted(summary.not_judged.items()))
        console.print(
            Text(f"not judged in the study (input without a label): {not_judged} ({per})")
        )
    for warning in summary.warnings:
        console.print(Text("repaired: " + warning, style="yellow"))
    if summary.repaired_scores:
        console.print(Text(f"repaired expert scores: {summary.repaired_scores}", style="yellow"))
    console.print(Text(f"store: {path}"))


def agreement(
    run_dir: RunDirOpt = Path("."),
    invalid: Annotated[
        Invalid,
        typer.Option(
            "--invalid",
            help="Unusable labels: 'category' counts them as one extra label (a disagreement, "
            "as the study did); 'drop' leaves those items out.",
        ),
    ] = Invalid.category,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Most-confused label pairs per comparison.")
    ] = 10,
) -> None:
    """Agreement on crisis labels: Cohen's, Fleiss' kappa, Krippendorff's alpha, confusions."""
    from crisiseval.sections.agreement import agreement_section

    with _open(run_dir) as store:
        labels = store.labels_frame()
        samples = {name: store.sample_items(name) for name in store.sample_names()}
    section = agreement_section(labels, samples=samples, invalid=invalid.value, top=top)
    print_section(section)


def scores(
    run_dir: RunDirOpt = Path("."),
    judge: JudgeOpt = None,
    n_boot: BootOpt = 2000,
    seed: SeedOpt = 0,
) -> None:
    """The verdict per respondent, then scores per respondent and respondent x label: mean,
    CIs, harmful share, bins."""
    from crisiseval.analysis.judges import choose_judge
    from crisiseval.sections import NO_JUDGMENTS, NoDataError
    from crisiseval.sections.scores import scores_section
    from crisiseval.sections.verdict import verdict_section

    with _open(run_dir) as store:
        judgments = store.judgments_frame()
        responses = store.responses_frame()
        configured = store.configured_judges()
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    choice = choose_judge(judgments, responses, configured=configured, requested=judge)
    console = _console()
    console.print(Text(f"judge: {choice}"))
    print_section(verdict_section(judgments, judge=choice, responses=responses), console)
    section = scores_section(
        judgments, judge=choice.judge, n_boot=n_boot, seed=seed, responses=responses
    )
    print_section(section, console)


def judge_validity(
    run_dir: RunDirOpt = Path("."),
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            "-j",
            help="Judge whose largest divergences from the humans are listed (default: as "
            "`scores` chooses it).",
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Answers in the largest-divergence table.")
    ] = 10,
    n_boot: BootOpt = 2000,
    seed: SeedOpt = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the tables and notes as JSON.")
    ] = False,
) -> None:
    """Judges vs human scores and humans vs each other: MAE, RMSE, within 1, QWK; the jury;
    where the judge diverges: signed judge - human bias with CIs by category and by human score,
    the largest divergences with both rationales, a judge panel vs single judges."""
    from crisiseval.analysis.judges import choose_judge
    from crisiseval.sections import NO_JUDGMENTS, NoDataError
    from crisiseval.sections.validity import validity_section

    with _open(run_dir) as store:
        judgments = store.judgments_frame()
        responses = store.responses_frame()
        items = store.items_frame()
        configured = store.configured_judges()
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    main = choose_judge(judgments, responses, configured=configured, requested=judge).judge
    section = validity_section(
        judgments,
        responses=responses,
        items=items,
        judge=main,
        n_boot=n_boot,
        seed=seed,
        top=top,
    )
    if as_json:
        from crisiseval.cli._common import json_value, print_json

        print_json(
            {
                "title": section.title,
                "summary": section.summary,
                "notes": section.notes,
                "tables": {
                    t.name: [
                        {str(k): json_value(v) for k, v in row.items()}
                        for row in t.data.to_dict(orient="records")
                    ]
                    for t in section.tables
                },
            }
        )
        return
    print_section(section)


def report(
    run_dir: RunDirOpt = Path("."),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: RUN_DIR/report)."),
    ] = None,
    per_label: Annotated[
        int,
        typer.Option(
            "--per-label", min=1, help="Lowest-scored responses per label in the gallery."
        ),
    ] = 3,
    judge: Annotated[
        str | None,
        typer.Option("--judge", "-j", help="Judge of the score tables and the gallery."),
    ] = None,
    n_boot: BootOpt = 2000,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline of the Comparison section (default: the experiment's first respondent).",
        ),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option(
            "--candidate",
            help="Candidate of the Comparison section (default: every other respondent of the "
            "experiment).",
        ),
    ] = None,
) -> None:
    """Write the report: report.html (self-contained), report.md, tables/*.csv, figures/."""
    from crisiseval.report.build import build_report

    console = _console()
    out_dir = out if out is not None else run_dir / "report"
    with _open(run_dir) as store, busy(progress_setting(), console, "report"):
        try:
            paths = build_report(
                store,
                out_dir,
                gallery_per_label=per_label,
                judge=judge,
                n_boot=n_boot,
                baseline=baseline,
                candidate=candidate,
            )
        except OSError as exc:  # an output folder that cannot be made or written
            where = exc.filename or out_dir
            raise InputError(f"{where}: cannot write the report ({exc.strerror or exc})") from exc
    if paths.judge is not None:
        console.print(Text(f"judge:    {paths.judge}"))
    console.print(Text(f"report:   {paths.html}"))
    console.print(Text(f"markdown: {paths.markdown}"))
    console.print(Text(f"tables:   {len(paths.tables)} CSV files in {out_dir / 'tables'}"))
    console.print(Text(f"figures:  {len(paths.figures)} PNG/SVG files in {out_dir / 'figures'}"))


COMMANDS: dict[str, Callable[..., None]] = {
    "import-study": import_study,
    "agreement": agreement,
    "scores": scores,
    "judge-validity": judge_validity,
    "report": report,
}
"""Command name -> function, as :func:`register` adds them."""


def register(app: typer.Typer) -> None:
    """Add the analysis commands to ``app`` under their names (:data:`COMMANDS`)."""
    for name, fn in COMMANDS.items():
        app.command(name=name)(fn)
