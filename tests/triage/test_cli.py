"""``crisiseval triage train|predict|show`` end to end on an invented store: the trained
classifier's labels reach ``crisiseval agreement``; bad model files are one-line errors."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from crisiseval.store import Store
from crisiseval.testing.cli import invoke

StoreFactory = Callable[[], tuple[Store, dict[str, list[str]]]]
TextMaker = Callable[[int, int], tuple[list[str], list[str]]]

TRAIN = ("--c", "1", "--folds", "3")


@pytest.fixture
def trained_run(triage_store: StoreFactory, tmp_path: Path) -> tuple[Path, Path, dict]:
    store, samples = triage_store()
    store.close()
    run = tmp_path / "run"
    r = invoke("triage", "train", "-d", str(run), "--labels-from", "majority:m", *TRAIN, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    return run, Path(report["model"]), {"report": report, **samples}


def test_train_writes_a_model_and_labels_the_evaluation_items(
    trained_run: tuple[Path, Path, dict],
) -> None:
    run, model, info = trained_run
    report = info["report"]
    assert model == run / "triage" / "triage.skops" and model.is_file()
    assert report["training"]["n_items"] == 80
    assert report["training"]["left_out"]["same text as an evaluation item"] == 1
    ev = report["evaluation"]
    assert ev["items"] == len(info["eval"]) and ev["humans"] == ["human:A", "human:B", "human:C"]
    assert -1.0 <= ev["mean_kappa"] <= 1.0
    assert report["metrics"]["inputs_per_s"] > 0
    with Store.open(run, create=False, read_only=True) as store:
        labels = store.labels_frame()
    mine = labels[labels["rater"] == "triage"]
    assert sorted(mine["item_id"]) == sorted(info["eval"])  # the evaluation items only
    assert set(mine["origin"]) == {"triage:triage"}


def test_agreement_and_the_comparison_show_the_trained_classifier(
    trained_run: tuple[Path, Path, dict],
) -> None:
    run, _model, info = trained_run
    r = invoke("agreement", "-d", str(run))
    assert r.code == 0, r.err
    table = r.out[r.out.index("Classifiers vs the human experts") :]
    row = next(line for line in table.splitlines() if "│ triage " in line)
    kappa = f"{info['report']['evaluation']['mean_kappa']:.3f}"
    assert kappa in row
    r = invoke("triage", "evaluate", "-d", str(run))
    assert r.code == 0, r.err
    assert "Classifier comparison" in r.out and "trained" in r.out
    assert "were never trained on" in r.out
    r = invoke("triage", "evaluate", "-d", str(run), "--json")
    rows = {row["rater"]: row for row in json.loads(r.out)["classifiers"]}
    assert rows["triage"]["kind"] == "trained"
    assert rows["triage"]["mean_kappa"] == pytest.approx(info["report"]["evaluation"]["mean_kappa"])


def test_predict_a_file_and_stdin(
    trained_run: tuple[Path, Path, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    texts_of: TextMaker,
) -> None:
    _run, model, _info = trained_run
    texts, _labels = texts_of(2, 21)
    lines = tmp_path / "inputs.txt"
    lines.write_text("\n".join(texts) + "\n\n", encoding="utf-8")
    r = invoke("triage", "predict", str(model), str(lines))
    assert r.code == 0, r.err
    out = [json.loads(line) for line in r.out.splitlines()]
    assert [o["index"] for o in out] == list(range(len(texts)))
    assert all(set(o) == {"index", "label", "crisis_score", "crisis", "probabilities"} for o in out)
    assert "inputs/s" in r.err
    records = tmp_path / "inputs.jsonl"
    records.write_text(
        "\n".join(
            [json.dumps({"id": "a", "inputs": ["first turn", "second"]}), json.dumps("plain")]
        ),
        encoding="utf-8",
    )
    r = invoke("triage", "predict", str(model), str(records), "--threshold", "0")
    out = [json.loads(line) for line in r.out.splitlines()]
    assert out[0]["id"] == "a" and "id" not in out[1]
    assert all(o["crisis"] for o in out)  # threshold 0 flags everything
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(texts)))
    r = invoke("triage", "predict", str(model), "-")
    assert r.code == 0 and len(r.out.splitlines()) == len(texts)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"oops": 1}\n', encoding="utf-8")
    r = invoke("triage", "predict", str(model), str(bad))
    assert r.code == 2 and "bad.jsonl: line 2: no text" in r.err


def test_predict_a_store_sample(trained_run: tuple[Path, Path, dict]) -> None:
    run, model, info = trained_run
    r = invoke("triage", "predict", str(model), "-d", str(run), "--sample", "train", "--name", "t2")
    assert r.code == 0, r.err
    with Store.open(run, create=False, read_only=True) as store:
        labels = store.labels_frame()
    assert set(labels.loc[labels["rater"] == "t2", "item_id"]) == set(info["train"])


def test_show_and_bad_model_files(trained_run: tuple[Path, Path, dict], tmp_path: Path) -> None:
    _run, model, info = trained_run
    r = invoke("triage", "show", str(model), "--json")
    meta = json.loads(r.out)
    assert meta["training"]["digest"] == info["report"]["training"]["digest"]
    assert meta["recipe"]["chars"] and meta["metrics"]["cross_validation"]["kappa"] is not None
    r = invoke("triage", "predict", str(tmp_path / "absent.skops"), "-")
    assert r.code == 2 and "no such model file" in r.err and r.err.count("\n") == 1
    damaged = tmp_path / "damaged.skops"
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 3 : len(raw) // 3 + 32] = bytes(32)
    damaged.write_bytes(bytes(raw))
    r = invoke("triage", "show", str(damaged))
    assert r.code == 2 and r.err.count("\n") == 1 and "damaged.skops" in r.err
