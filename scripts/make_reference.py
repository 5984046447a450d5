"""Write ``src/crisiseval/reference/study.yaml`` from the study's published results tables.

The study ("Between Help and Harm", doi 10.2196/88435) publishes its test-set results per
respondent (``evaluation_summary.csv``) and per respondent x crisis label
(``evaluation_by_label.csv``, cells written as LaTeX such as ``4.979 \\tiny{$\\pm$ 0.013}``).
The numbers are facts; this script turns them into crisiseval's own reference format (the
tables themselves are never copied into the repository) and is re-run when they change::

    .venv/bin/python scripts/make_reference.py                  # ../shared/data/study-results
    .venv/bin/python scripts/make_reference.py --check          # exit 1 if the file is stale

Labels are canonicalised with the taxonomy's alias table; the results tables spell one label
in a way the table does not know (``substance-use/withdrawal``), mapped here explicitly.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from crisiseval.taxonomy import LABELS, canonical_label

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO.parent / "shared" / "data" / "study-results"
OUT = REPO / "src" / "crisiseval" / "reference" / "study.yaml"
SUMMARY = "evaluation_summary.csv"
BY_LABEL = "evaluation_by_label.csv"

# Spellings of the results tables that the taxonomy's alias table does not know.
_RESULTS_SPELLINGS = {"substance-use/withdrawal": "substance_abuse_or_withdrawal"}

HEADER = """\
# The published test-set results of "Between Help and Harm: An Evaluation of Mental Health Crisis
# Handling by LLMs" (Arnaiz-Rodriguez et al., JMIR Mental Health 2026, doi 10.2196/88435;
# arXiv 2509.24857), per respondent and per respondent x crisis label: facts from the paper's
# results tables, in crisiseval's own format. Written by scripts/make_reference.py; do not edit.
#
# n: answers (input x answer run); mean: mean score (a score is the mean of the judge's runs on
# an answer) with the half-width of its 95% CI (normal approximation over answers); judge_sd:
# mean SD of the judge's runs per answer; harmful_pct: % of answers whose mean score is exactly 1
# (per label with its 95% Wilson interval, in %); bins_pct: % of answers in the bins
# low [1, 7/3), middle [7/3, 11/3), high [11/3, 5].
"""

_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_PLUS_MINUS = re.compile(rf"^\s*{_NUMBER}\s*(?:\\tiny\{{\$\\pm\$\s*{_NUMBER}\s*\}})?\s*$")
_INTERVAL = re.compile(rf"^\s*\[\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\]\s*$")


class ReferenceTableError(ValueError):
    """A cell of the results tables that cannot be read (names the file, row and column)."""


def _num(text: str) -> float:
    value = float(text)
    return value + 0.0  # -0.00 in the tables is 0


def parse_plus_minus(cell: str, where: str) -> tuple[float, float | None]:
    """``4.979 \\tiny{$\\pm$ 0.013}`` -> (4.979, 0.013); a plain number -> (value, None)."""
    m = _PLUS_MINUS.match(cell)
    if m is None:
        raise ReferenceTableError(f"{where}: expected a number or 'x \\tiny{{$\\pm$ y}}': {cell!r}")
    return _num(m.group(1)), None if m.group(2) is None else _num(m.group(2))


def parse_interval(cell: str, where: str) -> list[float]:
    """``[-0.00, 0.72]`` -> [0.0, 0.72]."""
    m = _INTERVAL.match(cell)
    if m is None:
        raise ReferenceTableError(f"{where}: expected an interval '[low, high]': {cell!r}")
    return [_num(m.group(1)), _num(m.group(2))]


def parse_number(cell: str, where: str) -> float:
    value, half = parse_plus_minus(cell, where)
    if half is not None or not math.isfinite(value):
        raise ReferenceTableError(f"{where}: expected a plain number: {cell!r}")
    return value


def parse_count(cell: str, where: str) -> int:
    value = parse_number(cell, where)
    if not value.is_integer() or value < 0:
        raise ReferenceTableError(f"{where}: expected a count: {cell!r}")
    return int(value)


def label_of(raw: str, where: str) -> str:
    label = canonical_label(raw) or _RESULTS_SPELLINGS.get(raw.strip())
    if label is None:
        raise ReferenceTableError(f"{where}: unknown crisis label {raw!r}")
    return label


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise ReferenceTableError(f"{path.name}: missing column(s) {', '.join(missing)}")
            return [(n, row) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise ReferenceTableError(f"{path}: cannot read ({exc.strerror or exc})") from exc


_BINS = (("low", "[0-2.3]"), ("middle", "(2.3-3.6]"), ("high", "(3.6-5]"))


def _bins(row: dict[str, str], where: str) -> dict[str, float]:
    return {name: parse_number(row[col], f"{where}, column {col}") for name, col in _BINS}


def build(results_dir: Path) -> dict[str, Any]:
    """The reference document (plain data, ready for YAML) from the two results tables."""
    summary_cols = (
        "Model",
        "Num examples",
        "Mean Evaluations (mean)",
        "Mean Evaluations (±95%CI)",
        "Mean Std devs (mean)",
        "Mean Std devs (±95%CI)",
        "eval=1",
        *(c for _, c in _BINS),
    )
    models: dict[str, dict[str, Any]] = {}
    for line, row in _rows(results_dir / SUMMARY, summary_cols):
        where = f"{SUMMARY} line {line}"
        name = row["Model"].strip()
        if not name or name in models:
            raise ReferenceTableError(f"{where}: model {name!r} is empty or given twice")
        models[name] = {
            "n": parse_count(row["Num examples"], f"{where}, column Num examples"),
            "mean": parse_number(row["Mean Evaluations (mean)"], f"{where}, mean"),
            "ci_half_width": parse_number(row["Mean Evaluations (±95%CI)"], f"{where}, CI"),
            "judge_sd": parse_number(row["Mean Std devs (mean)"], f"{where}, judge SD"),
            "judge_sd_ci_half_width": parse_number(
                row["Mean Std devs (±95%CI)"], f"{where}, judge SD CI"
            ),
            "harmful_pct": parse_number(row["eval=1"], f"{where}, column eval=1"),
            "bins_pct": _bins(row, where),
            "labels": {},
        }
    label_cols = ("Model", "Label", "N", "Mean Eval", "Mean Std", "eval=1", "eval=1 WI")
    for line, row in _rows(results_dir / BY_LABEL, (*label_cols, *(c for _, c in _BINS))):
        where = f"{BY_LABEL} line {line}"
        name = row["Model"].strip()
        if name not in models:
            raise ReferenceTableError(f"{where}: model {name!r} is not in {SUMMARY}")
        label = label_of(row["Label"], f"{where}, column Label")
        labels = models[name]["labels"]
        if label in labels:
            raise ReferenceTableError(f"{where}: label {label} of {name} is given twice")
        mean, half = parse_plus_minus(row["Mean Eval"], f"{where}, column Mean Eval")
        sd, sd_half = parse_plus_minus(row["Mean Std"], f"{where}, column Mean Std")
        labels[label] = {
            "n": parse_count(row["N"], f"{where}, column N"),
            "mean": mean,
            "ci_half_width": half,
            "judge_sd": sd,
            "judge_sd_ci_half_width": sd_half,
            "harmful_pct": parse_number(row["eval=1"], f"{where}, column eval=1"),
            "harmful_pct_interval": parse_interval(row["eval=1 WI"], f"{where}, eval=1 WI"),
            "bins_pct": _bins(row, where),
        }
    for name, model in models.items():
        order = {lab: i for i, lab in enumerate(LABELS)}
        model["labels"] = dict(sorted(model["labels"].items(), key=lambda kv: order[kv[0]]))
        total = sum(v["n"] for v in model["labels"].values())
        if model["labels"] and total != model["n"]:
            raise ReferenceTableError(
                f"{BY_LABEL}: the labels of {name} add up to {total} answers, {SUMMARY} has "
                f"{model['n']}"
            )
    return {
        "name": "study",
        "title": "Between Help and Harm: the five studied respondents on the test set",
        "citation": (
            "Arnaiz-Rodriguez et al., Between Help and Harm: An Evaluation of Mental Health "
            "Crisis Handling by LLMs, JMIR Mental Health 2026"
        ),
        "doi": "10.2196/88435",
        "judge": "gpt-4o-mini",
        "judge_runs": 3,
        "answer_runs": 3,
        "test_set_records": 2046,
        "models": models,
    }


def render(document: dict[str, Any]) -> str:
    """The YAML text of ``document`` (with the header comment)."""
    body = yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="results tables folder")
    parser.add_argument("--out", type=Path, default=OUT, help="YAML file to write")
    parser.add_argument(
        "--check", action="store_true", help="only compare with --out; exit 1 if it differs"
    )
    args = parser.parse_args(argv)
    try:
        text = render(build(args.results))
    except ReferenceTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run scripts/make_reference.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
