"""On the study's released data (../shared; skipped with a reason when absent, mandatory in CI):
the lowest-score queue serves exactly the answers the study's experts scored, and labels saved
in the browser appear in `crisiseval agreement`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from annotate_support import start

from crisiseval.annotate import load_project
from crisiseval.importers import import_study
from crisiseval.store import Store
from crisiseval.testing.cli import invoke


@pytest.fixture(scope="module")
def study_run(study_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("annotate-study")
    with Store.open(run) as store:
        import_study(store, study_dir)
    return run


def test_the_lowest_queue_serves_the_answers_the_experts_scored(study_run: Path) -> None:
    result = invoke(
        "annotate", "-d", str(study_run), "--task", "scores", "--strategy", "lowest",
        "--sample", "validation", "--annotators", "reviewer", "--no-serve",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "ranked by judge gpt-4o-mini" in result.out
    with Store.open(study_run, read_only=True) as store:
        project = load_project(store, "scores")
        judgments = store.judgments_frame()
        validation = set(store.sample_items("validation"))
    assert project is not None
    expert = set(judgments.loc[judgments["judge"] == "human:H1", "response_id"])
    served = {t.target_id for t in project.targets}
    assert len(served) == 190 and served == expert
    assert {t.item_id for t in project.targets} <= validation
    assert len({t.item_id for t in project.targets}) == len(served)  # one answer per input
    assert all(t.label for t in project.targets)


@pytest.mark.slow  # the agreement command on the whole study takes a while
def test_labels_saved_in_the_browser_appear_in_agreement(
    study_run: Path, serve: Any, page_for: Any
) -> None:
    served = serve(study_run, "labels", annotators=("reviewer",), sample="validation", n=3)
    page = page_for()
    page.goto(served.links["reviewer"])
    start(page)
    for key in ("1", "7", "3"):
        with page.expect_navigation():
            page.keyboard.press(key)
    served.stop()
    result = invoke("agreement", "-d", str(study_run))
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if "human:reviewer" in line]
    assert rows, result.out[-3000:]
    with Store.open(study_run, read_only=True) as store:
        labels = store.labels_frame()
    mine = labels[labels["rater"] == "human:reviewer"]
    assert len(mine) == 3 and set(mine["origin"]) == {"annotate"}
