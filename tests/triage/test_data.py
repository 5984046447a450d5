"""What a triage classifier trains on: the evaluation items are left out by id and by text, and
only the seven labels are learned; its labels are written as a classifier's."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from crisiseval.errors import InputError
from crisiseval.store import Store
from crisiseval.triage import (
    Recipe,
    predict_items,
    select_training,
    text_key,
    text_of,
    train,
    triage_info,
    write_labels,
)

StoreFactory = Callable[[], tuple[Store, dict[str, list[str]]]]


def test_evaluation_items_are_never_trained_on(triage_store: StoreFactory) -> None:
    store, samples = triage_store()
    sel = select_training(store, "majority:m")  # every labelled item; evaluate on the humans'
    assert sorted(sel.evaluation_items) == sorted(samples["eval"])
    assert sel.left_out == {
        "evaluation item": len(samples["eval"]),
        "same text as an evaluation item": 1,
        "no usable label": 0,
        "not one of the seven labels": 1,
    }
    turns = store.item_turns()
    held_text = {text_key(turns[i]) for i in samples["eval"]}
    assert not set(sel.data.item_ids) & set(samples["eval"])
    assert not {text_key(turns[i]) for i in sel.data.item_ids} & held_text
    assert len(sel.data.item_ids) == 80
    assert "any_crisis" not in sel.data.labels
    assert sel.data.texts == [text_of(turns[i]) for i in sel.data.item_ids]
    summary = sel.summary()
    assert summary["digest"] == sel.data.digest() and summary["n_items"] == 80


def test_a_sample_limits_the_training_items(triage_store: StoreFactory) -> None:
    store, samples = triage_store()
    sel = select_training(store, "majority:m", sample="train", evaluate_on=["eval"])
    assert sel.left_out["evaluation item"] == 0  # no eval item is in sample train
    assert sel.left_out["same text as an evaluation item"] == 1
    assert sel.left_out["no usable label"] == 1
    assert set(sel.data.item_ids) <= set(samples["train"])
    with pytest.raises(InputError, match="no sample 'nope'"):
        select_training(store, "majority:m", sample="nope")
    with pytest.raises(InputError, match="no usable labels by 'majority:x'"):
        select_training(store, "majority:x")


def test_labels_are_written_as_a_classifier_s(triage_store: StoreFactory) -> None:
    store, samples = triage_store()
    sel = select_training(store, "majority:m")
    model = train(sel.data, Recipe(bits=16, folds=3), cs=(1.0,)).model
    model.meta["digest"] = "d" * 64
    ids, prediction = predict_items(store, model, samples["eval"])
    assert ids == list(dict.fromkeys(samples["eval"]))
    write_labels(
        store, model, "tri", ids, prediction, origin="triage:tri", inputs_per_s=123.0, replace=True
    )
    labels = store.labels_frame()
    mine = labels[labels["rater"] == "tri"]
    assert len(mine) == len(ids)
    assert set(mine["rater_kind"]) == {"model_run"} and set(mine["run_index"]) == {1}
    assert set(mine["origin"]) == {"triage:tri"} and set(mine["status"]) == {"ok"}
    assert list(mine.set_index("item_id").loc[ids, "label"]) == prediction.labels
    info = triage_info(store, "tri")
    assert info is not None and info["inputs_per_s"] == 123.0 and info["digest"] == "d" * 64
    # a new training's evaluation replaces the old one's labels
    write_labels(
        store,
        model,
        "tri",
        ids[:3],
        model.predict([text_of(t) for t in store.item_turns(ids[:3]).values()]),
        origin="triage:tri",
        inputs_per_s=1.0,
        replace=True,
    )
    assert len(store.labels_frame().query("rater == 'tri'")) == 3
    with pytest.raises(InputError, match="another kind of rater"):
        write_labels(
            store, model, "human:X", ids, prediction, origin="x", inputs_per_s=1, replace=False
        )


def test_label_detail_holds_the_probabilities(triage_store: StoreFactory) -> None:
    store, samples = triage_store()
    sel = select_training(store, "majority:m")
    model = train(sel.data, Recipe(bits=16, folds=3), cs=(1.0,)).model
    ids, prediction = predict_items(store, model, samples["eval"][:2])
    from crisiseval.triage import label_records

    recs = label_records(model, "tri", ids, prediction, "triage:tri")
    detail = recs[0].detail
    assert detail is not None
    assert set(detail["probabilities"]) == set(model.labels)
    assert np.isclose(sum(detail["probabilities"].values()), 1.0, atol=1e-5)
    assert detail["crisis_score"] == pytest.approx(
        1 - detail["probabilities"]["no_crisis"], abs=1e-5
    )
    json.dumps(detail)  # JSON-ready
