"""Section "Judge validity": model judges vs human scorers (and their mean), humans vs each
other, judges vs each other, with a jury (who is compared:
:func:`crisiseval.analysis.judges.validity_panel`)."""

from __future__ import annotations

import pandas as pd

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.judge_validity import validity_matrix
from crisiseval.analysis.judges import validity_panel
from crisiseval.sections._format import NO_JUDGMENTS, float_col, int_col, pct_col, quiet, text_col
from crisiseval.sections._model import Column, FigureSpec, NoDataError, Section, make_table
from crisiseval.sections._registry import SectionInputs, section

__all__ = ["validity_section"]


@section("judge_validity", title="Judge validity", order=30, requires=("judgments",))
def _report_section(inputs: SectionInputs) -> Section:
    return validity_section(inputs.judgments)


_VALIDITY_COLUMNS: list[Column] = [
    ("N", int_col("n"), True),
    ("mean A", float_col("mean_a"), True),
    ("mean B", float_col("mean_b"), True),
    ("MAE", float_col("mae"), True),
    ("RMSE", float_col("rmse"), True),
    ("within 1", pct_col("within_1"), True),
    ("QWK", float_col("qwk"), True),
]


@quiet
def validity_section(judgments: pd.DataFrame) -> Section:
    """Model judges vs human scorers (and vs their mean), humans vs each other, judges vs each
    other, including a jury (the imported one, or the mean of the model judges)."""
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    section = Section(
        key="judge_validity",
        title="Judge validity",
        intro=(
            "Each rater's score of a response is the mean of its valid runs; two raters are "
            "compared on the responses both scored. MAE / RMSE in score points, the share of "
            "responses within 1 point, and the quadratic-weighted kappa (QWK) of the scores "
            "rounded half up to 1-5."
        ),
    )
    panel = validity_panel(judgments)
    humans, models, references = list(panel.humans), list(panel.models), list(panel.references)
    if panel.stored_juries:
        section.notes.append(
            "Jury: "
            + ", ".join(panel.stored_juries)
            + " (from the store: the mean of several judges' scores)."
        )
    elif panel.jury_error is not None:
        section.notes.append(f"No jury: {panel.jury_error}.")
    elif panel.jury is not None:
        section.notes.append(f"Jury: {panel.jury} = the mean of the model judges' scores.")
    if panel.human_mean_error is not None:
        section.notes.append(f"No human mean: {panel.human_mean_error}.")
    if not humans:
        section.notes.append("No human scores in the store: judges are compared with each other.")
    if len(models) + len(humans) < 2:
        only = ", ".join(models + humans)
        raise NoDataError(
            "judge validity needs two raters of the same responses (a second judge, or human "
            f"scores); the store has one: {only}"
        )
    try:
        matrix = validity_matrix(panel.judgments, [*models, *references])
    except AnalysisError as exc:
        raise NoDataError(
            f"judge validity needs two raters that scored the same responses ({exc})"
        ) from exc
    is_model = matrix["rater_a"].isin(models)
    parts = [
        (
            "validity_judges_vs_humans",
            "Judges vs human scorers",
            matrix[is_model & matrix["rater_b"].isin(references)],
        ),
        (
            "validity_humans",
            "Human scorers vs each other",
            matrix[matrix["rater_a"].isin(humans) & matrix["rater_b"].isin(humans)],
        ),
        (
            "validity_judges",
            "Judges vs each other",
            matrix[is_model & matrix["rater_b"].isin(models)],
        ),
    ]
    for name, title, data in parts:
        if data.empty:
            continue
        data = data.rename(columns={"rater_a": "judge", "rater_b": "reference"})
        section.tables.append(
            make_table(
                name,
                title,
                data,
                [
                    ("A", text_col("judge"), False),
                    ("B", text_col("reference"), False),
                    *_VALIDITY_COLUMNS,
                ],
            )
        )
        if name == "validity_judges_vs_humans":
            section.figures.append(
                FigureSpec(
                    "judge_validity",
                    "Judges vs human scorers",
                    "validity_bars",
                    {"table": data, "title": "Judges vs human scorers: MAE and QWK"},
                )
            )
    if len(humans) == 1:
        section.notes.append("One human scorer: no agreement among humans to report.")
    return section
