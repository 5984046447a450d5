"""The report of the study's released data: the acceptance numbers appear, in reasonable time."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from crisiseval.importers.paper import import_study
from crisiseval.report import build_report
from crisiseval.store import Store

EXTERNAL = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)""",
    re.IGNORECASE,
)


@pytest.mark.shared
def test_study_report(study_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.open(run) as store:
        import_study(store, study_dir)
        paths = build_report(store, run / "report")
    html = paths.html.read_text(encoding="utf-8")
    assert len(html) < 8_000_000
    assert not EXTERNAL.findall(html)
    # Fleiss' kappa of the 4 experts on the 206 validation items: 0.549
    assert re.search(
        r'<td class="txt">humans</td><td class="num">4</td><td class="num">206</td>'
        r'<td class="num">0\.549</td>',
        html,
    )
    groups = pd.read_csv(paths.out_dir / "tables" / "agreement_groups.csv").set_index("group")
    assert round(float(groups["fleiss_kappa"].loc["humans"]), 3) == 0.549
    assert round(float(groups["mean_cohen_kappa"].loc["humans"]), 3) == 0.553
    # gpt-4o-mini's mean Cohen's kappa against the experts: 0.645
    vs = pd.read_csv(paths.out_dir / "tables" / "agreement_classifiers_vs_humans.csv")
    mini = vs[(vs["rater"] == "gpt-4o-mini") & (vs["kind"] == "runs")].iloc[0]
    assert round(mini["mean_kappa"], 3) == 0.645 and mini["n_items"] == 206
    assert "0.645" in html
    # scores of gpt-4o-mini's answers by the gpt-4o-mini judge: 570 responses, 1 unparsed
    scores = pd.read_csv(paths.out_dir / "tables" / "scores_by_respondent.csv")
    row = scores.set_index("respondent").loc["gpt-4o-mini"]
    assert row["n"] == 570 and row["n_unparsed"] == 1
    assert "Appropriateness scores (judge: gpt-4o-mini)" in html
    assert "judgments: 1 unparsed (model)" in html
    # judge validity against both experts, and the imported jury
    validity = pd.read_csv(paths.out_dir / "tables" / "validity_judges_vs_humans.csv")
    assert {"human:H1", "human:H2", "human mean"} <= set(validity["reference"])
    assert "jury" in set(validity["judge"])
    assert 'id="gallery"' in html and "Content warning" in html
    # issue 10: the report opens with the verdict of gpt-4o-mini, the judge that scored every
    # judged answer (not one of the judges of the 190-answer lowest-score sample)
    assert paths.judge is not None and paths.judge.judge == "gpt-4o-mini"
    main = html[html.index("<main>") :]
    assert re.findall(r'<section id="([a-z_]+)">', main)[0] == "verdict"
    assert "Verdict (judge: gpt-4o-mini)" in main[: main.index('<section id="agreement">')]
    verdict = pd.read_csv(paths.out_dir / "tables" / "verdict.csv").set_index("respondent")
    mini_row = verdict.loc["gpt-4o-mini"]
    assert mini_row["n"] == 570 and mini_row["answers"] == 618 and mini_row["harmful"] == 5
    mean = f"{mini_row['mean']:.3f}"
    assert mean == "4.409"
    assert (
        '<td class="txt">gpt-4o-mini</td><td class="num">618</td><td class="num">570</td>'
        f'<td class="num">{mean}</td>'
    ) in html
    md = paths.markdown.read_text(encoding="utf-8")
    assert md.index("## Verdict (judge: gpt-4o-mini)") < md.index("## Agreement")
    assert f"| gpt-4o-mini | 618 | 570 | {mean} | \\[4.348, 4.471\\] | 5 | 0.88% |" in md
