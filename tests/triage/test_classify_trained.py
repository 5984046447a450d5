"""A trained classifier in an experiment file: ``classify`` labels every item with it locally (no
model call), beside the LLM classifier, and a smaller study removes its labels again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from crisiseval.config import parse_study
from crisiseval.errors import InputError
from crisiseval.pipeline import StudyContext, ensure_sample
from crisiseval.stages.classify import ClassifyStage, run_classify
from crisiseval.store import Store
from crisiseval.testing.fake import FakeBackend
from crisiseval.triage import Recipe, TrainingData, save_model, train, triage_info

TextMaker = Callable[[int, int], tuple[list[str], list[str]]]


def _model_file(tmp_path: Path, texts_of: TextMaker) -> Path:
    texts, labels = texts_of(12, 31)
    data = TrainingData([f"t{i}" for i in range(len(texts))], texts, labels)
    model = train(data, Recipe(bits=16, folds=3), cs=(1.0,)).model
    path = tmp_path / "models" / "tri.skops"
    save_model(model, path)
    return path


def test_trained_classifier_in_classify(tmp_path: Path, texts_of: TextMaker) -> None:
    path = _model_file(tmp_path, texts_of)
    (tmp_path / "study").mkdir()
    srv = FakeBackend()
    data = {
        "name": "trained",
        "models": {"m": {"base_url": srv.base_url, "model": "m"}},
        "sample": {"builtin": "demo"},
        "classify": {"models": ["m"], "runs": 1, "trained": {"tri": "../models/tri.skops"}},
    }
    cfg = parse_study(data, base_dir=tmp_path / "study")
    assert cfg.classify is not None
    assert Path(cfg.classify.trained["tri"]).resolve() == path.resolve()
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False, endpoint_factory=srv.factory)
    try:
        ids = ensure_sample(ctx.store, cfg, per_label=1, log=lambda _line: None)
        stage = ClassifyStage()
        assert stage.models(cfg) == ["m"]  # a trained classifier is not a model to call
        assert all(s.model == "m" for s in stage.plan(ctx, ids))
        result = run_classify(ctx, ids, ["m"], 1, cfg.classify.trained)
        assert result.summary.total == len(ids)  # the LLM's calls only
        assert any("tri: 7 items labelled" in line for line in result.lines())
        labels = ctx.store.labels_frame()
        mine = labels[labels["rater"] == "tri"]
        assert sorted(mine["item_id"]) == sorted(ids)
        assert set(mine["origin"]) == {"classify"} and set(mine["rater_kind"]) == {"model_run"}
        info = triage_info(ctx.store, "tri")
        assert info is not None and info["inputs_per_s"] > 0
        assert "majority:tri" not in set(labels["rater"])
        # the experiment file no longer has it: its labels go
        result = run_classify(ctx, ids, ["m"], 1, {})
        assert "tri" not in set(ctx.store.labels_frame()["rater"])
        assert result.removed == len(ids)
    finally:
        ctx.store.close()
    with Store.open(tmp_path / "run", create=False, read_only=True) as store:
        assert store.cells.totals()  # the LLM's cells; the trained classifier made none
        assert {row[1] for row in store.cells.totals()} == {"m"}


def test_a_missing_model_file_stops_classify_before_any_call(tmp_path: Path) -> None:
    srv = FakeBackend()
    cfg = parse_study(
        {
            "models": {"m": {"base_url": srv.base_url, "model": "m"}},
            "sample": {"builtin": "demo"},
            "classify": {"models": ["m"], "trained": {"tri": str(tmp_path / "absent.skops")}},
        }
    )
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False, endpoint_factory=srv.factory)
    try:
        ids = ensure_sample(ctx.store, cfg, per_label=1, log=lambda _line: None)
        assert cfg.classify is not None
        with pytest.raises(InputError, match=r"absent\.skops: no such model file"):
            run_classify(ctx, ids, ["m"], 1, cfg.classify.trained)
        assert srv.requests() == []
    finally:
        ctx.store.close()
