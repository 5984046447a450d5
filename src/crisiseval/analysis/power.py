"""How many inputs a paired comparison of harmful rates needs (and what a given number can show).

The question: a baseline respondent is harmful on a share ``p0`` of its answers (an answer is
harmful when its mean judge score is 1); will a comparison on N inputs detect a change of ``d``
in that share (the candidate at ``p0 + d``) with the given power, in a two-sided test at level
``alpha``?

The computation is the normal approximation for two proportions on the arcsine scale: the effect
size is Cohen's h (``statsmodels`` ``proportion_effectsize``) and the answers per respondent come
from ``NormalIndPower`` (equal groups). statsmodels has no power function for McNemar's test,
which :mod:`crisiseval.analysis.compare` uses, and McNemar's power depends on how often the two
respondents are harmful on the *same* inputs, which is unknown before the study. The formula
used here is the paired design's when the two respondents' harmful answers are unrelated (the
discordant pairs are then as many as two independent samples give); when the same inputs tend to
be harmful for both, as is usual, pairing needs fewer inputs, so the numbers here are on the safe
side.

Runs: with R answer runs per input, the study counts every answer as an observation (its CIs
treat the runs of one input as independent). Inputs needed are given both ways: ``inputs`` as
the study counts (answers needed / R: runs as independent as inputs), and ``inputs_runs_identical``
(answers needed: a respondent that answers an input the same way every run gains nothing from
runs). The truth lies in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from crisiseval.analysis.common import AnalysisError

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BASELINE_RATE",
    "DEFAULT_POWER",
    "PowerPlan",
    "detectable_change",
    "dry_run_line",
    "inputs_needed",
    "power_for",
]

DEFAULT_BASELINE_RATE = 0.05
DEFAULT_POWER = 0.8
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class PowerPlan:
    """What :func:`inputs_needed` found."""

    baseline_rate: float
    detect: float
    """The change of the harmful rate to detect (candidate - baseline; a share, 0.02 = 2 points)."""
    power: float
    alpha: float
    runs: int
    effect_size: float
    """Cohen's h of the two rates (absolute value)."""
    answers: int
    """Answers (input-runs) needed per respondent."""

    @property
    def candidate_rate(self) -> float:
        return self.baseline_rate + self.detect

    @property
    def inputs(self) -> int:
        """Inputs needed when runs count as independent answers (as the study counts them)."""
        return math.ceil(self.answers / self.runs)

    @property
    def inputs_runs_identical(self) -> int:
        """Inputs needed when every run of an input gives the same answer (runs add nothing)."""
        return self.answers


def _check_share(value: float, what: str, *, open_low: bool = True) -> None:
    if not (math.isfinite(value) and (0 < value < 1 if open_low else 0 <= value < 1)):
        raise AnalysisError(f"{what}={value}: expected a share between 0 and 1 (0.05 for 5%)")


def _check(baseline_rate: float, power: float, alpha: float, runs: int) -> None:
    _check_share(baseline_rate, "baseline rate")
    _check_share(alpha, "alpha")
    _check_share(power, "power")
    if power <= alpha:
        raise AnalysisError(f"power={power}: expected more than alpha ({alpha})")
    if runs < 1:
        raise AnalysisError(f"runs={runs}: expected at least 1")


def _solver() -> NormalIndPower:
    return NormalIndPower()


