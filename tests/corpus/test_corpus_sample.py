"""Seeded sampling and the import of sample files (the study's released samples included)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from crisiseval.corpus import (
    import_sample_file,
    parse_inputs,
    sample_per_source,
    sample_stratified,
    save_per_source_sample,
    save_stratified_sample,
)
from crisiseval.errors import ConfigError, InputError
from crisiseval.store import Store, item_id_for
from crisiseval.taxonomy import LABELS


def _population() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for source, size in (("alpha", 30), ("beta", 5), ("gamma", 12)):
        for i in range(size):
            out[f"it_{source}_{i:03d}"] = source
    out["it_orphan"] = None
    return out


# ---------------------------------------------------------------------------------- per source
def test_per_source_sample_is_deterministic_whatever_the_input_order() -> None:
    population = _population()
    first = sample_per_source(population, 10, seed=7)
    pairs = list(population.items())
    random.Random(1).shuffle(pairs)
    assert sample_per_source(pairs, 10, seed=7) == first
    assert sample_per_source(dict(reversed(pairs)), 10, seed=7) == first
    assert sample_per_source(population, 10, seed=8) != first


def test_per_source_sample_takes_n_or_all() -> None:
    population = _population()
    ids = sample_per_source(population, 10, seed=0)
    assert len(ids) == len(set(ids)) == 10 + 5 + 10 + 1
    by_source: dict[str | None, list[str]] = {}
    for item_id in ids:
        by_source.setdefault(population[item_id], []).append(item_id)
    assert [len(v) for v in by_source.values()] == [1, 10, 5, 10]  # "" (no source) sorts first
    assert sorted(by_source["beta"]) == sorted(k for k, v in population.items() if v == "beta")


def test_adding_a_source_does_not_change_the_others() -> None:
    population = _population()
    before = sample_per_source(population, 4, seed=3)
    population.update({f"it_delta_{i}": "delta" for i in range(9)})
    after = sample_per_source(population, 4, seed=3)
    assert [i for i in after if "delta" not in i] == before


def test_sample_size_must_be_positive_and_strata_unambiguous() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        sample_per_source(_population(), 0, seed=0)
    with pytest.raises(ValueError, match="given in two strata"):
        sample_per_source([("it_1", "a"), ("it_1", "b")], 1, seed=0)
    assert sample_per_source([("it_1", "a"), ("it_1", "a")], 5, seed=0) == ["it_1"]


# ---------------------------------------------------------------------------------- stratified
def test_stratified_sample_per_label_in_label_order() -> None:
    labels: dict[str, str | None] = {}
    for index, label in enumerate(reversed(LABELS)):
        for i in range(3 + index):
            labels[f"it_{label}_{i}"] = label
    labels["it_tie"] = None
    ids = sample_stratified(labels, 4, seed=11)
    assert "it_tie" not in ids
    got = [labels[i] for i in ids]
    assert got == sorted(got, key=LABELS.index)
    counts = {label: got.count(label) for label in LABELS}
    assert counts["no_crisis"] == 3  # only three of them
    assert all(counts[label] == 4 for label in LABELS if label != "no_crisis")
    shuffled = list(labels.items())
    random.Random(5).shuffle(shuffled)
    assert sample_stratified(shuffled, 4, seed=11) == ids


def test_store_samples(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        ids = store.add_items(
            [([f"turn {i}"], "alpha" if i % 2 else "beta", None) for i in range(10)],
            origin="corpus",
        )
        store.add_items([(["imported"], "alpha", None)], origin="sample-file")
        chosen = save_per_source_sample(store, "dev", 3, seed=1)
        assert store.sample_items("dev") == chosen
        assert len(chosen) == 6 and set(chosen) <= set(ids)
        assert save_per_source_sample(store, "dev", 3, seed=1) == chosen  # re-save: no-op
        only_alpha = save_per_source_sample(store, "alpha", 50, seed=1, sources=["alpha"])
        assert len(only_alpha) == 5
        strat = save_stratified_sample(
            store, "strat", {ids[0]: "self_harm", ids[1]: "no_crisis", ids[2]: None}, 1, seed=0
        )
        assert strat == [ids[0], ids[1]]
        with pytest.raises(InputError, match="no items to sample"):
            save_per_source_sample(store, "none", 3, seed=1, sources=["zeta"])


# ---------------------------------------------------------------------------------- sample files
def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_import_sample_file_variants(tmp_path: Path) -> None:
    records = [
        {"inputs": ["I feel low.", "Nothing helps."], "label": "Self-Harm", "dataset_id": "hugg_1"},
        {"inputs": "['I feel low.', 'Nothing helps.']", "label": "", "dataset_id": "hugg_2"},
        {"inputs": "Can't sleep. | Mind racing.", "label": None},
        {"inputs": "One single turn."},
    ]
    path = _write(tmp_path / "sample.json", records)
    with Store.open(tmp_path / "run") as store:
        result = import_sample_file(store, path, "mine")
        assert result.records == 4
        assert result.duplicates == 1
        assert result.item_ids == [
            item_id_for(["I feel low.", "Nothing helps."]),
            item_id_for(["Can't sleep.", "Mind racing."]),
            item_id_for(["One single turn."]),
        ]
        assert store.sample_items("mine") == result.item_ids
        frame = store.items_frame().set_index("item_id")
        first = frame.loc[result.item_ids[0]]
        assert (first["source"], first["source_label"], first["origin"]) == (
            "hugg_1",
            "self_harm",
            "sample-file",
        )
        recipe = store.sample_recipe("mine")
        assert recipe is not None
        assert recipe["kind"] == "sample-file" and recipe["unique_items"] == 3
        again = import_sample_file(store, path, "mine")  # idempotent
        assert again.item_ids == result.item_ids


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "the sample is empty"),
        ({"inputs": ["a"]}, "expected a JSON list of records with an 'inputs' field, got dict"),
        (["just text"], "record [0]: expected an object with field 'inputs', got str"),
        ([{"inputs": ["ok"]}, {"turns": ["x"]}], "record [1]: no field 'inputs'"),
        ([{"inputs": 5}], "record [0], field 'inputs': expected a list of turns"),
        ([{"inputs": ["ok", 3]}], "record [0], field 'inputs': expected a list of turns"),
        ([{"inputs": []}], "record [0], field 'inputs': expected at least one turn"),
        ([{"inputs": "['quoted', unquoted]"}], "record [0], field 'inputs': looks like a list but"),
        ([{"inputs": ["ok"], "label": "grief"}], "record [0], field 'label': unknown crisis"),
        ([{"inputs": ["ok"], "dataset_id": 3}], "record [0], field 'dataset_id': expected a str"),
    ],
)
def test_import_sample_file_errors(tmp_path: Path, data: Any, expected: str) -> None:
    path = _write(tmp_path / "bad.json", data)
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError) as info:
            import_sample_file(store, path, "bad")
        assert store.sample_names() == []
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_import_sample_file_unreadable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
            import_sample_file(store, broken, "x")
        with pytest.raises(InputError, match=r"absent\.json: no such file"):
            import_sample_file(store, tmp_path / "absent.json", "x")


def test_parse_inputs_keeps_turns_exactly() -> None:
    assert parse_inputs(" a  |  b ", where="x") == [" a ", " b "]
    assert parse_inputs("[' a ', 'b']", where="x") == [" a ", "b"]


# ---------------------------------------------------------------------------------- study files
@pytest.mark.shared
@pytest.mark.parametrize(
    ("filename", "records", "unique"),
    [
        ("sampled_dataset_n_200_merged_n50-noSeed_156-s42.json", 206, 204),
        ("sampled_dataset_n_2046_nPerD168_seed0.json", 2046, 2024),
    ],
)
def test_import_the_studys_samples(
    study_dir: Path, tmp_path: Path, filename: str, records: int, unique: int
) -> None:
    with Store.open(tmp_path) as store:
        result = import_sample_file(store, study_dir / "processed" / filename, "study")
        assert result.records == records
        assert len(result.item_ids) == unique
        assert store.sample_items("study") == result.item_ids
        frame = store.items_frame()
        assert len(frame) == unique
        labels = {x for x in frame["source_label"] if isinstance(x, str)}
        assert labels <= set(LABELS)


@pytest.mark.shared
def test_joined_and_list_inputs_give_the_same_items(study_dir: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        joined = import_sample_file(
            store, study_dir / "human_label" / "H1_scores_n206_s42.json", "scores"
        )
        listed = import_sample_file(
            store, study_dir / "human_label" / "H1_labeled_n206_s42.json", "labels"
        )
        validation = import_sample_file(
            store,
            study_dir / "processed" / "sampled_dataset_n_200_merged_n50-noSeed_156-s42.json",
            "validation",
        )
    assert joined.item_ids == listed.item_ids == validation.item_ids


# ---------------------------------------------------------------------------------- input size
def test_import_refuses_an_input_over_the_size_limit(tmp_path: Path) -> None:
    records = [{"inputs": ["Fine."]}, {"inputs": ["a" * 60, "b" * 50]}, {"inputs": ["Late."]}]
    path = _write(tmp_path / "big.json", records)
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError) as info:
            import_sample_file(store, path, "big", max_input_chars=100)
        assert store.counts()["items"] == 0 and store.sample_names() == []
        result = import_sample_file(store, path, "big", max_input_chars=110)
        assert result.records == 3
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: record [1], field 'inputs': ")
    assert "110 characters" in message and "sample.max_input_chars" in message
    assert "100" in message


def test_import_default_size_limit_refuses_a_five_megabyte_input(tmp_path: Path) -> None:
    path = _write(tmp_path / "huge.json", [{"inputs": "x" * 5_000_000}])
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError, match=r"huge\.json: record \[0\], field 'inputs': "):
            import_sample_file(store, path, "huge")
        assert store.counts()["items"] == 0
