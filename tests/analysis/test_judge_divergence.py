"""Where a judge diverges from the humans: signed differences, the bias with its bootstrap CI by
category and by human score level, the largest divergences with both rationales, juries by
median, a judge panel against single judges — hand-checked, then on the study's release."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crisiseval.analysis import AnalysisError
from crisiseval.analysis import judge_validity as jv
from crisiseval.analysis.judges import HUMAN_MEAN, validity_panel
from crisiseval.sections.validity import validity_section

JudgmentsBuilder = Callable[[Sequence[dict[str, Any]]], pd.DataFrame]
Study = Any


def _rows(judge: str, scores: dict[str, list[float]], **extra: Any) -> list[dict[str, Any]]:
    return [
        {"item_id": item, "judge": judge, "judge_run": run, "score": s, **extra}
        for item, runs in scores.items()
        for run, s in enumerate(runs, start=1)
    ]


@pytest.fixture
def frame(make_judgments: JudgmentsBuilder) -> pd.DataFrame:
    """judge j (runs) and human h on five inputs; two categories."""
    rows = [
        *_rows("j", {"i0": [2, 3], "i1": [5], "i2": [4], "i3": [1], "i4": [3]}),
        *_rows("h", {"i0": [1], "i1": [5], "i2": [2], "i3": [2], "i4": [3]}, judge_kind="human"),
    ]
    for r in rows:
        r["label"] = "suicidal_ideation" if r["item_id"] in ("i0", "i2") else "no_crisis"
        if r["judge"] == "j":
            r["explanation"] = f"j says {r['score']} on {r['item_id']}"
    frame = make_judgments(rows)
    frame.loc[(frame["judge"] == "h") & (frame["item_id"] == "i2"), "explanation"] = "too vague"
    return frame


def test_score_differences_are_judge_minus_reference(frame: pd.DataFrame) -> None:
    d = jv.score_differences(frame, "j", "h").set_index("item_id")
    assert d["difference"].to_dict() == {"i0": 1.5, "i1": 0.0, "i2": 2.0, "i3": -1.0, "i4": 0.0}
    assert d["reference_level"].to_dict() == {"i0": 1, "i1": 5, "i2": 2, "i3": 2, "i4": 3}
    assert d.loc["i0", "judge_score"] == 2.5 and d.loc["i0", "label"] == "suicidal_ideation"
    apart = pd.concat(
        [frame[(frame["judge"] == "j") & (frame["item_id"] == "i0")],
         frame[(frame["judge"] == "h") & (frame["item_id"] == "i1")]]
    )  # fmt: skip
    with pytest.raises(AnalysisError, match="j and h scored no response in common"):
        jv.score_differences(apart, "j", "h")


def test_signed_bias_overall_by_category_and_by_human_level(frame: pd.DataFrame) -> None:
    overall = jv.signed_bias(frame, "j", "h", n_boot=500, seed=1).iloc[0]
    assert overall["bias"] == pytest.approx(2.5 / 5)
    assert overall["n"] == 5 and overall["mean_judge"] == pytest.approx(3.1)
    assert overall["share_higher"] == pytest.approx(0.4) and overall["share_lower"] == 0.2
    assert overall["ci_low"] <= overall["bias"] <= overall["ci_high"]
    assert overall["ci_low"] >= -1.0 and overall["ci_high"] <= 2.0  # within the data's range
    by_label = jv.signed_bias(frame, "j", "h", by="label", n_boot=500).set_index("group")
    assert list(by_label.index) == ["suicidal_ideation", "no_crisis"]  # the taxonomy's order
    assert by_label["bias"].to_dict() == pytest.approx(
        {"suicidal_ideation": 1.75, "no_crisis": -1 / 3}
    )
    by_level = jv.signed_bias(frame, "j", "h", by="reference_level", n_boot=0).set_index("group")
    assert by_level["bias"].to_dict() == pytest.approx({"1": 1.5, "2": 0.5, "3": 0.0, "5": 0.0})
    assert by_level["ci_low"].isna().all()  # no resamples: no interval
    one = by_level.loc["1"]
    assert one["n"] == 1
    # seeded: the same interval twice, another seed another one
    a = jv.signed_bias(frame, "j", "h", n_boot=300, seed=4).iloc[0]
    b = jv.signed_bias(frame, "j", "h", n_boot=300, seed=4).iloc[0]
    assert (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"])
    with pytest.raises(AnalysisError, match="signed bias by 'x'"):
        jv.signed_bias(frame, "j", "h", by="x")  # type: ignore[arg-type]


def test_the_bootstrap_resamples_inputs(make_judgments: JudgmentsBuilder) -> None:
    # two answers to one input move together: with one input the CI is undefined
    rows = [{"item_id": "i0", "respondent": r, "judge": "j", "score": 5.0} for r in ("a", "b")] + [
        {"item_id": "i0", "respondent": r, "judge": "h", "judge_kind": "human", "score": 1.0}
        for r in ("a", "b")
    ]
    row = jv.signed_bias(make_judgments(rows), "j", "h", n_boot=200).iloc[0]
    assert row["n"] == 2 and row["n_inputs"] == 1 and np.isnan(row["ci_low"])


def test_largest_divergences_with_both_rationales(frame: pd.DataFrame) -> None:
    top = jv.largest_divergences(frame, "j", "h", top=3)
    assert list(top["item_id"]) == ["i2", "i0", "i3"]
    assert list(top["rank"]) == [1, 2, 3]
    assert top.iloc[0]["judge_rationale"] == "j says 4 on i2"
    assert top.iloc[0]["reference_rationale"] == "too vague"
    # i0: runs 2 and 3, mean 2.5: both equally close, the lower run explains
    assert top.iloc[1]["judge_rationale"] == "j says 2 on i0"
    assert pd.isna(top.iloc[1]["reference_rationale"])  # h gave no note
    with pytest.raises(AnalysisError, match="top must be at least 1"):
        jv.largest_divergences(frame, "j", "h", top=0)


def test_the_human_mean_lists_each_humans_score_and_note(
    frame: pd.DataFrame, make_judgments: JudgmentsBuilder
) -> None:
    h2 = make_judgments(_rows("h2", {"i2": [4], "i0": [1]}, judge_kind="human"))
    both = pd.concat([frame, h2], ignore_index=True)
    both = jv.with_jury(both, ["h", "h2"], name=HUMAN_MEAN)
    top = jv.largest_divergences(both, "j", HUMAN_MEAN, top=1, reference_members=["h", "h2"])
    assert top.iloc[0]["item_id"] == "i0"  # i0: 2.5 vs mean(1, 1) = 1; i2: 4 vs 3
    assert top.iloc[0]["reference_rationale"] == "h (1): (no rationale); h2 (1): (no rationale)"


def test_a_jury_by_median_and_the_panel_against_single_judges(
    make_judgments: JudgmentsBuilder,
) -> None:
    rows = [
        *_rows("a", {"i0": [1], "i1": [5], "i2": [3]}),
        *_rows("b", {"i0": [2], "i1": [4], "i2": [3]}),
        *_rows("c", {"i0": [5], "i1": [4], "i2": [1], "i3": [2]}),
        *_rows("h", {"i0": [2], "i1": [4], "i2": [3], "i3": [2]}, judge_kind="human"),
    ]
    frame = make_judgments(rows)
    median = jv.with_jury(frame, ["a", "b", "c"], name="med", how="median")
    got = median[median["judge"] == "med"].set_index("item_id")["score"].to_dict()
    assert got == {"i0": 2.0, "i1": 4.0, "i2": 3.0}
    with pytest.raises(AnalysisError, match="aggregates by mean or median"):
        jv.with_jury(frame, ["a", "b"], how="max")  # type: ignore[arg-type]
    table = jv.panel_comparison(frame, ["a", "b", "c"], "h").set_index("rater")
    assert list(table.index) == ["a", "b", "c", "panel (mean)", "panel (median)"]
    assert set(table["n"]) == {3}  # i3 is left out: a and b did not score it
    assert table.loc["panel (median)", "mae"] == 0.0  # the median is the human here
    assert table.loc["c", "mae"] == pytest.approx((3 + 0 + 2) / 3)
    assert table.loc["panel (mean)", "bias"] == pytest.approx(
        np.mean([8 / 3 - 2, 13 / 3 - 4, 7 / 3 - 3])
    )
    assert list(table["kind"]) == ["judge"] * 3 + ["panel"] * 2
    with pytest.raises(AnalysisError, match="at least two judges"):
        jv.panel_comparison(frame, ["a"], "h")


def test_the_section_shows_the_divergence_tables(
    frame: pd.DataFrame, make_judgments: JudgmentsBuilder
) -> None:
    k = make_judgments(_rows("k", {"i0": [3], "i1": [4], "i2": [2], "i3": [1], "i4": [5]}))
    both = pd.concat([frame, k], ignore_index=True)
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(5)], "turns": [["<b>hi</b>"]] * 5})
    responses = pd.DataFrame({"response_id": sorted(set(both["response_id"])), "text": "an answer"})
    section = validity_section(both, responses=responses, items=items, judge="k", n_boot=100)
    names = [t.name for t in section.tables]
    assert names[-4:] == [
        "validity_bias_by_category",
        "validity_bias_by_human_score",
        "validity_divergences",
        "validity_panel",
    ]
    worst = next(t for t in section.tables if t.name == "validity_divergences")
    assert worst.title == "Largest divergences: k vs h"
    assert "<b>hi</b>" in worst.display["input"].iloc[0]  # raw text; the renderers escape it
    assert set(worst.display["answer"]) == {"an answer"}
    assert any(line.startswith("j - h: +0.500 points") for line in section.summary)
    no_humans = validity_section(both[both["judge"] != "h"], n_boot=0)
    assert "validity_divergences" not in [t.name for t in no_humans.tables]


# ------------------------------------------------------------------------------ the study


def test_study_the_mean_panel_is_the_released_jury(study: Study) -> None:
    judges = ["gpt-4o-mini", "gpt-5-nano", "meta-llama-Llama-4-Scout-17B-16E-Instruct"]
    frame = jv.with_jury(study.judgments, judges, name="panel", how="mean")
    table = jv.rater_score_table(frame, ["panel", "jury"]).dropna()
    assert len(table) == 190
    assert np.allclose(table["panel"], table["jury"])
    panel = validity_panel(study.judgments)
    compared = jv.panel_comparison(panel.judgments, judges, HUMAN_MEAN, juries=["jury"]).set_index(
        "rater"
    )
    assert set(compared["n"]) == {190}
    assert compared.loc["panel (mean)", "mae"] == pytest.approx(compared.loc["jury", "mae"])
    assert compared.loc["panel (median)", "qwk"] != compared.loc["panel (mean)", "qwk"]


def test_study_bias_by_human_level_matches_the_scores(study: Study) -> None:
    panel = validity_panel(study.judgments)
    level = jv.signed_bias(
        panel.judgments, "gpt-4o-mini", HUMAN_MEAN, by="reference_level", n_boot=200
    )
    overall = jv.signed_bias(panel.judgments, "gpt-4o-mini", HUMAN_MEAN, n_boot=0).iloc[0]
    pair = jv.compare_raters(panel.judgments, "gpt-4o-mini", HUMAN_MEAN)
    assert overall["n"] == pair.n == 190
    assert overall["bias"] == pytest.approx(pair.mean_a - pair.mean_b)
    assert int(level["n"].sum()) == 190 and list(level["group"]) == ["1", "2", "3", "4", "5"]
    weighted = float((level["bias"] * level["n"]).sum() / level["n"].sum())
    assert weighted == pytest.approx(overall["bias"])
    top = jv.largest_divergences(
        panel.judgments,
        "gpt-4o-mini",
        HUMAN_MEAN,
        top=5,
        reference_members=["human:H1", "human:H2"],
    )
    assert (top["difference"].abs().diff().dropna() <= 1e-12).all()  # largest first
    assert top["judge_rationale"].notna().all()
    assert top["reference_rationale"].str.startswith("human:H1 (").all()
