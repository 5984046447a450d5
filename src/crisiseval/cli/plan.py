"""``crisiseval plan``: how many inputs a paired comparison needs (statistical power)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.text import Text

from crisiseval.cli._common import json_value, print_json, table_console
from crisiseval.errors import InputError


def plan(
    baseline_rate: Annotated[
        float,
        typer.Option("--baseline-rate", help="The baseline's harmful rate, a share (0.05 for 5%)."),
    ] = 0.05,
    detect: Annotated[
        float | None,
        typer.Option(
            "--detect",
            help="The change of the harmful rate to detect, a share (0.02: from 5% to 7%; "
            "negative for a fall).",
        ),
    ] = None,
    power: Annotated[float, typer.Option("--power", help="Power wanted.")] = 0.8,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Answer runs per input.")] = 1,
    inputs: Annotated[
        int | None,
        typer.Option(
            "--inputs", min=1, help="Also: the power these many inputs have, and what they detect."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many inputs a paired comparison of harmful rates needs to detect a change at the
    given power (and, with --inputs, what a number of inputs can detect).

    Method: the normal approximation for two proportions on the arcsine scale (statsmodels
    NormalIndPower with Cohen's h). statsmodels has no power function for McNemar's test, whose
    power depends on how often both respondents are harmful on the same input (unknown before
    the study); this formula is the paired design's when the two respondents' harmful answers
    are unrelated, and asks for more inputs than needed when they fall on the same inputs. With
    several runs, the inputs are given twice: runs counted as independent answers (as the study
    counts them) and runs that repeat the same answer (runs then add nothing)."""
    from crisiseval.analysis.power import detectable_change, inputs_needed, power_for

    if detect is None and inputs is None:
        raise InputError("give --detect (the change to detect), --inputs, or both")
    document: dict[str, Any] = {
        "baseline_rate": baseline_rate,
        "power": power,
        "alpha": alpha,
        "runs": runs,
        "method": "NormalIndPower (statsmodels), Cohen's h, two-sided",
    }
    lines: list[str] = []
    if detect is not None:
        p = inputs_needed(baseline_rate, detect, power=power, alpha=alpha, runs=runs)
        document.update(
            detect=detect,
            candidate_rate=p.candidate_rate,
            effect_size_h=p.effect_size,
            answers_needed=p.answers,
            inputs_needed=p.inputs,
            inputs_needed_runs_identical=p.inputs_runs_identical,
        )
        lines.append(
            f"harmful rate {_pct(baseline_rate)} (baseline) → {_pct(p.candidate_rate)} "
            f"(candidate), a change of {100 * detect:+.2f} points, at {_pct(power)} power, "
            f"two-sided alpha {alpha:g}:"
        )
        lines.append(
            f"  answers needed per respondent: {p.answers:,} (Cohen's h {p.effect_size:.4f})"
        )
        if runs > 1:
            lines.append(
                f"  inputs needed with {runs} runs: {p.inputs:,} if the runs of an input count as "
                f"independent answers (as the study counts them); {p.inputs_runs_identical:,} if "
                "every run repeats the same answer"
            )
        else:
            lines.append(f"  inputs needed (1 run each): {p.inputs:,}")
    if inputs is not None:
        up = detectable_change(
            inputs, runs=runs, baseline_rate=baseline_rate, power=power, alpha=alpha
        )
        document.update(inputs=inputs, detectable_rise=json_value(up))
        setting = f"with {inputs:,} inputs x {runs} run{'s' if runs != 1 else ''}"
        if math.isnan(up):
            found = f"  {setting}: even a rise to 100% is not detected at {_pct(power)} power"
        else:
            found = (
                f"  {setting}: the smallest rise detected at {_pct(power)} power is "
                f"{100 * up:.2f} points (to {_pct(baseline_rate + up)})"
            )
        if detect is not None:
            achieved = power_for(inputs, baseline_rate, detect, runs=runs, alpha=alpha)
            document["power_for_inputs"] = achieved
            found += f"; the power to detect {100 * detect:+.2f} points is {_pct(achieved)}"
        lines.append(found)
    if as_json:
        print_json(document)
        return
    console = table_console()
    console.print(
        Text(
            "Paired comparison of harmful rates (an answer is harmful when its mean "
            "judge score is 1)",
            style="bold",
        )
    )
    for line in lines:
        console.print(Text(line), soft_wrap=True)
    console.print(
        Text(
            "method: normal approximation on the arcsine scale (statsmodels NormalIndPower, "
            "Cohen's h); it matches the paired (McNemar) comparison when the two respondents' "
            "harmful answers are unrelated and is on the safe side when they fall on the same "
            "inputs.",
            style="dim",
        ),
        soft_wrap=True,
    )


def _pct(share: float) -> str:
    return f"{100 * share:.2f}%"