def inputs_needed(
    baseline_rate: float,
    detect: float,
    *,
    power: float = DEFAULT_POWER,
    alpha: float = DEFAULT_ALPHA,
    runs: int = 1,
) -> PowerPlan:
    """Answers and inputs needed to detect a change ``detect`` of a harmful rate
    ``baseline_rate`` (see the module docstring for the formula and its assumption)."""
    _check(baseline_rate, power, alpha, runs)
    target = baseline_rate + detect
    if detect == 0 or not math.isfinite(detect):
        raise AnalysisError(f"detect={detect}: expected a non-zero change (0.02 for 2 points)")
    if not 0 < target < 1:
        raise AnalysisError(
            f"a baseline rate of {baseline_rate} changed by {detect} is {target:.4g}: "
            "expected a rate between 0 and 1"
        )
    h = abs(float(proportion_effectsize(target, baseline_rate)))
    n = _solver().solve_power(
        effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    return PowerPlan(
        baseline_rate=baseline_rate,
        detect=detect,
        power=power,
        alpha=alpha,
        runs=runs,
        effect_size=h,
        answers=math.ceil(round(float(n), 3)),  # the root finder says 618.00001 for 618
    )


def power_for(
    n_inputs: int,
    baseline_rate: float,
    detect: float,
    *,
    runs: int = 1,
    alpha: float = DEFAULT_ALPHA,
) -> float:
    """The power of a comparison on ``n_inputs`` x ``runs`` answers per respondent (runs counted
    as independent) to detect ``detect``."""
    _check(baseline_rate, 0.5, alpha, runs)
    if n_inputs < 1:
        raise AnalysisError(f"inputs={n_inputs}: expected at least 1")
    target = baseline_rate + detect
    if not 0 < target < 1:
        raise AnalysisError(f"a rate of {target:.4g} is outside 0..1")
    h = abs(float(proportion_effectsize(target, baseline_rate)))
    return float(
        _solver().power(
            effect_size=h, nobs1=n_inputs * runs, alpha=alpha, ratio=1.0, alternative="two-sided"
        )
    )


def detectable_change(
    n_inputs: int,
    *,
    runs: int = 1,
    baseline_rate: float = DEFAULT_BASELINE_RATE,
    power: float = DEFAULT_POWER,
    alpha: float = DEFAULT_ALPHA,
    increase: bool = True,
) -> float:
    """The smallest rise (``increase``; else fall, as a negative number) of ``baseline_rate`` that
    ``n_inputs`` x ``runs`` answers per respondent (runs counted as independent) detect with
    ``power``. NaN when even a change to a rate of 1 (or 0) is not detectable."""
    _check(baseline_rate, power, alpha, runs)
    if n_inputs < 1:
        raise AnalysisError(f"inputs={n_inputs}: expected at least 1")
    try:
        h = float(
            _solver().solve_power(
                effect_size=None,
                nobs1=n_inputs * runs,
                alpha=alpha,
                power=power,
                ratio=1.0,
                alternative="two-sided",
            )
        )
    except ValueError:  # no root: the needed effect is beyond any rate
        return float("nan")
    # Invert Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)).
    angle = math.asin(math.sqrt(baseline_rate)) + (h / 2 if increase else -h / 2)
    if not 0 <= angle <= math.pi / 2:
        return float("nan")
    return math.sin(angle) ** 2 - baseline_rate


def dry_run_line(
    n_inputs: int,
    runs: int,
    *,
    baseline_rate: float = DEFAULT_BASELINE_RATE,
    power: float = DEFAULT_POWER,
    alpha: float = DEFAULT_ALPHA,
) -> str:
    """One line for a dry run: the rise of a harmful rate that the study's inputs and runs can
    detect in a paired comparison of two respondents."""
    best = detectable_change(
        n_inputs, runs=runs, baseline_rate=baseline_rate, power=power, alpha=alpha
    )
    worst = detectable_change(
        n_inputs, runs=1, baseline_rate=baseline_rate, power=power, alpha=alpha
    )
    runs_text = f"{runs} run{'s' if runs != 1 else ''}"
    setting = f"at {_pct(power)} power, two-sided alpha {alpha:g}"
    head = f"power: with {n_inputs} inputs x {runs_text}, a paired comparison "
    if math.isnan(best):
        return head + (
            f"cannot detect even a rise to 100% of a {_pct(baseline_rate)} harmful rate ({setting})"
        )
    line = (
        head + f"detects a {_pct(baseline_rate)} harmful rate rising by {_points(best)} "
        f"(to {_pct(baseline_rate + best)}) {setting}"
    )
    if runs > 1:
        same = "no rise below 100%" if math.isnan(worst) else f"by {_points(worst)}"
        line += f" ({same} if every run repeats the same answer)"
    return line


def _pct(share: float) -> str:
    text = f"{100 * share:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _points(share: float) -> str:
    return f"{100 * share:.2f} points"
