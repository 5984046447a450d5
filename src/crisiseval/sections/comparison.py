"""Section "Comparison": a candidate against a baseline on the same inputs and runs, per pair of
respondents (:func:`crisiseval.analysis.compare.comparison_pairs`: the pair asked for, else
every respondent of the experiment against its first): the paired differences of mean scores
and harmful rates with their CIs and McNemar tests, the change of score-bin shares, the inputs
that got most worse (both answers; dataset text, escaped by the renderers) and a paired plot per
category."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.compare import (
    ALL,
    Paired,
    compare,
    comparison_pairs,
    paired_scores,
    worst_changes,
)
from crisiseval.analysis.raters import label_order
from crisiseval.analysis.scores import BINS
from crisiseval.sections._format import NO_JUDGMENTS, int_col, quiet, text_col
from crisiseval.sections._model import (
    NA,
    Column,
    FigureSpec,
    NoDataError,
    Section,
    Table,
    fmt_float,
    fmt_pct,
    is_missing,
    make_table,
)
from crisiseval.sections._registry import SectionInputs, section

__all__ = [
    "REPORT_WORST",
    "bins_table",
    "comparison_section",
    "difference_table",
    "fmt_p",
    "fmt_signed",
    "fmt_signed_ci",
    "fmt_signed_pp",
    "ordered",
    "paired_figure",
    "pairing_line",
    "worst_inputs",
    "worst_table",
]

REPORT_WORST = 5
"""Inputs that got most worse, shown per pair in the report."""
_TEXT_CHARS = 600
"""Dataset text shown per cell of the worst-inputs table (the CSV keeps it whole)."""

NO_PAIR = (
    "no pair to compare: the experiment file names fewer than two respondents (name a pair with "
    "`crisiseval report --baseline A --candidate B`)"
)


@section("comparison", title="Comparison", order=25, requires=("judgments",))
def _report_section(inputs: SectionInputs) -> Section:
    pairs = comparison_pairs(inputs.respondents, inputs.baseline, inputs.candidate)
    if not pairs:
        raise NoDataError(NO_PAIR)
    responses = inputs.responses
    texts = dict(zip(responses["response_id"], responses["text"], strict=True))
    items = inputs.items
    turns = dict(zip(items["item_id"], items["turns"], strict=True))
    return comparison_section(
        inputs.judgments,
        judge=inputs.main_judge,
        pairs=pairs,
        texts=texts,
        turns=turns,
        n_boot=inputs.n_boot,
        seed=inputs.seed,
        top=REPORT_WORST,
    )


# ------------------------------------------------------------------------------ formatting
def _clean(value: float, digits: int) -> float:
    return round(value, digits) + 0.0  # no "-0.000"


def fmt_signed(value: object, digits: int = 3) -> str:
    """A difference with its sign: ``+0.125``, ``-1.200``; ``n/a`` when undefined."""
    if is_missing(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        return NA
    return f"{_clean(float(value), digits):+.{digits}f}"  # type: ignore[arg-type]


def fmt_signed_pp(value: object, digits: int = 2) -> str:
    """A difference of shares in percentage points: ``+2.50 pp``."""
    if is_missing(value):
        return NA
    return f"{fmt_signed(100 * float(value), digits)} pp"  # type: ignore[arg-type]


def fmt_signed_ci(low: object, high: object, digits: int = 3, *, pp: bool = False) -> str:
    """``[-1.500, -0.900]`` (``pp``: shares as ``[-1.00, +5.00] pp``)."""
    if is_missing(low) or is_missing(high):
        return NA
    scale = 100.0 if pp else 1.0
    ends = [fmt_signed(scale * float(v), digits) for v in (low, high)]  # type: ignore[arg-type]
    if NA in ends:
        return NA
    return f"[{ends[0]}, {ends[1]}]" + (" pp" if pp else "")


def fmt_p(value: object) -> str:
    """A p-value to 3 significant digits (``0.0312``, ``1``, ``4.2e-05``)."""
    if is_missing(value):
        return NA
    return f"{float(value):.3g}"  # type: ignore[arg-type]


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table with the overall row first, then the categories in the taxonomy's
    order."""
    cats = [lab for lab in table["label"] if lab != ALL]
    order = {lab: i for i, lab in enumerate([ALL, *label_order(cats)])}
    return table.sort_values("label", key=lambda s: s.map(order), kind="mergesort").reset_index(
        drop=True
    )


