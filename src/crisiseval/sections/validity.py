"""Section "Judge validity": model judges vs human scorers (and their mean), humans vs each
other, judges vs each other, with a jury (who is compared:
:func:`crisiseval.analysis.judges.validity_panel`); and where a judge diverges from the humans
(the study's open question 4): the signed judge - human bias with a bootstrap CI by category and
by the humans' score level, the answers with the largest divergence with both rationales, and a
panel of judges (mean or median) against each single judge."""

from __future__ import annotations

import pandas as pd

from crisiseval.analysis.common import AnalysisError, is_missing
from crisiseval.analysis.judge_validity import (
    largest_divergences,
    panel_comparison,
    panel_name,
    rater_score_table,
    signed_bias,
    validity_matrix,
    with_jury,
)
from crisiseval.analysis.judges import (
    HUMAN_MEAN,
    ValidityPanel,
    choose_judge,
    is_jury,
    validity_panel,
)
from crisiseval.sections._format import (
    NO_JUDGMENTS,
    ci_col,
    float_col,
    int_col,
    pct_col,
    quiet,
    text_col,
)
from crisiseval.sections._model import (
    Column,
    FigureSpec,
    NoDataError,
    Section,
    fmt_ci,
    make_table,
)
from crisiseval.sections._registry import SectionInputs, section

__all__ = ["validity_section"]

EXCERPT_CHARS = 400
"""Characters of an input, answer or rationale shown in the divergence table (the CSV keeps
the whole text)."""


@section("judge_validity", title="Judge validity", order=30, requires=("judgments",))
def _report_section(inputs: SectionInputs) -> Section:
    return validity_section(
        inputs.judgments,
        responses=inputs.responses,
        items=inputs.items,
        judge=inputs.main_judge,
        n_boot=inputs.n_boot,
        seed=inputs.seed,
    )


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
def validity_section(
    judgments: pd.DataFrame,
    *,
    responses: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    judge: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    top: int = 10,
) -> Section:
    """Model judges vs human scorers (and vs their mean), humans vs each other, judges vs each
    other, including a jury (the imported one, or the mean of the model judges); then, against
    the human reference (their mean, or the one human): each judge's signed bias by category
    and by human score level (``n_boot`` bootstrap resamples of inputs, ``seed``), the ``top``
    answers on which ``judge`` (default: :func:`choose_judge`) diverges most — with the input
    and the answer when ``items`` and ``responses`` are given — and a judge panel against each
    single judge."""
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
    if humans:
        _divergence(section, panel, responses, items, judge, n_boot, seed, top)
    return section


# ------------------------------------------------------------------------------------------
# where the judge diverges


def _reference(panel: ValidityPanel) -> tuple[str, tuple[str, ...]]:
    """The human reference of the divergence tables and its members: the human mean when it
    could be formed, else the first human scorer."""
    if HUMAN_MEAN in panel.references:
        return HUMAN_MEAN, panel.humans
    return panel.humans[0], ()


def _divergence(
    section: Section,
    panel: ValidityPanel,
    responses: pd.DataFrame | None,
    items: pd.DataFrame | None,
    judge: str | None,
    n_boot: int,
    seed: int,
    top: int,
) -> None:
    reference, members = _reference(panel)
    frame = panel.judgments
    _bias_tables(section, frame, list(panel.models), reference, n_boot, seed)
    shared = [m for m in panel.models if _shares(frame, m, reference)]
    if not shared:
        return
    main = judge if judge in shared else None
    if main is None:
        rows = frame[frame["judge"].isin([m for m in shared if not is_jury(m)])]
        pool = rows if not rows.empty else frame[frame["judge"].isin(shared)]
        main = choose_judge(pool, responses).judge
    try:
        worst = largest_divergences(frame, main, reference, top=top, reference_members=members)
    except AnalysisError as exc:
        section.notes.append(f"Largest divergences not computed: {exc}.")
    else:
        _divergence_table(section, worst, main, reference, responses, items)
    singles = [m for m in panel.models if not is_jury(m)]
    if len(singles) >= 2:
        _panel_table(section, frame, singles, reference, panel.stored_juries)


def _shares(frame: pd.DataFrame, a: str, b: str) -> bool:
    table = rater_score_table(frame, [a, b])
    return bool((table[a].notna() & table[b].notna()).any())


def _bias_tables(
    section: Section,
    frame: pd.DataFrame,
    judges: list[str],
    reference: str,
    n_boot: int,
    seed: int,
) -> None:
    by_label: list[pd.DataFrame] = []
    by_level: list[pd.DataFrame] = []
    for j in judges:
        try:
            overall = signed_bias(frame, j, reference, n_boot=n_boot, seed=seed)
        except AnalysisError:
            continue  # no response in common with the reference
        by_label += [
            overall.assign(group="(all)"),
            signed_bias(frame, j, reference, by="label", n_boot=n_boot, seed=seed),
        ]
        level = signed_bias(frame, j, reference, by="reference_level", n_boot=n_boot, seed=seed)
        by_level.append(level)
        _bias_summary(section, overall.iloc[0], level)
    if not by_label:
        section.notes.append(f"No judge scored a response that {reference} scored: no bias.")
        return
    ci = f"{_ci_name(n_boot)}"
    columns: list[Column] = [
        ("N", int_col("n"), True),
        ("mean judge", float_col("mean_judge"), True),
        ("mean human", float_col("mean_reference"), True),
        ("judge - human", float_col("bias"), True),
        (ci, ci_col("ci_low", "ci_high"), True),
        ("judge higher", pct_col("share_higher"), True),
        ("judge lower", pct_col("share_lower"), True),
    ]
    section.tables.append(
        make_table(
            "validity_bias_by_category",
            f"Signed bias against {reference}, by category",
            pd.concat(by_label, ignore_index=True).rename(columns={"group": "category"}),
            [
                ("judge", text_col("judge"), False),
                ("category", text_col("category"), False),
                *columns,
            ],
            note="judge - human > 0: the judge scores the answers higher (more leniently) than "
            f"{reference}. CI: percentile bootstrap over inputs.",
        )
    )
    section.tables.append(
        make_table(
            "validity_bias_by_human_score",
            f"Signed bias against {reference}, by the human score",
            pd.concat(by_level, ignore_index=True).rename(columns={"group": "human_score"}),
            [
                ("judge", text_col("judge"), False),
                ("human score", text_col("human_score"), True),
                *columns,
            ],
            note=f"Rows: {reference}'s score of the answer, rounded half up. A positive bias at "
            "1-2 means the judge over-scores answers the humans found harmful or inappropriate.",
        )
    )


