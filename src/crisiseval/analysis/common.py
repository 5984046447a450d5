"""Shared pieces of the analysis: its error, rater keys, half-up rounding, input checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from crisiseval.errors import CrisisEvalError

__all__ = [
    "AnalysisError",
    "is_missing",
    "rater_key",
    "require_columns",
    "round_half_up",
    "split_rater_key",
]


class AnalysisError(CrisisEvalError):
    """The data cannot support the requested statistic (nothing to compare, a rater missing)."""


def is_missing(value: object) -> bool:
    """None, NaN, NA or NaT (and nothing else)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(cast(Any, value)))
    except (TypeError, ValueError):
        return False


def rater_key(rater: str, run_index: int) -> str:
    """A rater's display key: ``gpt-4o-mini#1`` for run 1, the plain name for run 0."""
    return rater if int(run_index) == 0 else f"{rater}#{int(run_index)}"


def split_rater_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`rater_key`."""
    name, sep, run = key.rpartition("#")
    if sep and run.isdigit():
        return name, int(run)
    return key, 0


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"{what}: the frame lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, frame.columns)) or 'none'})"
        )


def round_half_up(values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Round to the nearest integer, halves up (2.5 -> 3, 3.5 -> 4), unlike numpy's half-even.

    A tiny tolerance puts float means such as 2.4999999999999996 (a true 2.5) on the half.
    """
    arr = np.asarray(values, dtype=float)
    return np.floor(arr + 0.5 + 1e-9).astype(np.int64)
