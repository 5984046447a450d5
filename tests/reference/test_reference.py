"""The study as a reference: the shipped numbers, the converter that writes them, a run's
candidate beside them, and the like-for-like checks."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml

from crisiseval.analysis.common import AnalysisError
from crisiseval.errors import InputError
from crisiseval.reference import (
    Reference,
    RunFacts,
    beside_reference,
    like_for_like,
    load_reference,
    reference_names,
    rubric_version_of,
)
from crisiseval.taxonomy import LABELS

SHIPPED = Path(__file__).resolve().parents[2] / "src/crisiseval/reference/study.yaml"
STUDIED = ["deepseek-v3.2", "gpt-4o-mini", "gpt-5-nano", "grok-4-fast", "llama-4-Scout"]


def test_the_study_reference_holds_the_five_respondents() -> None:
    assert reference_names() == ["study"]
    ref = load_reference("study")
    assert list(ref.models) == STUDIED
    assert (ref.judge, ref.test_set_records, ref.doi) == ("gpt-4o-mini", 2046, "10.2196/88435")
    for model in ref.models.values():
        assert list(model.labels) == list(LABELS)  # canonical names, the taxonomy's order
        assert sum(lab.n for lab in model.labels.values()) == model.n == 6132
        assert sum(model.bins_pct.values()) == pytest.approx(100, abs=0.01)
    mini = ref.models["gpt-4o-mini"]
    assert mini.mean == pytest.approx(4.5476, abs=1e-4)
    sh = mini.labels["self_harm"]
    assert (sh.n, sh.mean, sh.ci_half_width, sh.harmful_pct) == (417, 3.748, 0.07, 2.88)
    assert sh.harmful_pct_interval == (1.65, 4.96)
    # "-0.00" in the tables is stored as 0
    assert ref.models["deepseek-v3.2"].labels["anxiety_crisis"].harmful_pct_interval == (0.0, 0.72)


def test_an_unknown_reference_is_a_one_line_error() -> None:
    with pytest.raises(InputError, match=r"unknown reference 'paper' \(known: study\)"):
        load_reference("paper")


def test_the_converter_reads_latex_cells(converter: ModuleType) -> None:
    assert converter.parse_plus_minus(r"4.979 \tiny{$\pm$ 0.013}", "w") == (4.979, 0.013)
    assert converter.parse_plus_minus("4.5", "w") == (4.5, None)
    assert converter.parse_interval("[-0.00, 0.72]", "w") == [0.0, 0.72]
    assert str(converter.parse_interval("[-0.00, 0.72]", "w")[0]) == "0.0"
    assert converter.label_of("substance-use/withdrawal", "w") == "substance_abuse_or_withdrawal"
    assert converter.label_of("Self-Harm", "w") == "self_harm"
    with pytest.raises(converter.ReferenceTableError, match=r"f\.csv line 3: expected a number"):
        converter.parse_plus_minus(r"4.9 \pm 0.1", "f.csv line 3")
    with pytest.raises(converter.ReferenceTableError, match="unknown crisis label 'grief'"):
        converter.label_of("grief", "w")


def _tables(root: Path, *, label_n: int = 3, label: str = "self-harm") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "evaluation_summary.csv").write_text(
        "Model,Num examples,Mean Evaluations (mean),Mean Evaluations (±95%CI),"
        "Mean Std devs (mean),Mean Std devs (±95%CI),eval=1,[0-2.3],(2.3-3.6],(3.6-5]\n"
        "m1,3,4.5,0.1,0.02,0.01,33.3,33.3,0.0,66.7\n",
        encoding="utf-8",
    )
    (root / "evaluation_by_label.csv").write_text(
        "Model,Label,N,Mean Eval,Mean Std,eval=1,eval=1 WI,[0-2.3],(2.3-3.6],(3.6-5]\n"
        f"m1,{label},{label_n},4.500 \\tiny{{$\\pm$ 0.100}},0.020 \\tiny{{$\\pm$ 0.010}},33.30,"
        '"[6.15, 79.23]",33.30,0.00,66.70\n',
        encoding="utf-8",
    )
    return root


def test_the_converter_writes_our_format(converter: ModuleType, tmp_path: Path) -> None:
    document = converter.build(_tables(tmp_path / "ok"))
    text = converter.render(document)
    assert text.startswith("# The published test-set results")
    assert "doi 10.2196/88435" in text
    ref = Reference.model_validate(yaml.safe_load(text))
    lab = ref.models["m1"].labels["self_harm"]
    assert (lab.n, lab.mean, lab.ci_half_width, lab.harmful_pct_interval) == (
        3,
        4.5,
        0.1,
        (6.15, 79.23),
    )
    assert (
        converter.main(["--results", str(tmp_path / "ok"), "--out", str(tmp_path / "o.yaml")]) == 0
    )
    assert (
        converter.main(
            ["--results", str(tmp_path / "ok"), "--out", str(tmp_path / "o.yaml"), "--check"]
        )
        == 0
    )
    with pytest.raises(converter.ReferenceTableError, match="add up to 2 answers"):
        converter.build(_tables(tmp_path / "short", label_n=2))
    with pytest.raises(converter.ReferenceTableError, match="line 2, column Label: unknown"):
        converter.build(_tables(tmp_path / "bad", label="grief"))


@pytest.mark.shared
def test_the_shipped_reference_is_what_the_converter_makes_now(
    converter: ModuleType, results_dir: Path
) -> None:
    made = converter.render(converter.build(results_dir))
    assert SHIPPED.read_text(encoding="utf-8") == made, (
        "src/crisiseval/reference/study.yaml is stale: run scripts/make_reference.py"
    )


def _judgments(rows: list[tuple[str, str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "response_id": f"{who}:{item}:{run}",
                "item_id": item,
                "respondent": who,
                "response_run": run,
                "judge": "j",
                "judge_kind": "model",
                "judge_run": 1,
                "label": label,
                "score": score,
                "status": "ok",
                "explanation": None,
                "origin": "judge",
            }
            for who, item, run, label, score in rows
        ]
    )


def test_the_candidate_stands_beside_the_study() -> None:
    ref = load_reference("study")
    frame = _judgments(
        [
            ("cand", "a", 1, "self_harm", 1.0),
            ("cand", "b", 1, "self_harm", 5.0),
            ("cand", "c", 1, "no_crisis", 5.0),
            ("cand", "d", 1, "no_crisis", 5.0),
            ("other", "a", 1, "self_harm", 3.0),
        ]
    )
    beside = beside_reference(frame, "j", "cand", ref)
    mine = beside[beside["source"] == "run"].set_index("label")
    assert list(mine.index) == ["(all)", "self_harm", "no_crisis"]
    assert mine.loc["(all)", "n"] == 4 and mine.loc["(all)", "mean"] == 4.0
    assert mine.loc["(all)", "harmful_pct"] == 25.0
    assert mine.loc["self_harm", "mean"] == 3.0 and mine.loc["self_harm", "rank"] == 6
    assert mine.loc["no_crisis", "rank"] == 1  # 5.0 beats every studied respondent
    # the labels run in the taxonomy's order; the candidate first within a label
    assert beside["label"].iloc[0] == "(all)" and beside["respondent"].iloc[0] == "cand"
    study = beside[(beside["source"] == "reference") & (beside["label"] == "self_harm")]
    mini = study.set_index("respondent").loc["gpt-4o-mini"]
    assert (mini["mean"], mini["harmful_pct"]) == (3.748, 2.88)
    assert mini["ci_low"] == pytest.approx(3.678) and mini["harmful_high_pct"] == 4.96
    # a candidate named like a studied respondent (the study's own answers) stays apart
    renamed = frame[frame["respondent"] == "cand"].assign(respondent="gpt-4o-mini")
    same = beside_reference(renamed, "j", "gpt-4o-mini", ref)
    first = same.iloc[0]
    assert (first["respondent"], first["source"], first["mean"]) == ("gpt-4o-mini", "run", 4.0)
    assert len(same[same["respondent"] == "gpt-4o-mini"]) == len(mine) + 8
    with pytest.raises(AnalysisError, match="'nobody' has no judged answer"):
        beside_reference(frame, "j", "nobody", ref)


def test_like_for_like_names_every_difference() -> None:
    ref = load_reference("study")
    study_judge = "openai:https://api.openai.com/v1:gpt-4o-mini-2024-07-18"
    same = RunFacts(
        judge="gpt-4o-mini", judge_endpoints=[study_judge], rubric_versions=["r1"], inputs=2046
    )
    assert like_for_like(ref, same, study_rubric=("protocol.csv", "r1")) == []
    out = like_for_like(ref, same)
    assert out == [
        "the rubric could not be checked: give the study's rubric file with --study-rubric"
    ]
    own = like_for_like(ref, same, own_rubric_version="r1")
    assert own[0].startswith("the judge used crisiseval's own rubric")
    other = RunFacts(
        judge="gpt-4o-mini",
        judge_endpoints=["openai:http://127.0.0.1:8000/v1:llama3:8b"],
        rubric_versions=["r2"],
        inputs=206,
    )
    lines = like_for_like(ref, other, study_rubric=("protocol.csv", "r1"))
    assert lines == [
        "the judge gpt-4o-mini does not call gpt-4o-mini, the study's judge: not like for like",
        "the judge's calls used rubric version r2, not the study's (r1, protocol.csv): not like "
        "for like",
        "the candidate answered 206 inputs, not the study's test set of 2,046 records: not like "
        "for like",
    ]
    imported = RunFacts(judge="gpt-4o-mini", imported=True, inputs=2046)
    assert like_for_like(ref, imported) == []  # the study's own judgments
    named = RunFacts(judge="claude", inputs=2046)
    assert like_for_like(ref, named)[0] == (
        "the judge claude is not gpt-4o-mini, the study's judge: not like for like"
    )
    assert "no judge calls of claude are recorded here" in like_for_like(ref, named)[1]
    assert rubric_version_of("judge-v1:abc123:def456") == "abc123"
    assert rubric_version_of("v1") is None
