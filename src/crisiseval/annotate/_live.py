"""The admin page's live agreement, computed from the store with the functions the CLI uses:

* labels task: Fleiss' kappa of the annotators (on the items all of them labelled), Cohen's kappa
  of every pair of annotators and of every annotator against every classifier majority
  (:mod:`crisiseval.analysis.agreement`, unusable labels as their own category, as the
  ``agreement`` command counts them);
* scores and conversations tasks: every annotator against every model judge, and annotators
  against each other: N, mean difference, MAE, within 1 and QWK
  (:func:`crisiseval.analysis.judge_validity.compare_raters`).

Each table is a presentation-neutral :class:`~crisiseval.sections.Section` table; a comparison
that cannot be made yet (no item in common) becomes a note.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence

import pandas as pd

from crisiseval.analysis import agreement as ag
from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.judge_validity import compare_raters
from crisiseval.analysis.judges import is_jury
from crisiseval.annotate._answers import human_name
from crisiseval.annotate._model import Task
from crisiseval.sections import Section, fmt_float, fmt_int, fmt_pct, make_table

__all__ = ["live_agreement"]


_Cell = Callable[[pd.Series], str]


def _num(col: str) -> _Cell:
    return lambda row: fmt_float(row[col])


def _int(col: str) -> _Cell:
    return lambda row: fmt_int(row[col])


def _txt(col: str) -> _Cell:
    return lambda row: str(row[col])


def live_agreement(
    task: Task, annotators: Sequence[str], labels: pd.DataFrame, judgments: pd.DataFrame
) -> Section:
    """The agreement tables of the admin page."""
    section = Section(key="live", title="Agreement so far")
    with warnings.catch_warnings():  # a kappa over one category is n/a with a note, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="A single label", category=UserWarning)
        if task == "labels":
            _labels(section, annotators, labels)
        else:
            _scores(section, annotators, judgments)
    if not section.tables and not section.notes:
        section.notes.append("No answers yet.")
    return section


def _labels(section: Section, annotators: Sequence[str], labels: pd.DataFrame) -> None:
    present = set(labels["rater"]) if not labels.empty else set()
    keys = [human_name(a) for a in annotators if human_name(a) in present]
    if not keys:
        return
    if len(keys) >= 2:
        try:
            fleiss = ag.fleiss_kappa(labels, keys, invalid="category")
        except AnalysisError as exc:
            section.notes.append(f"Fleiss' kappa not computed yet: {exc}")
        else:
            data = pd.DataFrame(
                [{"raters": len(keys), "n_items": fleiss.n_items, "value": fleiss.value}]
            )
            section.tables.append(
                make_table(
                    "live_fleiss",
                    "Fleiss' kappa of the annotators",
                    data,
                    [
                        ("annotators", _int("raters"), True),
                        ("items", _int("n_items"), True),
                        ("Fleiss' kappa", _num("value"), True),
                    ],
                    note="On the items every annotator labelled.",
                )
            )
    majorities = sorted(
        str(r) for r in set(labels.loc[labels["rater_kind"] == "majority", "rater"])
    )
    pairs = [*itertools.combinations(keys, 2), *((k, m) for k in keys for m in majorities)]
    rows = []
    for a, b in pairs:
        try:
            res = ag.cohen_kappa(labels, a, b, invalid="category")
        except AnalysisError as exc:
            section.notes.append(f"{a} vs {b}: not compared yet ({exc})")
            continue
        rows.append(res.__dict__)
    if rows:
        section.tables.append(
            make_table(
                "live_cohen",
                "Cohen's kappa",
                pd.DataFrame(rows),
                [
                    ("rater A", _txt("rater_a"), False),
                    ("rater B", _txt("rater_b"), False),
                    ("items", _int("n_items"), True),
                    ("Cohen's kappa", _num("kappa"), True),
                    ("raw agreement", lambda row: fmt_pct(row["agreement"]), True),
                ],
                note="Each pair on the items both labelled; annotators against each other and "
                "against each classifier's majority vote.",
            )
        )


def _scores(section: Section, annotators: Sequence[str], judgments: pd.DataFrame) -> None:
    present = set(judgments["judge"]) if not judgments.empty else set()
    keys = [human_name(a) for a in annotators if human_name(a) in present]
    if not keys:
        return
    model = judgments[judgments["judge_kind"] == "model"]
    judges = sorted(str(j) for j in set(model["judge"]) if not is_jury(str(j)))
    judges += sorted(str(j) for j in set(model["judge"]) if is_jury(str(j)))
    pairs = [*((k, j) for k in keys for j in judges), *itertools.combinations(keys, 2)]
    rows = []
    for a, b in pairs:
        try:
            res = compare_raters(judgments, a, b)
        except AnalysisError as exc:
            section.notes.append(f"{a} vs {b}: not compared yet ({exc})")
            continue
        rows.append({**res.__dict__, "difference": res.mean_b - res.mean_a})
    if rows:
        section.tables.append(
            make_table(
                "live_scores",
                "Annotators against the judges",
                pd.DataFrame(rows),
                [
                    ("annotator", _txt("rater_a"), False),
                    ("compared with", _txt("rater_b"), False),
                    ("N", _int("n"), True),
                    ("B - A", _num("difference"), True),
                    ("MAE", _num("mae"), True),
                    ("within 1", lambda row: fmt_pct(row["within_1"]), True),
                    ("QWK", _num("qwk"), True),
                ],
                note="On the answers both scored; B - A: the mean difference (positive: B scores "
                "higher than the annotator).",
            )
        )