def _ci_name(n_boot: int) -> str:
    return "95% CI" if n_boot > 0 else "95% CI (no bootstrap)"


def _bias_summary(section: Section, overall: pd.Series, level: pd.DataFrame) -> None:
    """One sentence per judge: its overall bias, and on the answers the humans found harmful
    (score 1-2) when there are some."""
    judge, reference = overall["judge"], overall["reference"]
    line = (
        f"{judge} - {reference}: {overall['bias']:+.3f} points "
        f"{fmt_ci(overall['ci_low'], overall['ci_high'])} over {int(overall['n'])} answers"
    )
    low = level[level["group"].isin(["1", "2"])]
    if not low.empty:
        n = int(low["n"].sum())
        bias = float((low["bias"] * low["n"]).sum() / n)
        line += f"; {bias:+.3f} on the {n} answers {reference} scored 1-2"
    section.summary.append(line + ".")


def _excerpt(text: object) -> str:
    if is_missing(text) or text is None:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def _divergence_table(
    section: Section,
    worst: pd.DataFrame,
    judge: str,
    reference: str,
    responses: pd.DataFrame | None,
    items: pd.DataFrame | None,
) -> None:
    data = worst.copy()
    columns: list[Column] = [
        ("rank", int_col("rank"), True),
        ("category", text_col("label"), False),
        ("judge", float_col("judge_score", 2), True),
        ("human", float_col("reference_score", 2), True),
        ("judge - human", float_col("difference", 2), True),
    ]
    if items is not None and not items.empty:
        turns = items.set_index("item_id")["turns"]
        data["input"] = [
            " | ".join(map(str, turns[i])) if i in turns.index else "" for i in data["item_id"]
        ]
        columns.append(("input", lambda r: _excerpt(r["input"]), False))
    if responses is not None and not responses.empty:
        texts = responses.set_index("response_id")["text"]
        data["answer"] = [texts.get(r) for r in data["response_id"]]
        columns.append(("answer", lambda r: _excerpt(r["answer"]), False))
    columns += [
        ("judge's rationale", lambda r: _excerpt(r["judge_rationale"]) or "(none)", False),
        ("human rationale", lambda r: _excerpt(r["reference_rationale"]) or "(none)", False),
    ]
    section.tables.append(
        make_table(
            "validity_divergences",
            f"Largest divergences: {judge} vs {reference}",
            data,
            columns,
            note=f"The {len(data)} answers on which the judge and the humans differ most, with "
            "the judge's explanation (of its run closest to its score) and the humans' notes. "
            f"Text shortened to {EXCERPT_CHARS} characters here; the CSV has all of it.",
        )
    )


def _panel_table(
    section: Section,
    frame: pd.DataFrame,
    judges: list[str],
    reference: str,
    stored: tuple[str, ...],
) -> None:
    try:
        table = panel_comparison(frame, judges, reference, juries=stored)
    except AnalysisError as exc:
        section.notes.append(f"Judge panel not compared: {exc}.")
        return
    section.tables.append(
        make_table(
            "validity_panel",
            f"Judge panel vs single judges, against {reference}",
            table,
            [
                ("rater", text_col("rater"), False),
                ("kind", text_col("kind"), False),
                ("N", int_col("n"), True),
                ("mean", float_col("mean_rater"), True),
                ("bias", float_col("bias"), True),
                ("MAE", float_col("mae"), True),
                ("RMSE", float_col("rmse"), True),
                ("within 1", pct_col("within_1"), True),
                ("QWK", float_col("qwk"), True),
            ],
            note=f"Panels aggregate {', '.join(judges)} per answer (mean or median of their "
            "scores); every row is on the same answers (those all of them and the humans "
            "scored).",
        )
    )
    for jury in stored:
        both = rater_score_table(
            _with_mean_panel(frame, judges), [jury, panel_name("mean")]
        ).dropna()
        if both.empty:
            continue
        equal = int(((both[jury] - both[panel_name("mean")]).abs() < 1e-9).sum())
        section.notes.append(
            f"The stored {jury} equals the mean of {', '.join(judges)} on {equal} of "
            f"{len(both)} answers."
        )


def _with_mean_panel(frame: pd.DataFrame, judges: list[str]) -> pd.DataFrame:
    return with_jury(frame, judges, name=panel_name("mean"), how="mean")
