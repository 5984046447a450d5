"""What a triage classifier is trained on and evaluated on, read from a run store.

Training items are the items of a sample (or every item) that a rater labelled with one of the
seven labels (e.g. ``majority:gpt-4o-mini``). The evaluation items — by default every item a
human labelled, such as the study's 206 validation items — are removed from them twice over: by
item id, and by text (lower-cased, punctuation and spacing ignored), so that the same message
imported twice under two ids is not trained on either. The counts of what was left out are kept
with the model and printed.

A triage classifier's labels are written as a classifier's: rater = the model's name, kind
``model_run``, run 1, origin ``triage:<name>``, ``detail`` = the probability of every label and
the crisis score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crisiseval.errors import InputError
from crisiseval.store import LabelRecord, RaterId, Store
from crisiseval.taxonomy import LABELS
from crisiseval.triage._model import Prediction, TriageModel, text_of
from crisiseval.triage._train import TrainingData

_NOT_WORD = re.compile(r"\W+")
BATCH = 4096
"""Texts predicted at once."""


def text_key(turns: Sequence[str]) -> str:
    """An input's text with case, punctuation and spacing ignored (two copies of one message
    have the same key)."""
    return _NOT_WORD.sub(" ", " ".join(turns).casefold()).strip()


@dataclass
class TrainingSelection:
    """The training data chosen from a store, and why items were left out."""

    data: TrainingData
    labels_from: str
    sample: str | None
    evaluation_items: list[str]
    left_out: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "labels_from": self.labels_from,
            "sample": self.sample,
            "n_items": len(self.data.item_ids),
            "evaluation_items": len(self.evaluation_items),
            "left_out": dict(self.left_out),
            "digest": self.data.digest(),
        }


def human_items(store: Store) -> list[str]:
    """Every item a human labelled, sorted."""
    labels = store.labels_frame()
    humans = labels[labels["rater_kind"] == "human"]
    return sorted(set(humans["item_id"]))


def evaluation_items(store: Store, samples: Sequence[str] | None) -> list[str]:
    """The items of ``samples``, or (none given) every item a human labelled."""
    if not samples:
        return human_items(store)
    known = store.sample_names()
    out: list[str] = []
    for name in samples:
        if name not in known:
            raise InputError(
                f"--evaluate-on: no sample {name!r} in the store (samples: "
                f"{', '.join(known) or 'none'})"
            )
        out += store.sample_items(name)
    return sorted(set(out))


def select_training(
    store: Store,
    labels_from: str,
    *,
    sample: str | None = None,
    evaluate_on: Sequence[str] | None = None,
) -> TrainingSelection:
    """The training items (see the module docstring)."""
    labels = store.item_labels(labels_from)
    if not labels:
        raters = sorted(set(store.labels_frame()["rater"]))
        raise InputError(
            f"--labels-from: no usable labels by {labels_from!r} in the store (raters: "
            f"{', '.join(raters) or 'none'})"
        )
    if sample is not None:
        if sample not in store.sample_names():
            raise InputError(
                f"--sample: no sample {sample!r} in the store (samples: "
                f"{', '.join(store.sample_names()) or 'none'})"
            )
        candidates = list(dict.fromkeys(store.sample_items(sample)))
    else:
        candidates = sorted(labels)
    held_out = evaluation_items(store, evaluate_on)
    held_set = set(held_out)
    turns = store.item_turns(list(dict.fromkeys([*candidates, *held_out])))
    held_text = {text_key(turns[i]) for i in held_out if i in turns}
    left_out = {"evaluation item": 0, "same text as an evaluation item": 0, "no usable label": 0}
    left_out["not one of the seven labels"] = 0
    ids: list[str] = []
    for iid in candidates:
        if iid in held_set:
            left_out["evaluation item"] += 1
        elif text_key(turns[iid]) in held_text:
            left_out["same text as an evaluation item"] += 1
        elif iid not in labels:
            left_out["no usable label"] += 1
        elif labels[iid] not in LABELS:
            left_out["not one of the seven labels"] += 1
        else:
            ids.append(iid)
    data = TrainingData(
        item_ids=ids, texts=[text_of(turns[i]) for i in ids], labels=[labels[i] for i in ids]
    )
    return TrainingSelection(data, labels_from, sample, held_out, left_out)


def label_records(
    model: TriageModel, name: str, item_ids: Sequence[str], prediction: Prediction, origin: str
) -> list[LabelRecord]:
    """The labels of ``prediction`` (for ``item_ids``, in order) as a classifier's labels."""
    digest = str(model.meta.get("digest", ""))[:16]
    out = []
    for i, iid in enumerate(item_ids):
        rec = prediction.record(i, model.threshold)
        out.append(
            LabelRecord(
                rater=name,
                rater_kind="model_run",
                run_index=1,
                item_id=iid,
                label=rec["label"],
                status="ok",
                origin=origin,
                detail={
                    "probabilities": rec["probabilities"],
                    "crisis_score": rec["crisis_score"],
                    "crisis": rec["crisis"],
                    "model_digest": digest,
                },
            )
        )
    return out


def predict_items(
    store: Store, model: TriageModel, item_ids: Sequence[str]
) -> tuple[list[str], Prediction]:
    """Predict the items ``item_ids`` (those the store holds), in batches."""
    turns = store.item_turns(list(dict.fromkeys(item_ids)))
    ids = [i for i in dict.fromkeys(item_ids) if i in turns]
    texts = [text_of(turns[i]) for i in ids]
    return ids, predict_texts(model, texts)


def predict_texts(model: TriageModel, texts: Sequence[str]) -> Prediction:
    import numpy as np

    parts = [model.predict(texts[s : s + BATCH]) for s in range(0, len(texts), BATCH)]
    if not parts:
        return model.predict([])
    return Prediction(
        labels=[lab for p in parts for lab in p.labels],
        probabilities=np.vstack([p.probabilities for p in parts]),
        crisis=np.concatenate([p.crisis for p in parts]),
        label_names=model.labels,
    )


META_PREFIX = "triage:"


def write_labels(
    store: Store,
    model: TriageModel,
    name: str,
    item_ids: Sequence[str],
    prediction: Prediction,
    *,
    origin: str,
    inputs_per_s: float,
    replace: bool,
) -> int:
    """Write the labels and, in the store's meta, what made them (the model's digest, recipe,
    training summary and the measured inputs/s). ``replace``: first remove this rater's labels
    of ``origin`` on other items (an earlier training's evaluation)."""
    if RaterId.parse(name).kind != "model_run":
        raise InputError(f"--name: {name!r} looks like another kind of rater; choose a plain name")
    records = label_records(model, name, item_ids, prediction, origin)
    info = {
        "digest": model.meta.get("digest"),
        "origin": origin,
        "threshold": model.threshold,
        "inputs_per_s": inputs_per_s,
        "training": model.meta.get("training"),
        "recipe": model.recipe.model_dump(mode="json"),
    }
    with store.transaction():
        if replace:
            labels = store.labels_frame()
            mine = labels[(labels["rater"] == name) & (labels["origin"] == origin)]
            stale = sorted(set(mine["item_id"]) - set(item_ids))
            store.delete_labels((name, iid) for iid in stale)
        store.upsert_labels(records)
        store.set_meta(META_PREFIX + name, json.dumps(info, sort_keys=True))
    return len(records)


def triage_info(store: Store, name: str) -> dict[str, Any] | None:
    """What :func:`write_labels` recorded about the triage classifier ``name``."""
    raw = store.meta_value(META_PREFIX + name)
    return json.loads(raw) if raw else None
