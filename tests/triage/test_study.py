"""On the study's released data: the 206 validation items are never trained on, and (slow)
``triage train`` then ``crisiseval agreement`` shows the trained classifier beside the study's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiseval.importers import import_study
from crisiseval.store import Store
from crisiseval.testing.cli import invoke
from crisiseval.triage import select_training, text_key

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def run_dir(study_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("triage-study") / "run"
    with Store.open(path) as store:
        import_study(store, study_dir)
    return path


def test_validation_items_are_left_out_by_id_and_text(run_dir: Path) -> None:
    with Store.open(run_dir, create=False, read_only=True) as store:
        sel = select_training(store, "majority:gpt-4o-mini", sample="test")
        validation = store.sample_items("validation")
        turns = store.item_turns()
    assert sorted(sel.evaluation_items) == sorted(set(validation))  # the humans' 206 items
    assert len(set(validation)) == 206
    assert sel.left_out["evaluation item"] == 35  # test-set records that are validation items
    assert not set(sel.data.item_ids) & set(validation)
    held = {text_key(turns[i]) for i in validation}
    assert not {text_key(turns[i]) for i in sel.data.item_ids} & held
    assert len(sel.data.item_ids) == 2009


@pytest.mark.slow
def test_train_then_agreement_shows_the_classifier(run_dir: Path) -> None:
    r = invoke(
        "triage", "train", "-d", str(run_dir), "--labels-from", "majority:gpt-4o-mini",
        "--sample", "test", "--c", "10", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["evaluation"]["items"] == 206 and len(report["evaluation"]["humans"]) == 4
    kappa = report["evaluation"]["mean_kappa"]
    out = invoke("agreement", "-d", str(run_dir)).out
    table = out[out.index("Classifiers vs the human experts") :]
    row = next(line for line in table.splitlines() if "│ triage " in line)
    assert f"{kappa:.3f}" in row and " 206 " in row
    assert "gpt-4o-mini" in table and "0.645" in table  # the study's classifier, unchanged
