"""The ``gate`` command: pass or fail a candidate respondent against a policy, for CI.

``crisiseval gate POLICY.yaml -d RUN --candidate B [--baseline A]`` reads the run store
(read-only), checks that the candidate's part of the run (and the baseline's, when a rule compares
the two) is finished, evaluates every rule (:mod:`crisiseval.analysis.gate`) and prints a table:
rule, value, what the value is, its 95% CI, threshold, input-runs, pass/fail. Exit codes: 0 every
rule passes, 1 a rule fails, 2 an error (a bad policy, an unfinished run, a missing respondent):
an unfinished run is never a pass. ``--junit FILE`` writes JUnit XML (one test case per rule) and
``--summary FILE`` Markdown for a CI step summary; both are written on a pass, a failure and an
error (then they say what went wrong).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from crisiseval.cli._common import RunDir, RunDirOpt, SeedOpt, atomic_write, out, table_console
from crisiseval.errors import CrisisEvalError

if TYPE_CHECKING:
    from crisiseval.analysis.gate import Evaluation, RuleResult
    from crisiseval.policy import Policy

__all__ = ["gate", "register"]


@dataclass
class _Outcome:
    """What the reports say: who was gated, by which judge, the results or the error."""

    policy_file: Path
    run_dir: Path
    candidate: str
    baseline: str | None
    judge: str | None = None
    judge_reason: str = ""
    evaluation: Evaluation | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.evaluation is not None and self.evaluation.passed

    def headline(self) -> str:
        if self.error is not None:
            return "error"
        assert self.evaluation is not None
        total = len(self.evaluation.results)
        failed = len(self.evaluation.failed)
        if failed:
            return f"failed ({failed} of {total} rule{'s' if total != 1 else ''})"
        return f"passed (all {total} rule{'s' if total != 1 else ''})"


# ------------------------------------------------------------------------------ formatting
def _num(result: RuleResult, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if result.rule.needs_baseline:
        return f"{value:+.3f}"
    return f"{value:.3f}"


def _ci(result: RuleResult) -> str:
    if not (math.isfinite(result.ci_low) and math.isfinite(result.ci_high)):
        return "-"
    return f"[{_num(result, result.ci_low)}, {_num(result, result.ci_high)}]"


def _rule_text(result: RuleResult) -> str:
    rule = result.rule
    text = f"{rule.metric} ({rule.scope()})"
    return f"{rule.name}: {text}" if rule.name else text


def _compared(result: RuleResult) -> str:
    """What ``value`` is: the estimate, or the CI bound a delta rule compares."""
    if result.basis == "estimate":
        return "estimate"
    return f"{result.basis} (estimate {_num(result, result.estimate)})"


def _rows(outcome: _Outcome) -> list[list[str]]:
    assert outcome.evaluation is not None
    return [
        [
            str(r.index),
            _rule_text(r),
            _num(r, r.value),
            _compared(r),
            _ci(r),
            r.rule.threshold_text(),
            str(r.n),
            "pass" if r.passed else "FAIL",
        ]
        for r in outcome.evaluation.results
    ]


_HEADERS = ("#", "rule", "value", "value is", "95% CI", "threshold", "n", "result")
_NUMERIC = (True, False, True, False, False, False, True, False)


def _who(outcome: _Outcome) -> str:
    parts = [f"candidate {outcome.candidate}"]
    if outcome.baseline is not None:
        parts.append(f"baseline {outcome.baseline}")
    if outcome.judge is not None:
        parts.append(f"judge {outcome.judge} ({outcome.judge_reason})")
    return ", ".join(parts)


def _print(outcome: _Outcome) -> None:
    console = table_console()
    console.print(Text(f"gate {outcome.policy_file}: {_who(outcome)}", style="bold"))
    table = Table(show_edge=True)
    for header, numeric in zip(_HEADERS, _NUMERIC, strict=True):
        table.add_column(Text(header), justify="right" if numeric else "left", no_wrap=numeric)
    for row in _rows(outcome):
        style = "green" if row[-1] == "pass" else "bold red"
        table.add_row(*(Text(c) for c in row[:-1]), Text(row[-1], style=style))
    console.print(table)
    for note in outcome.notes:
        console.print(Text("note: " + note, style="yellow"))
    style = "bold green" if outcome.passed else "bold red"
    console.print(Text(f"gate: {outcome.headline()}", style=style))


def _json(outcome: _Outcome) -> str:
    assert outcome.evaluation is not None

    def number(x: float) -> float | None:
        return x if math.isfinite(x) else None

    rules = [
        {
            "index": r.index,
            "name": r.rule.name,
            "metric": r.rule.metric,
            "category": r.rule.category,
            "min": r.rule.min,
            "max": r.rule.max,
            "value": number(r.value),
            "value_is": r.basis,
            "estimate": number(r.estimate),
            "ci_low": number(r.ci_low),
            "ci_high": number(r.ci_high),
            "n": r.n,
            "passed": r.passed,
        }
        for r in outcome.evaluation.results
    ]
    doc: dict[str, Any] = {
        "policy": str(outcome.policy_file),
        "candidate": outcome.candidate,
        "baseline": outcome.baseline,
        "judge": outcome.judge,
        "judge_reason": outcome.judge_reason,
        "passed": outcome.passed,
        "rules": rules,
        "notes": outcome.notes,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1)


def _md(text: str) -> str:
    """User text (names, paths) safe inside a Markdown table cell: no HTML, no markup."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return "".join("\\" + c if c in "\\`*_[]|#~" else c for c in text)


def junit_xml(outcome: _Outcome) -> str:
    """JUnit XML: one test case per rule (a ``failure`` element when it fails); on an error,
    one test case ``gate`` with an ``error`` element."""
    suite_name = f"crisiseval gate: {outcome.candidate}"
    props = {
        "policy": str(outcome.policy_file),
        "run_dir": str(outcome.run_dir),
        "candidate": outcome.candidate,
        "baseline": outcome.baseline or "",
        "judge": outcome.judge or "",
    }
    cases: list[ET.Element] = []
    failures = errors = 0
    if outcome.error is not None:
        errors = 1
        case = ET.Element("testcase", classname="crisiseval.gate", name="gate", time="0")
        ET.SubElement(case, "error", message=outcome.error, type="error").text = outcome.error
        cases.append(case)
    else:
        assert outcome.evaluation is not None
        for r in outcome.evaluation.results:
            name = f"rules[{r.index}] {r.rule.describe()}"
            case = ET.Element("testcase", classname="crisiseval.gate", name=name, time="0")
            detail = f"{r.verdict()}; estimate {_num(r, r.estimate)}, 95% CI {_ci(r)}, n {r.n}"
            if not r.passed:
                failures += 1
                ET.SubElement(case, "failure", message=r.verdict(), type="threshold").text = detail
            else:
                ET.SubElement(case, "system-out").text = detail
            cases.append(case)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", {"name": "crisiseval gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts, "skipped": "0"})
    properties = ET.SubElement(suite, "properties")
    for key, value in props.items():
        ET.SubElement(properties, "property", name=key, value=value)
    suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def summary_markdown(outcome: _Outcome) -> str:
    """Markdown for a CI step summary: the verdict, who was gated, the table, the notes."""
    mark = "✅" if outcome.passed else "❌"
    lines = [f"### {mark} crisiseval gate: {outcome.headline()}", ""]
    who = [f"candidate **{_md(outcome.candidate)}**"]
    if outcome.baseline is not None:
        who.append(f"baseline **{_md(outcome.baseline)}**")
    if outcome.judge is not None:
        who.append(f"judge **{_md(outcome.judge)}** ({_md(outcome.judge_reason)})")
    who.append(f"policy {_md(str(outcome.policy_file))}")
    lines += [", ".join(who), ""]
    if outcome.error is not None:
        lines += [f"**Error:** {_md(outcome.error)}", ""]
    else:
        align = {True: "--:", False: "---"}
        lines.append("| " + " | ".join(_HEADERS) + " |")
        lines.append("|" + "|".join(align[n] for n in _NUMERIC) + "|")
        for row in _rows(outcome):
            cells = [_md(c) for c in row]
            cells[-1] = "✅ pass" if row[-1] == "pass" else "❌ **fail**"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"- {_md(note)}" for note in outcome.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _write_reports(outcome: _Outcome, junit: Path | None, summary: Path | None) -> None:
    if junit is not None:
        atomic_write(junit, junit_xml(outcome))
    if summary is not None:
        atomic_write(summary, summary_markdown(outcome))


# ------------------------------------------------------------------------------ the command
def _evaluate(outcome: _Outcome, policy: Policy, judge: str | None, n_boot: int, seed: int) -> None:
    """Fill ``outcome`` from the store (judge, results, notes); errors are raised."""
    import dataclasses

    from crisiseval.analysis.common import AnalysisError
    from crisiseval.analysis.gate import check_finished, evaluate, run_gaps
    from crisiseval.analysis.judges import choose_judge

    policy.require_baseline(outcome.baseline, where=outcome.policy_file)
    if outcome.baseline is not None and outcome.baseline == outcome.candidate:
        raise AnalysisError(f"--baseline and --candidate are both {outcome.candidate!r}")
    with RunDir(outcome.run_dir).reader() as store:
        judgments = store.judgments_frame()
        responses = store.responses_frame()
        respond_cells = store.cells_frame("respond")
        judge_cells = store.cells_frame("judge")
        classify_cells = store.cells_frame("classify")
        configured = store.configured_judges()
    if judgments.empty:
        raise AnalysisError(
            f"{outcome.run_dir}: no judgments in this run (run the judge stage first)"
        )
    requested = judge or policy.judge
    try:
        choice = choose_judge(judgments, responses, configured=configured, requested=requested)
    except AnalysisError as exc:
        if judge is None and policy.judge is not None:  # name where the judge came from
            raise AnalysisError(f"{outcome.policy_file}: judge: {exc}") from None
        raise
    if judge is None and policy.judge is not None:
        choice = dataclasses.replace(choice, reason="the policy's judge")
    elif judge is not None and policy.judge not in (None, judge):
        choice = dataclasses.replace(
            choice, reason=f"given with -j, not the policy's {policy.judge}"
        )
    outcome.judge, outcome.judge_reason = choice.judge, choice.reason

    who = {outcome.candidate: "candidate"}
    if policy.baseline_rules() and outcome.baseline is not None:
        who[outcome.baseline] = "baseline"
    elif outcome.baseline is not None:
        outcome.notes.append(f"--baseline {outcome.baseline} not used: no rule compares the two")
    gaps = [
        run_gaps(
            name,
            choice.judge,
            responses=responses,
            judgments=judgments,
            respond_cells=respond_cells,
            judge_cells=judge_cells,
            classify_cells=classify_cells,
        )
        for name in who
    ]
    check_finished(gaps, who)
    for g in gaps:
        if g.no_label:
            outcome.notes.append(
                f"{g.no_label} answer(s) of {g.respondent} left out: their input has no crisis "
                f"label, so {g.judge} did not judge them"
            )
        if g.unparsed:
            outcome.notes.append(
                f"{g.unparsed} answer(s) of {g.respondent} left out: every judgment by "
                f"{g.judge} was unparsed"
            )
    evaluation = evaluate(
        policy,
        judgments,
        judge=choice.judge,
        candidate=outcome.candidate,
        baseline=outcome.baseline,
        n_boot=n_boot,
        seed=seed,
    )
    if evaluation.dropped:
        outcome.notes.append(
            f"delta rules: {evaluation.pairs} input-runs paired; {evaluation.dropped} scored for "
            "only one of candidate and baseline were left out"
        )
    outcome.evaluation = evaluation


def gate(
    policy_file: Annotated[
        Path, typer.Argument(help="The policy (YAML): an optional judge and the rules.")
    ],
    candidate: Annotated[
        str, typer.Option("--candidate", help="The respondent to gate (its name in the run).")
    ],
    run_dir: RunDirOpt = Path("."),
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="The respondent to compare with (needed by the *_delta rules)."
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            "-j",
            help="Judge whose scores count (default: the policy's judge, else as in `scores`).",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (one test case per rule).")
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help='Write Markdown here (e.g. "$GITHUB_STEP_SUMMARY").'),
    ] = None,
    n_boot: Annotated[
        int,
        typer.Option("--boot", min=100, help="Bootstrap resamples of inputs (delta rules)."),
    ] = 2000,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Pass or fail a candidate against a policy's rules: exit 0 pass, 1 fail, 2 error."""
    from crisiseval.policy import load_policy

    outcome = _Outcome(policy_file, run_dir, candidate, baseline)
    try:
        _evaluate(outcome, load_policy(policy_file), judge, n_boot, seed)
    except CrisisEvalError as exc:
        outcome.error = str(exc)
        # The reports say why (a CI summary shows it); the error itself is what exits 2.
        with contextlib.suppress(CrisisEvalError):
            _write_reports(outcome, junit, summary)
        raise
    _write_reports(outcome, junit, summary)
    if as_json:
        out.print(_json(outcome), markup=False, highlight=False, soft_wrap=True)
    else:
        _print(outcome)
    if not outcome.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(gate)
