"""Training, the fast prediction path, calibration, and the model file: train -> save -> load ->
predict gives the same answers; a missing, damaged, altered or foreign file is refused."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io

from crisiseval.errors import InputError
from crisiseval.triage import (
    DEFAULT_CS,
    FORMAT_VERSION,
    LOGISTIC_CS,
    Recipe,
    TrainingData,
    TrainResult,
    load_model,
    operating_threshold,
    save_model,
    train,
)
from crisiseval.triage._features import featurize
from crisiseval.triage._train import _Vocabulary, count_matrices

TextMaker = Callable[[int, int], tuple[list[str], list[str]]]

RECIPE = Recipe(bits=16, folds=3)


@pytest.fixture(scope="module")
def trained(corpus: tuple[list[str], list[str]]) -> tuple[TrainResult, TrainingData]:
    texts, labels = corpus
    data = TrainingData([f"it_{i}" for i in range(len(texts))], texts, labels)
    return train(data, RECIPE, cs=(1.0, 10.0)), data


def test_training_reports_cross_validated_metrics(
    trained: tuple[TrainResult, TrainingData],
) -> None:
    result, data = trained
    m = result.metrics
    assert m["n_items"] == len(data.labels) and m["folds"] == 3
    cv = m["cross_validation"]
    assert [t["c"] for t in cv["tried"]] == [1.0, 10.0]
    assert result.model.recipe.c in (1.0, 10.0)
    # the invented labels are learnable: far above chance out of fold
    assert cv["kappa"] > 0.6
    assert cv["log_loss_calibrated"] <= cv["log_loss_uncalibrated"] + 1e-9
    op = m["operating_point"]
    assert 0.0 <= op["threshold"] <= 1.0 and op["fpr"] <= 0.10
    assert result.model.labels == tuple(sorted(set(data.labels)))


def test_fast_path_equals_the_training_features(
    trained: tuple[TrainResult, TrainingData], texts_of: TextMaker
) -> None:
    result, data = trained
    model = result.model
    new, _ = texts_of(3, 9)
    r = model.recipe
    everything = featurize([*data.texts, *new], bits=r.bits, chars=r.chars)
    counts = count_matrices(everything, r.blocks, r.bits)
    vocab = _Vocabulary.fit(counts, np.arange(len(data.texts)), r.min_df)
    x = vocab.transform(counts, np.arange(len(data.texts), len(data.texts) + len(new)), r)
    w = np.vstack([model.blocks[b].weights / model.blocks[b].idf[:, None] for b in r.blocks])
    np.testing.assert_allclose(model.scores(new), x @ w + model.intercept, atol=1e-9)


def test_predictions_are_calibrated_probabilities(
    trained: tuple[TrainResult, TrainingData], texts_of: TextMaker
) -> None:
    model = trained[0].model
    texts, truth = texts_of(5, 11)
    p = model.predict(texts)
    np.testing.assert_allclose(p.probabilities.sum(axis=1), 1.0)
    no = model.labels.index("no_crisis")
    np.testing.assert_allclose(p.crisis, 1.0 - p.probabilities[:, no])
    assert p.labels == [model.labels[i] for i in model.scores(texts).argmax(axis=1)]
    assert np.mean([a == b for a, b in zip(p.labels, truth, strict=True)]) > 0.7
    rec = p.record(0, model.threshold)
    assert set(rec) == {"label", "crisis_score", "crisis", "probabilities"}
    assert rec["crisis"] == (rec["crisis_score"] >= model.threshold)


def test_save_load_predict_round_trip(
    trained: tuple[TrainResult, TrainingData], tmp_path: Path, texts_of: TextMaker
) -> None:
    result, data = trained
    model = result.model
    model.meta.update({"name": "t", "training": {"digest": data.digest()}, "metrics": {}})
    path = tmp_path / "m.skops"
    digest = save_model(model, path)
    loaded = load_model(path)
    texts, _ = texts_of(4, 12)
    a, b = model.predict(texts), loaded.predict(texts)
    assert a.labels == b.labels
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert loaded.threshold == model.threshold and loaded.recipe == model.recipe
    assert loaded.meta["digest"] == digest
    assert loaded.meta["training"]["digest"] == data.digest()
    # the training digest changes with any training item
    changed = TrainingData(data.item_ids, data.texts, [*data.labels[:-1], "self_harm"])
    assert changed.digest() != data.digest()


def _payload(path: Path) -> dict:
    return skops.io.load(path)


def test_missing_and_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such model file"):
        load_model(tmp_path / "absent.skops")
    text = tmp_path / "notes.skops"
    text.write_text("not a model", encoding="utf-8")
    with pytest.raises(InputError, match="not a crisiseval triage model file"):
        load_model(text)
    other = tmp_path / "other.skops"
    skops.io.dump({"format": "something-else"}, other)
    with pytest.raises(InputError, match="not a crisiseval triage model file"):
        load_model(other)


def test_an_altered_model_file_is_refused(
    trained: tuple[TrainResult, TrainingData], tmp_path: Path
) -> None:
    path = tmp_path / "m.skops"
    save_model(trained[0].model, path)
    payload = _payload(path)

    # a weight changed, the digest left as it was
    tampered = dict(payload)
    tampered["arrays"] = dict(payload["arrays"])
    tampered["arrays"]["intercept"] = payload["arrays"]["intercept"] + 1.0
    skops.io.dump(tampered, tmp_path / "weights.skops")
    with pytest.raises(InputError, match="does not match its digest") as info:
        load_model(tmp_path / "weights.skops")
    assert "\n" not in str(info.value)

    # the operating threshold changed
    tampered = {**payload, "meta": {**payload["meta"], "threshold": 0.01}}
    skops.io.dump(tampered, tmp_path / "threshold.skops")
    with pytest.raises(InputError, match="does not match its digest"):
        load_model(tmp_path / "threshold.skops")

    # bytes changed anywhere inside the archive
    raw = path.read_bytes()
    for at in range(0, len(raw) - 16, max(1, len(raw) // 12)):
        damaged = bytearray(raw)
        damaged[at : at + 16] = bytes(b ^ 0xFF for b in damaged[at : at + 16])
        (tmp_path / "bytes.skops").write_bytes(bytes(damaged))
        with pytest.raises(InputError, match=r"refused|not a (readable )?crisiseval triage model"):
            load_model(tmp_path / "bytes.skops")

    # another format version
    skops.io.dump({**payload, "format_version": FORMAT_VERSION + 1}, tmp_path / "v.skops")
    with pytest.raises(InputError, match="format version"):
        load_model(tmp_path / "v.skops")


class Sneaky:
    """A type no crisiseval model file holds (a file could make a loader build it)."""

    def __init__(self) -> None:
        self.x = 1


def test_a_file_with_untrusted_types_is_refused_before_loading(
    trained: tuple[TrainResult, TrainingData], tmp_path: Path
) -> None:
    path = tmp_path / "m.skops"
    save_model(trained[0].model, path)
    payload = {**_payload(path), "extra": Sneaky()}
    skops.io.dump(payload, tmp_path / "sneaky.skops")
    with pytest.raises(InputError, match="types crisiseval never writes"):
        load_model(tmp_path / "sneaky.skops")
    with zipfile.ZipFile(tmp_path / "sneaky.skops") as z:
        assert "schema.json" in z.namelist()  # it is a real skops archive, refused by type


def test_too_little_to_train_on() -> None:
    data = TrainingData(["a", "b"], ["one text", "another"], ["no_crisis", "self_harm"])
    with pytest.raises(InputError, match="too little to train on"):
        train(data, RECIPE)


def test_operating_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.65])
    crisis = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    op = operating_threshold(scores, crisis, 0.0)
    assert op["threshold"] == pytest.approx(0.7) and op["recall"] == pytest.approx(0.75)
    op = operating_threshold(scores, crisis, 1 / 6)  # one of the six negatives may be flagged
    assert op["threshold"] == pytest.approx(0.65) and op["fpr"] == pytest.approx(1 / 6)
    assert op["recall"] == pytest.approx(0.75)
    op = operating_threshold(scores, crisis, 1 / 3)
    assert op["threshold"] == pytest.approx(0.4) and op["recall"] == pytest.approx(1.0)


def test_a_format_version_1_file_still_loads_as_logistic_regression(
    trained: tuple[TrainResult, TrainingData], tmp_path: Path, texts_of: TextMaker
) -> None:
    """Version 1 files were written before the recipe named its learner (every one was a
    logistic regression): they load, as ``learner: logistic``, and predict as before."""
    from crisiseval.triage._artifact import _canonical_digest

    model = trained[0].model
    path = tmp_path / "m.skops"
    save_model(model, path)
    payload = _payload(path)
    meta = {**payload["meta"], "recipe": dict(payload["meta"]["recipe"])}
    del meta["recipe"]["learner"]
    old = {
        **payload,
        "format_version": 1,
        "meta": meta,
        "digest": _canonical_digest(meta, payload["arrays"]),
    }
    skops.io.dump(old, tmp_path / "v1.skops")
    loaded = load_model(tmp_path / "v1.skops")
    assert loaded.recipe.learner == "logistic"
    texts, _ = texts_of(4, 13)
    np.testing.assert_array_equal(
        loaded.predict(texts).probabilities, model.predict(texts).probabilities
    )
    # a version 1 file altered after training is refused like any other
    skops.io.dump({**old, "meta": {**meta, "threshold": 0.01}}, tmp_path / "v1-altered.skops")
    with pytest.raises(InputError, match="does not match its digest"):
        load_model(tmp_path / "v1-altered.skops")


def test_both_learners_train_and_choose_from_their_own_grid(
    corpus: tuple[list[str], list[str]],
) -> None:
    texts, labels = corpus
    data = TrainingData([f"it_{i}" for i in range(len(texts))], texts, labels)
    svm = train(data, Recipe(bits=16, folds=3))
    assert svm.model.recipe.learner == "svm"
    assert [t["c"] for t in svm.metrics["cross_validation"]["tried"]] == list(DEFAULT_CS)
    logistic = train(data, Recipe(bits=16, folds=3, learner="logistic", norm="sqrt"))
    assert logistic.model.recipe.learner == "logistic"
    assert [t["c"] for t in logistic.metrics["cross_validation"]["tried"]] == list(LOGISTIC_CS)
    for result in (svm, logistic):
        assert result.metrics["cross_validation"]["kappa"] > 0.6