# ------------------------------------------------------------------------------ tables
def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def pairing_line(paired: Paired) -> str:
    """How many inputs were paired and how many dropped, in one sentence."""
    line = (
        f"{paired.candidate} (candidate) vs {paired.baseline} (baseline), judge {paired.judge}: "
        f"{_n(len(paired.pairs), 'input-run')} paired on {_n(paired.n_inputs, 'input')}"
    )
    if paired.dropped:
        line += (
            f"; {_n(paired.dropped, 'input-run')} dropped because one side has no score (a "
            f"failed or missing answer or judgment): {paired.only_baseline} scored for the "
            f"baseline only, {paired.only_candidate} for the candidate only"
        )
        if paired.dropped_inputs:
            line += f" ({_n(paired.dropped_inputs, 'input')} without any paired run)"
    else:
        line += "; none dropped"
    return line + "."


def difference_table(name: str, title: str, table: pd.DataFrame, *, note: str = "") -> Table:
    """Paired differences per category (rows of :func:`crisiseval.analysis.compare.compare`)."""
    columns: list[Column] = [
        ("label", text_col("label"), False),
        ("pairs", int_col("n_pairs"), True),
        ("inputs", int_col("n_inputs"), True),
        ("mean base", lambda r: fmt_float(r["mean_base"]), True),
        ("mean cand", lambda r: fmt_float(r["mean_cand"]), True),
        ("Δ mean", lambda r: fmt_signed(r["mean_diff"]), True),
        ("Δ mean 95% CI", lambda r: fmt_signed_ci(r["mean_diff_low"], r["mean_diff_high"]), True),
        ("harmful base", lambda r: fmt_pct(r["harmful_base"]), True),
        ("harmful cand", lambda r: fmt_pct(r["harmful_cand"]), True),
        ("Δ harmful", lambda r: fmt_signed_pp(r["harmful_diff"]), True),
        (
            "Δ harmful 95% CI",
            lambda r: fmt_signed_ci(r["harmful_diff_low"], r["harmful_diff_high"], 2, pp=True),
            True,
        ),
        ("worse", int_col("worse"), True),
        ("better", int_col("better"), True),
        ("McNemar p", lambda r: fmt_p(r["mcnemar_p"]), True),
        ("Holm p", lambda r: fmt_p(r["mcnemar_p_holm"]) if r["label"] != ALL else "", True),
    ]
    return make_table(name, title, ordered(table), columns, note=note)


def bins_table(name: str, title: str, table: pd.DataFrame) -> Table:
    """Score-bin shares of both respondents per category, and their change."""

    def share(col: str) -> Callable[[pd.Series], str]:
        return lambda r: fmt_pct(r[col])

    def change(b: str) -> Callable[[pd.Series], str]:
        return lambda r: fmt_signed_pp(r[f"{b}_cand"] - r[f"{b}_base"])

    columns: list[Column] = [("label", text_col("label"), False)]
    for b in BINS:
        columns += [
            (f"{b} base", share(f"{b}_base"), True),
            (f"{b} cand", share(f"{b}_cand"), True),
            (f"Δ {b}", change(b), True),
        ]
    keep = ["label", *(f"{b}_{who}" for b in BINS for who in ("base", "cand"))]
    return make_table(name, title, ordered(table).loc[:, keep], columns)


def worst_inputs(
    paired: Paired,
    texts: Mapping[str, object],
    turns: Mapping[str, Sequence[str]],
    k: int,
) -> pd.DataFrame:
    """The ``k`` inputs whose score dropped most (:func:`worst_changes`, one run per input) with
    the input's turns and both answers. Columns: label, item_id, response_run, base, cand,
    change, turns (list), base_text, cand_text (dataset text: escape when shown)."""
    worst = worst_changes(paired, k)

    def text(rid: object) -> str:
        value = texts.get(str(rid))
        return "" if is_missing(value) else str(value)

    return pd.DataFrame(
        {
            "label": worst["label"].astype(str),
            "item_id": worst["item_id"].astype(str),
            "response_run": worst["response_run"].astype(int),
            "base": worst["base"].astype(float),
            "cand": worst["cand"].astype(float),
            "change": worst["change"].astype(float),
            "turns": [list(turns.get(str(i), [])) for i in worst["item_id"]],
            "base_text": [text(r) for r in worst["base_response_id"]],
            "cand_text": [text(r) for r in worst["cand_response_id"]],
        }
    )


def _short(text: str) -> str:
    return text if len(text) <= _TEXT_CHARS else text[: _TEXT_CHARS - 1] + "…"


def worst_table(name: str, title: str, worst: pd.DataFrame) -> Table:
    """The worst inputs with both answers side by side (text cut to 600 characters; the CSV
    keeps it whole)."""
    data = worst.assign(turns=[" | ".join(map(str, t)) for t in worst["turns"]])
    columns: list[Column] = [
        ("label", text_col("label"), False),
        ("item", text_col("item_id"), False),
        ("run", int_col("response_run"), True),
        ("base", lambda r: fmt_float(r["base"]), True),
        ("cand", lambda r: fmt_float(r["cand"]), True),
        ("change", lambda r: fmt_signed(r["change"]), True),
        ("input", lambda r: _short(str(r["turns"])), False),
        ("baseline's answer", lambda r: _short(str(r["base_text"])), False),
        ("candidate's answer", lambda r: _short(str(r["cand_text"])), False),
    ]
    return make_table(name, title, data, columns)


