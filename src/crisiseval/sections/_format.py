"""Shared by the section modules: column formatters, label order, warning silencing, messages."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import pandas as pd

from crisiseval.analysis.raters import label_order
from crisiseval.sections._model import (
    NO_JUDGMENTS,
    NO_LABELS,
    fmt_ci,
    fmt_float,
    fmt_int,
    fmt_pct,
    is_missing,
)

__all__ = [
    "NO_JUDGMENTS",
    "NO_LABELS",
    "ci_col",
    "float_col",
    "int_col",
    "pct_col",
    "quiet",
    "sorted_by_label",
    "text_col",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def quiet(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Silence the libraries' numeric warnings (0/0 of a kappa over one category, a single label
    in a confusion matrix): the values are shown as n/a with a note instead."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", message="A single label", category=UserWarning)
            return fn(*args, **kwargs)

    return wrapper


def float_col(col: str, digits: int = 3) -> Callable[[pd.Series], str]:
    return lambda row: fmt_float(row[col], digits)


def int_col(col: str) -> Callable[[pd.Series], str]:
    return lambda row: fmt_int(row[col])


def text_col(col: str) -> Callable[[pd.Series], str]:
    return lambda row: "" if is_missing(row[col]) else str(row[col])


def pct_col(col: str) -> Callable[[pd.Series], str]:
    return lambda row: fmt_pct(row[col])


def ci_col(
    low: str, high: str, digits: int = 3, *, pct: bool = False
) -> Callable[[pd.Series], str]:
    return lambda row: fmt_ci(row[low], row[high], digits, pct=pct)


def sorted_by_label(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by the columns ``by``, its ``label`` column in the taxonomy's order."""
    order = {lab: i for i, lab in enumerate(label_order(list(frame["label"])))}
    return frame.sort_values(
        list(by), key=lambda s: s.map(order) if s.name == "label" else s
    ).reset_index(drop=True)
