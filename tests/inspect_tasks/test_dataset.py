"""The items of an Inspect task (no Inspect needed): demo inputs, probe suites, a run store's
sample with its classifier majority or its source labels, and the argument errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisiseval.errors import CrisisEvalError
from crisiseval.inspect_tasks.dataset import task_items
from crisiseval.pipeline import demo_inputs
from crisiseval.store import LabelRecord, Store, item_id_for
from crisiseval.taxonomy import LABELS, NO_CRISIS


def test_default_is_every_demo_input_labelled_as_written() -> None:
    items = task_items()
    expected = demo_inputs()
    assert [list(i.turns) for i in items] == [t for t, _ in expected]
    assert [i.label for i in items] == [label for _, label in expected]
    assert all(i.label_from == "source" and i.source == "crisiseval-demo" for i in items)
    assert all(i.item_id == item_id_for(list(i.turns)) for i in items)


def test_demo_per_label_and_the_user_message() -> None:
    items = task_items(builtin="demo", per_label=1)
    assert sorted(i.label for i in items) == sorted(LABELS)
    first = items[0]
    assert first.text == "\n".join(first.turns)
    meta = first.metadata()
    assert meta["item_id"] == first.item_id and meta["turns"] == list(first.turns)
    assert meta["label"] == first.label


def test_probe_suites_label_risky_probes_by_topic_and_benign_twins_no_crisis() -> None:
    items = task_items(probes="indirect-risk")
    assert len(items) >= 120
    risky = [i for i in items if i.extra["intent"] == "risky"]
    benign = [i for i in items if i.extra["intent"] == "benign"]
    assert risky and benign
    assert all(i.label != NO_CRISIS and i.label in LABELS for i in risky)
    assert all(i.label == NO_CRISIS for i in benign)
    assert all(i.source == "probes:indirect-risk" for i in items)
    assert len({i.item_id for i in items}) == len(items)
    two = task_items(probes=["indirect-risk", "locale"])
    assert {i.extra["suite"] for i in two} == {"indirect-risk", "locale"}


def _store(tmp_path: Path, *, majorities: tuple[str, ...] = ()) -> tuple[Path, list[str]]:
    run = tmp_path / "run"
    inputs = demo_inputs(per_label=1)
    with Store.open(run) as store:
        ids = store.add_items([(t, "crisiseval-demo", label) for t, label in inputs], origin="demo")
        store.save_sample("main", ids, {"builtin": "demo"})
        for classifier in majorities:
            # the classifier calls every input no_crisis, except the first, which is a tie
            store.upsert_labels(
                [
                    LabelRecord.majority(classifier, iid, None, "tie")
                    if n == 0
                    else LabelRecord.majority(classifier, iid, NO_CRISIS, "ok")
                    for n, iid in enumerate(ids)
                ]
            )
    return run, ids


def test_a_store_sample_takes_the_majority_label(tmp_path: Path) -> None:
    run, ids = _store(tmp_path, majorities=("clf",))
    items = task_items(run_dir=run)
    assert [i.item_id for i in items] == ids
    assert items[0].label is None and items[0].label_from is None  # a tie: not judged
    assert all(i.label == NO_CRISIS and i.label_from == "majority:clf" for i in items[1:])
    assert all(i.extra["sample"] == "main" for i in items)
    # the source labels instead, on request
    source = task_items(run_dir=run, sample="main", label_from="source")
    assert [i.label for i in source] == [label for _, label in demo_inputs(per_label=1)]


def test_a_store_without_labels_uses_source_labels(tmp_path: Path) -> None:
    run, _ids = _store(tmp_path)
    items = task_items(run_dir=str(run))
    assert [i.label for i in items] == [label for _, label in demo_inputs(per_label=1)]
    assert all(i.label_from == "source" for i in items)


def test_several_classifiers_need_label_from(tmp_path: Path) -> None:
    run, _ids = _store(tmp_path, majorities=("a", "b"))
    with pytest.raises(CrisisEvalError, match=r"majority:a, majority:b.*label_from"):
        task_items(run_dir=run)
    items = task_items(run_dir=run, label_from="majority:b")
    assert items[1].label_from == "majority:b"
    with pytest.raises(CrisisEvalError, match=r"no labels by 'majority:c'"):
        task_items(run_dir=run, label_from="majority:c")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run_dir": "x", "probes": "locale"}, "give one of run_dir, builtin or probes"),
        ({"sample": "main"}, "give run_dir too"),
        ({"label_from": "majority:x"}, "give run_dir"),
        ({"probes": "locale", "per_label": 1}, "per_label applies to the built-in demo"),
        ({"builtin": "paper"}, "the only built-in inputs are 'demo'"),
        ({"per_label": 0}, "expected 1 or more"),
        ({"probes": "no-such-suite"}, "no-such-suite"),
    ],
)
def test_argument_errors_are_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CrisisEvalError, match=message) as info:
        task_items(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(CrisisEvalError, match="no run store here"):
        task_items(run_dir=tmp_path / "none")
    run, _ids = _store(tmp_path)
    with pytest.raises(CrisisEvalError, match=r"no sample 'other' \(samples: main\)"):
        task_items(run_dir=run, sample="other")
    with Store.open(run) as store:
        store.save_sample("second", store.add_items([(["x"], None, None)], origin="t"), {})
    with pytest.raises(CrisisEvalError, match=r"give the sample.*main, second"):
        task_items(run_dir=run)
    with Store.open(run) as store:
        store.save_sample("empty", [], {})
    with pytest.raises(CrisisEvalError, match=r"sample 'empty' is empty"):
        task_items(run_dir=run, sample="empty")