def paired_figure(name: str, table: pd.DataFrame, paired: Paired) -> FigureSpec:
    """The ``paired_categories`` figure of one pair: per category both means and the paired
    differences with their CIs."""
    rows = ordered(table)
    return FigureSpec(
        name,
        f"{paired.candidate} vs {paired.baseline} per category",
        "paired_categories",
        {
            "categories": [str(lab) for lab in rows["label"]],
            "n_pairs": [int(n) for n in rows["n_pairs"]],
            "mean_base": list(rows["mean_base"].astype(float)),
            "mean_cand": list(rows["mean_cand"].astype(float)),
            "mean_diff": list(rows["mean_diff"].astype(float)),
            "mean_low": list(rows["mean_diff_low"].astype(float)),
            "mean_high": list(rows["mean_diff_high"].astype(float)),
            "harmful_diff": list(rows["harmful_diff"].astype(float)),
            "harmful_low": list(rows["harmful_diff_low"].astype(float)),
            "harmful_high": list(rows["harmful_diff_high"].astype(float)),
            "baseline": paired.baseline,
            "candidate": paired.candidate,
            "title": f"{paired.candidate} (candidate) vs {paired.baseline} (baseline), "
            f"judge {paired.judge}",
        },
        caption="Left: mean score of each respondent on the paired input-runs (open: baseline, "
        "filled: candidate). Middle and right: the paired difference candidate − baseline of "
        "the mean score and of the harmful rate, with 95% bootstrap CIs over inputs.",
    )


# ------------------------------------------------------------------------------ the section
_INTRO = (
    "Each candidate against its baseline on the same inputs and answer runs (an input-run "
    "missing for either is dropped, and counted). Δ = candidate − baseline. 95% CIs: paired "
    "bootstrap resampling inputs ({n_boot} resamples, seed {seed}). Harmful: an input-run whose "
    "mean judge score is exactly 1; worse / better: input-runs harmful for the candidate only / "
    "for the baseline only, tested with an exact McNemar test, Holm-adjusted across categories. "
    "Categories are the labels the answers were judged under."
)


@quiet
def comparison_section(
    judgments: pd.DataFrame,
    *,
    judge: str,
    pairs: Sequence[tuple[str, str]],
    texts: Mapping[str, object] | None = None,
    turns: Mapping[str, Sequence[str]] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    top: int = REPORT_WORST,
) -> Section:
    """Every (baseline, candidate) pair of ``pairs`` compared under ``judge``: a pairing
    sentence, the differences table, the score-bin table, the ``top`` inputs that got most worse
    (with both answers when ``texts`` — response id → answer — and ``turns`` — item id → its
    turns — are given) and the paired figure. A pair that cannot be compared is a note; when no
    pair can, :class:`NoDataError`."""
    if judgments.empty:
        raise NoDataError(NO_JUDGMENTS)
    if not pairs:
        raise NoDataError(NO_PAIR)
    result = Section(
        key="comparison",
        title=f"Comparison (judge: {judge})",
        intro=_INTRO.format(n_boot=n_boot, seed=seed),
        extra={"judge": judge, "pairs": list(pairs)},
    )
    if n_boot <= 0:
        result.notes.append("Bootstrap intervals were not computed (n_boot = 0).")
    problems: list[str] = []
    for i, (baseline, candidate) in enumerate(pairs, 1):
        try:
            paired = paired_scores(judgments, judge, baseline, candidate)
            table = compare(paired, n_boot=n_boot, seed=seed)
        except AnalysisError as exc:
            problems.append(f"{candidate} vs {baseline}: {exc}")
            continue
        result.summary.append(pairing_line(paired))
        stem = "comparison" if len(pairs) == 1 else f"comparison_{i}"
        who = f"candidate {candidate} − baseline {baseline}"
        result.tables.append(difference_table(stem, f"Paired differences: {who}", table))
        result.tables.append(bins_table(f"{stem}_bins", f"Score bins: {who}", table))
        if texts is not None and turns is not None and top > 0:
            worst = worst_inputs(paired, texts, turns, top)
            if worst.empty:
                result.notes.append(f"{candidate} scored lower than {baseline} on no input.")
            else:
                result.tables.append(
                    worst_table(
                        f"{stem}_worst",
                        f"Inputs that got most worse: {who} (dataset text)",
                        worst,
                    )
                )
                result.extra["quotes"] = True
        result.figures.append(paired_figure(stem, table, paired))
    result.notes += problems
    if not result.tables:
        raise NoDataError("; ".join(problems))
    return result
