"""`crisiseval stratify` and `crisiseval lowest-sample` on a store built by hand."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from crisiseval.cli import app
from crisiseval.store import (
    JudgmentRecord,
    LabelRecord,
    ResponseRecord,
    Store,
    response_id_for,
)

LABELS = ["suicidal_ideation", "self_harm", "no_crisis"]


def make_store(run_dir: Path) -> list[str]:
    with Store.open(run_dir) as store:
        ids = store.add_items(
            [([f"message {i} about {lab}."], "test", None) for i, lab in enumerate(LABELS * 4)],
            origin="test",
        )
        store.save_sample("all", ids, {"kind": "test"})
        store.upsert_labels(
            LabelRecord(
                rater="majority:clf",
                rater_kind="majority",
                run_index=0,
                item_id=iid,
                label=LABELS[i % 3],
                status="ok",
                origin="test",
            )
            for i, iid in enumerate(ids)
        )
        responses: list[ResponseRecord] = []
        judgments: list[JudgmentRecord] = []
        for i, iid in enumerate(ids[:3]):
            for resp, score in (("a", 4.0 - i), ("b", 2.0)):
                rid = response_id_for(iid, resp, 1)
                responses.append(
                    ResponseRecord.make(
                        item_id=iid,
                        respondent=resp,
                        run_index=1,
                        text=f"answer {resp} {i}",
                        status="ok",
                        origin="test",
                    )
                )
                judgments.append(
                    JudgmentRecord(
                        response_id=rid,
                        judge="j",
                        judge_kind="model",
                        run_index=1,
                        label=LABELS[i % 3],
                        score=score,
                        status="ok",
                        origin="test",
                    )
                )
        store.upsert_responses(responses)
        store.upsert_judgments(judgments)
    return ids


def test_stratify_draws_per_label_and_is_seeded(tmp_path: Path) -> None:
    make_store(tmp_path)
    runner = CliRunner()
    args = ["stratify", "--labels-from", "majority:clf", "--n-per-label", "2", "-d", str(tmp_path)]
    r1 = runner.invoke(app, [*args, "--name", "s1", "--seed", "3"])
    r2 = runner.invoke(app, [*args, "--name", "s2", "--seed", "3"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    with Store.open(tmp_path, create=False) as store:
        s1, s2 = store.sample_items("s1"), store.sample_items("s2")
        labels = store.item_labels("majority:clf")
    assert s1 == s2 and len(s1) == 6
    assert sorted(labels[i] for i in s1) == sorted(LABELS * 2)


def test_stratify_unknown_rater_is_an_error(tmp_path: Path) -> None:
    make_store(tmp_path)
    r = CliRunner().invoke(
        app,
        [
            "stratify",
            "--labels-from",
            "nobody",
            "--n-per-label",
            "1",
            "--name",
            "x",
            "-d",
            str(tmp_path),
        ],
    )
    assert r.exit_code != 0
    assert "no labels from rater 'nobody'" in str(r.exception)


def test_lowest_sample_picks_the_lowest_answer_per_input(tmp_path: Path) -> None:
    ids = make_store(tmp_path)
    out = tmp_path / "low.json"
    r = CliRunner().invoke(app, ["lowest-sample", "-j", "j", "-o", str(out), "-d", str(tmp_path)])
    assert r.exit_code == 0, r.output
    records = json.loads(out.read_text(encoding="utf-8"))
    picked = {rec["item_id"]: (rec["respondent"], rec["evaluation"]) for rec in records}
    # item 0: a=4 vs b=2 -> b; item 1: a=3 vs b=2 -> b; item 2: a=2 vs b=2 -> tie -> a (by name)
    assert picked == {ids[0]: ("b", 2.0), ids[1]: ("b", 2.0), ids[2]: ("a", 2.0)}
    assert all(rec["answer"].startswith("answer ") and rec["inputs"] for rec in records)
    assert not out.with_name("low.json.tmp").exists()
