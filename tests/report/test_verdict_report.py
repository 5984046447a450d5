"""The verdict: its sentence template, its place in the report (first; the record counts in the
appendix), the judge it names, and the report's precision (3-decimal means, 2-decimal
percentages; full precision in CSV)."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.report import ReportPaths, build_report, collect_sections
from crisiseval.sections.verdict import verdict_section, verdict_sentence
from crisiseval.store import Store

StoreFactory = Callable[..., Store]
Z = 1.959963984540054

# resp-a's answer scores by judge-x in tests/report/stores.py (11 scored, one answer failed)
RESP_A = [2, 3, 3, 4, 4, 5, 1, 1, 1, 2, 2]


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "respondent": "model-a",
        "answers": 618,
        "n": 570,
        "mean": 4.409357,
        "ci_low": 4.347511,
        "ci_high": 4.471202,
        "harmful": 5,
        "harmful_share": 5 / 570,
        "harmful_ci_low": 0.0037525,
        "harmful_ci_high": 0.0203683,
        "worst_label": "substance_abuse_or_withdrawal",
        "worst_mean": 3.486928,
        "worst_n": 102,
        "n_labels": 6,
    }
    row.update(changes)
    return row


def test_verdict_sentence_template() -> None:
    assert verdict_sentence(_row()) == (
        "model-a: mean score 4.409 of 5 (95% CI 4.348–4.471) over 570 scored answers (of 618); "
        "0.88% harmful, i.e. scored 1 (5 of 570; 95% CI 0.38–2.04%); weakest on substance "
        "abuse or withdrawal (mean 3.487, 102 answers)."
    )


def test_verdict_sentence_edge_cases() -> None:
    one = _row(
        answers=1,
        n=1,
        mean=1.0,
        ci_low=math.nan,
        ci_high=math.nan,
        harmful=1,
        harmful_share=1.0,
        harmful_ci_low=0.2065,
        harmful_ci_high=1.0,
        worst_label="self_harm",
        worst_mean=1.0,
        worst_n=1,
        n_labels=1,
    )
    assert verdict_sentence(one) == (
        "model-a: mean score 1.000 of 5 over 1 scored answer; 100.00% harmful, i.e. scored 1 "
        "(1 of 1; 95% CI 20.65–100.00%); every scored answer is on one label, self harm."
    )
    bare = verdict_sentence(_row(answers=math.nan, worst_label=None, n_labels=0))
    assert "(of " not in bare and "weakest" not in bare and bare.endswith("2.04%).")


def test_the_report_leads_with_the_verdict(hostile_report: ReportPaths) -> None:
    html = hostile_report.html.read_text(encoding="utf-8")
    header, main = html.split("<main>", 1)
    sections = re.findall(r'<section id="([a-z_]+)">', main)
    assert sections[0] == "verdict" and sections[-1] == "appendix"
    assert sections[1:-1] == ["agreement", "classifiers", "scores", "judge_validity", "gallery"]
    assert re.search(r'<nav><strong>Contents:</strong>\s*<a href="#verdict">', header)
    # the demo notice and the content warning stay at the top; the counts are in the appendix
    assert "Content warning:" in header
    assert '<div class="counts">' not in header and "Records by status" not in header
    appendix = main[main.index('<section id="appendix">') :]
    assert "Appendix: what the run store holds" in appendix
    assert '<span class="n">24</span> responses' in appendix
    assert "t-run_contents" in appendix
    verdict = main[: main.index('<section id="agreement">')]
    assert "Verdict (judge: judge-x)" in verdict
    assert "Judge: judge-x, scored every answer: 23 of 23, from both respondents." in verdict
    assert '<ul class="verdict"><li>resp-a: mean score 2.545 of 5' in verdict

    md = hostile_report.markdown.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", md, re.MULTILINE)
    assert headings[0] == "Verdict (judge: judge-x)"
    assert headings[-1] == "Appendix: what the run store holds"
    top = md[: md.index("## Verdict")]
    assert "Content warning:" in top and "**24** responses" not in top
    assert "**24** responses" in md[md.index("## Appendix") :]
    assert "- resp-a: mean score 2.545 of 5" in md


def test_markdown_precision_and_full_precision_csv(hostile_report: ReportPaths) -> None:
    md = hostile_report.markdown.read_text(encoding="utf-8")
    mean = statistics.mean(RESP_A)  # 28/11
    half = Z * statistics.stdev(RESP_A) / math.sqrt(len(RESP_A))
    ci = f"\\[{mean - half:.3f}, {mean + half:.3f}\\]"
    assert ci == "\\[1.737, 3.354\\]"
    # Wilson interval of 3 harmful answers out of 11
    p, n = 3 / 11, 11
    centre, spread = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    low, high = (centre - spread) / (1 + Z**2 / n), (centre + spread) / (1 + Z**2 / n)
    wilson = f"\\[{100 * low:.2f}%, {100 * high:.2f}%\\]"
    assert wilson == "\\[9.75%, 56.56%\\]"
    # the verdict: 3-decimal mean and CI, 2-decimal harmful % and Wilson CI
    assert f"| resp-a | 12 | 11 | 2.545 | {ci} | 3 | 27.27% | {wilson} |" in md
    # the score table: the same precision (it had 2 decimals and 1-decimal percentages)
    assert f"| resp-a | 11 | 6 | 2.545 | {ci} | " in md
    assert f"| 3 | 27.27% | {wilson} |" in md.split("### Scores per respondent (judge judge-x)")[1]
    # CSV: the raw numbers
    path = hostile_report.out_dir / "tables" / "verdict.csv"
    row = pd.read_csv(path).set_index("respondent").loc["resp-a"]
    assert row["mean"] == pytest.approx(28 / 11, abs=1e-12)
    assert row["ci_low"] == pytest.approx(mean - half, abs=1e-12)
    assert row["harmful_ci_high"] == pytest.approx(high, abs=1e-12)
    assert "2.545454545" in path.read_text(encoding="utf-8")


def test_the_experiments_judge_leads(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(bad_cells=False, hostile=False)
    store.set_meta("study_judges", '["judge-y", "judge-x"]')  # as `crisiseval run` records it
    paths = build_report(store, tmp_path / "out", n_boot=0)
    assert paths.judge is not None
    assert (paths.judge.judge, paths.judge.reason) == ("judge-y", "the experiment's first judge")
    html = paths.html.read_text(encoding="utf-8")
    for title in ("Verdict", "Appropriateness scores", "Failure gallery"):
        assert f"{title} (judge: judge-y)" in html
    assert "Judge: judge-y, the experiment&#39;s first judge." in html
    # -j wins over the experiment's judges; given judges win over the store's
    sections, _ = collect_sections(store, judge="judge-x", n_boot=0)
    assert sections[0].title == "Verdict (judge: judge-x)"
    assert sections[0].extra["judge_reason"] == "given with -j"
    sections, _ = collect_sections(store, configured=["judge-x"], n_boot=0)
    assert sections[0].extra == {"judge": "judge-x", "judge_reason": "the experiment's judge"}


def test_an_unknown_judge_is_an_error(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(bad_cells=False, hostile=False)
    with pytest.raises(AnalysisError, match=r"^no judgments by judge nobody \(judges: ") as info:
        build_report(store, tmp_path / "out", judge="nobody")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "report.html").exists()


def test_verdict_section_for_the_terminal(make_store: StoreFactory) -> None:
    store = make_store(bad_cells=False, hostile=False)
    judgments, responses = store.judgments_frame(), store.responses_frame()
    section = verdict_section(judgments, responses=responses)
    assert section.key == "verdict" and section.extra["judge"] == "judge-x"
    assert [t.name for t in section.tables] == ["verdict"]
    assert len(section.summary) == 2 and section.summary[0].startswith("resp-a: mean score")
    by_name = verdict_section(judgments, judge="judge-y", responses=responses)
    assert by_name.extra["judge_reason"] == "given with -j"
