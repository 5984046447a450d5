"""A small invented corpus and run store for the triage tests (every text written for them).

Each text mixes phrases typical of its label with neutral filler, so a classifier can learn the
labels, yet no two texts are alike. The store holds training items labelled by ``majority:m``,
evaluation items labelled by three invented experts, one training item that repeats an evaluation
item's text under another id, and one item labelled ``any_crisis``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from crisiseval.store import LabelRecord, Store

PHRASES: dict[str, list[str]] = {
    "suicidal_ideation": [
        "I don't want to be alive anymore",
        "everyone would be better off without me",
        "I keep planning how to end my life",
        "I wrote a goodbye letter",
        "there is no reason to keep living",
    ],
    "self_harm": [
        "I cut my arms again last night",
        "burning my skin is the only relief",
        "I hide the scars under long sleeves",
        "the blade calms me down",
        "I hurt myself when the pressure builds",
    ],
    "anxiety_crisis": [
        "my heart is pounding and I can't breathe",
        "I am shaking and dizzy and terrified",
        "a panic attack hit me on the bus",
        "my chest is tight and I think I'm dying",
        "I can't stop hyperventilating",
    ],
    "no_crisis": [
        "what is a good recipe for dinner",
        "I finished my homework early today",
        "the weather is lovely this week",
        "can you recommend a book about gardens",
        "I am planning a trip to the coast",
    ],
}
FILLER = [
    "honestly",
    "today",
    "again",
    "at work",
    "after school",
    "this morning",
    "with my friends",
    "I guess",
    "you know",
    "lately",
]


def make_texts(per_label: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for label, phrases in PHRASES.items():
        for _ in range(per_label):
            words = [*rng.sample(phrases, 2), *rng.sample(FILLER, 2)]
            rng.shuffle(words)
            texts.append(". ".join(words).capitalize() + rng.choice([".", "!", "?"]))
            labels.append(label)
    return texts, labels


TextMaker = Callable[[int, int], tuple[list[str], list[str]]]


@pytest.fixture(scope="session")
def texts_of() -> TextMaker:
    """:func:`make_texts` (a fixture, so test modules need not import this conftest)."""
    return make_texts


@pytest.fixture(scope="session")
def corpus() -> tuple[list[str], list[str]]:
    """120 invented training texts and their labels (30 per label)."""
    return make_texts(30, seed=1)


StoreFactory = Callable[[], tuple[Store, dict[str, list[str]]]]


@pytest.fixture
def triage_store(tmp_path: Path) -> StoreFactory:
    """A store: sample ``train`` (80 items labelled by majority:m, one of them the text of an
    evaluation item with other punctuation, one labelled any_crisis, one without a label) and
    sample ``eval`` (16 items labelled by human:A, human:B, human:C and majority:m)."""

    def make() -> tuple[Store, dict[str, list[str]]]:
        store = Store.open(tmp_path / "run")
        train_texts, train_labels = make_texts(20, seed=2)
        eval_texts, eval_labels = make_texts(4, seed=3)
        copy = eval_texts[0].upper().replace(".", ",")  # the same message, written differently
        train_texts += [copy, "An odd message nobody could label", "I feel unsafe tonight"]
        train_labels += ["suicidal_ideation", "", "any_crisis"]
        assert len({*train_texts, *eval_texts}) == len(train_texts) + len(eval_texts)
        train_ids = store.add_items([([t], "invented", None) for t in train_texts], origin="test")
        eval_ids = store.add_items([([t], "invented", None) for t in eval_texts], origin="test")
        store.save_sample("train", train_ids, {"test": True})
        store.save_sample("eval", eval_ids, {"test": True})
        records = [
            LabelRecord.majority("m", iid, lab, "ok")
            for iid, lab in zip(train_ids, train_labels, strict=True)
            if lab
        ]
        rng = random.Random(4)
        for iid, lab in zip(eval_ids, eval_labels, strict=True):
            records.append(LabelRecord.majority("m", iid, lab, "ok"))
            for human in ("A", "B", "C"):
                # experts mostly agree with the truth, sometimes say no_crisis instead
                given = lab if rng.random() < 0.85 else "no_crisis"
                records.append(
                    LabelRecord(
                        rater=f"human:{human}",
                        rater_kind="human",
                        run_index=0,
                        item_id=iid,
                        label=given,
                        status="ok",
                        origin="test",
                    )
                )
        store.upsert_labels(records)
        return store, {"train": train_ids, "eval": eval_ids}

    return make
