"""The report's "Classifier comparison" section on a small invented store: every classifier
beside the experts' ceiling, a trained classifier's speed and training note, its figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from crisiseval.analysis import agreement as ag
from crisiseval.report.figures import draw, save_figure
from crisiseval.sections import NoDataError
from crisiseval.sections.classifiers import classifier_facts, classifiers_section
from crisiseval.store import LabelRecord, Store
from crisiseval.triage import META_PREFIX

StoreFactory = Callable[..., Store]
SCORES = [0.9, 0.8, 0.1, 0.7, 0.6, 0.3]


def _add_trained(store: Store) -> list[str]:
    ids = sorted(set(store.labels_frame()["item_id"]))
    labels = ["suicidal_ideation", "self_harm", "no_crisis", "any_crisis", "no_crisis", "no_crisis"]
    scores = SCORES
    store.upsert_labels(
        LabelRecord(
            rater="tri",
            rater_kind="model_run",
            run_index=1,
            item_id=iid,
            label=lab,
            status="ok",
            origin="triage:tri",
            detail={"crisis_score": s},
        )
        for iid, lab, s in zip(ids, labels, scores, strict=True)
    )
    store.set_meta(
        META_PREFIX + "tri",
        json.dumps(
            {
                "inputs_per_s": 12345.0,
                "training": {
                    "labels_from": "majority:clf",
                    "sample": "test",
                    "n_items": 50,
                    "evaluation_items": 6,
                    "left_out": {"evaluation item": 6, "same text as an evaluation item": 1},
                },
            }
        ),
    )
    return ids


def test_every_classifier_beside_the_experts(make_store: StoreFactory) -> None:
    store = make_store(responses=False, judgments=False, bad_cells=False, hostile=False)
    _add_trained(store)
    labels = store.labels_frame()
    section = classifiers_section(labels, facts=classifier_facts(store, labels))
    table = section.tables[0]
    data = table.data.set_index("rater")
    assert str(table.data["rater"].iloc[0]).startswith("human experts")
    assert set(data.index) >= {"clf", "majority:clf", "tri"}
    humans = ["human:H1", "human:H2", "human:H3"]
    clf = ag.kappa_vs_reference(labels, "clf", humans)
    assert data.loc["clf", "mean_kappa"] == pytest.approx(clf.mean_kappa)
    assert data.loc["clf", "runs"] == 2
    ceiling = ag.mean_pairwise_kappa(labels, humans, invalid="category").value
    assert table.data["mean_kappa"].iloc[0] == pytest.approx(ceiling)
    assert data.loc["tri", "kind"] == "trained"
    row = table.rows[list(table.data["rater"]).index("tri")]
    assert "12,345" in row and "$0 (local)" in row
    assert any("tri (trained classifier) was trained on 50 items" in s for s in section.summary)
    assert any("1 more by identical text" in s for s in section.summary)
    names = {f.name for f in section.figures}
    assert {"classifiers_kappa", "classifiers_speed", "classifier_confusion_tri"} <= names
    tables = {t.name: t for t in section.tables}
    assert list(tables) == [
        "classifiers_vs_experts",
        "classifiers_crisis_recall",
        "classifiers_per_label_f1",
    ]
    f1 = tables["classifiers_per_label_f1"].data.set_index("rater")
    assert list(f1.index) == list(table.data["rater"])
    assert f1.loc["clf", "violent_thoughts"] == pytest.approx(
        data.loc["clf", "f1_violent_thoughts"]
    )
    recall = tables["classifiers_crisis_recall"]
    assert recall.headers == [
        "classifier",
        "crisis score",
        "as labelled",
        "at FPR 5%",
        "at FPR 10%",
    ]


def test_crisis_scores_come_from_the_labels_detail(make_store: StoreFactory) -> None:
    store = make_store(responses=False, judgments=False, bad_cells=False, hostile=False)
    ids = _add_trained(store)
    labels = store.labels_frame()
    # a labels frame with the labels' detail (JSON text), as the store keeps it
    detail = {iid: json.dumps({"crisis_score": s}) for iid, s in zip(ids, SCORES, strict=True)}
    labels = labels.assign(
        detail=[
            detail[i] if r == "tri" else None
            for r, i in zip(labels["rater"], labels["item_id"], strict=True)
        ]
    )
    facts = classifier_facts(store, labels)
    assert facts.scores["tri"] == dict(zip(ids, SCORES, strict=True))
    data = classifiers_section(labels, facts=facts).tables[0].data.set_index("rater")
    assert data.loc["tri", "crisis_score"] == "score"  # its probabilities, not its labels
    assert data.loc["clf", "crisis_score"] == "labels"
    without = classifiers_section(labels.drop(columns="detail"), facts=None)
    assert without.tables[0].data.set_index("rater").loc["tri", "crisis_score"] == "labels"


def test_its_figures_draw(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(responses=False, judgments=False, bad_cells=False, hostile=False)
    _add_trained(store)
    labels = store.labels_frame()
    section = classifiers_section(labels, facts=classifier_facts(store, labels))
    for spec in section.figures:
        png, svg, _ = save_figure(draw(spec), tmp_path, spec.name)
        assert png.stat().st_size > 0 and svg.is_file()


def test_no_experts_no_comparison(tmp_path: Path) -> None:
    with Store.open(tmp_path / "run") as store:
        ids = store.add_items([([f"input {i}"], "t", None) for i in range(3)], origin="t")
        store.upsert_labels(
            LabelRecord(
                rater="m",
                rater_kind="model_run",
                run_index=1,
                item_id=i,
                label="no_crisis",
                status="ok",
                origin="t",
            )
            for i in ids
        )
        with pytest.raises(NoDataError, match="no human labels"):
            classifiers_section(store.labels_frame())
    with pytest.raises(NoDataError):
        classifiers_section(pd.DataFrame())


def test_the_report_has_the_section(hostile_report: object) -> None:
    html = Path(hostile_report.html).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    section = html[html.index('<section id="classifiers">') :]
    assert "Classifier comparison" in section[:400]
    assert "human experts (each vs the others)" in section
