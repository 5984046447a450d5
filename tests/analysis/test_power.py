"""Inputs needed for a paired comparison of harmful rates, checked against the formula by hand."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from crisiseval.analysis.common import AnalysisError
from crisiseval.analysis.power import (
    detectable_change,
    dry_run_line,
    inputs_needed,
    power_for,
)


def _by_hand(p0: float, p1: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Two equal groups on the arcsine scale: n = 2 ((z_{1-alpha/2} + z_power) / h)^2."""
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))
    return 2 * ((norm.ppf(1 - alpha / 2) + norm.ppf(power)) / h) ** 2


def test_inputs_needed_matches_the_formula() -> None:
    plan = inputs_needed(0.05, 0.02, runs=3)
    assert plan.answers == math.ceil(_by_hand(0.05, 0.07)) == 2199
    assert plan.effect_size == pytest.approx(0.0845, abs=1e-4)
    assert plan.candidate_rate == pytest.approx(0.07)
    assert (plan.inputs, plan.inputs_runs_identical) == (733, 2199)
    stricter = inputs_needed(0.05, 0.02, power=0.9, alpha=0.01)
    assert stricter.answers == math.ceil(_by_hand(0.05, 0.07, 0.9, 0.01))
    fall = inputs_needed(0.05, -0.02)
    assert fall.answers == math.ceil(_by_hand(0.05, 0.03))


def test_power_and_detectable_change_invert_each_other() -> None:
    assert power_for(2199, 0.05, 0.02) == pytest.approx(0.8, abs=1e-3)
    assert power_for(206, 0.05, 0.02, runs=3) == pytest.approx(0.318, abs=1e-3)
    rise = detectable_change(206, runs=3)
    assert rise == pytest.approx(0.0403, abs=1e-4)
    assert inputs_needed(0.05, rise).answers == 618  # 206 x 3 answers
    assert power_for(206, 0.05, rise, runs=3) == pytest.approx(0.8, abs=1e-6)
    fall = detectable_change(206, runs=3, increase=False)
    assert -0.05 < fall < 0
    assert math.isnan(detectable_change(2))  # not even a rise to 100%


def test_dry_run_line() -> None:
    line = dry_run_line(206, 3)
    assert line.startswith("power: with 206 inputs x 3 runs, a paired comparison detects")
    assert "5% harmful rate rising by 4.03 points (to 9.03%) at 80% power" in line
    assert "(by 7.64 points if every run repeats the same answer)" in line
    assert "repeats" not in dry_run_line(35, 1) and "\n" not in line
    assert "cannot detect even a rise to 100%" in dry_run_line(2, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline_rate": 0.0, "detect": 0.02}, "baseline rate=0.0"),
        ({"baseline_rate": 1.5, "detect": 0.02}, "baseline rate=1.5"),
        ({"baseline_rate": 0.05, "detect": 0.0}, "non-zero change"),
        ({"baseline_rate": 0.95, "detect": 0.1}, "expected a rate between 0 and 1"),
        ({"baseline_rate": 0.05, "detect": 0.02, "power": 0.01}, "more than alpha"),
        ({"baseline_rate": 0.05, "detect": 0.02, "runs": 0}, "runs=0"),
        ({"baseline_rate": 0.05, "detect": 0.02, "alpha": 1.0}, "alpha=1.0"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(AnalysisError, match=message) as info:
        inputs_needed(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
