"""build_corpus: adapters -> preprocessing -> store, with per-source, per-step counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crisiseval.corpus import SOURCE_IDS, build_corpus
from crisiseval.errors import InputError
from crisiseval.store import Store

Fixtures = dict[str, tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str | None]]]]


def _write_all(source_fixtures: Fixtures, write: Any, root: Path) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for source_id, (records, _expected) in source_fixtures.items():
        for split, rows in records.items():
            write.jsonl(root / source_id / f"{split}.jsonl", rows)
        paths[source_id] = root / source_id
    return paths


def test_build_all_sources_into_the_store(
    source_fixtures: Fixtures, write: Any, tmp_path: Path
) -> None:
    paths = _write_all(source_fixtures, write, tmp_path / "src")
    with Store.open(tmp_path / "run") as store:
        stats = build_corpus(store, [(sid, paths[sid]) for sid in SOURCE_IDS])
        frame = store.items_frame()
    assert list(stats.sources) == list(SOURCE_IDS)
    total = stats.total()
    assert total.kept == len(frame) == 17
    assert set(frame["origin"]) == {"corpus"}
    assert total.filtered_by_label == 2
    assert total.unextractable == 2
    assert total.records_read == total.filtered_by_label + total.unextractable + total.docs_read
    by_text = {
        tuple(turns): (source, label if isinstance(label, str) else None)
        for turns, source, label in zip(frame.turns, frame.source, frame.source_label, strict=True)
    }
    assert by_text[("I drink until I black out every night.",)] == (
        "richie_ghost_suicidal",
        "substance_abuse_or_withdrawal",
    )
    assert by_text[("My flatmate moved out.",)] == ("mental_disorder_detection", None)
    assert by_text[("Hi Alex.", "Honestly, pretty low.")] == ("nart_100k", None)
    assert stats.sources["fadodr_mental_health_dataset"].files == [
        str(paths["fadodr_mental_health_dataset"] / "train.jsonl"),
        str(paths["fadodr_mental_health_dataset"] / "test.jsonl"),
    ]


def test_cross_source_duplicates_first_source_wins(write: Any, tmp_path: Path) -> None:
    shared = "I cannot sleep. Everything feels heavy."
    first = write.jsonl(tmp_path / "a.jsonl", [{"input": shared}, {"input": shared}])
    second = write.jsonl(tmp_path / "b.jsonl", [{"Context": shared}, {"Context": "New one."}])
    long_text = " ".join(f"Sentence {i}." for i in range(41))
    third = write.jsonl(tmp_path / "c.jsonl", [{"prompt": long_text}, {"prompt": "!!! ..."}])
    with Store.open(tmp_path / "run") as store:
        stats = build_corpus(
            store,
            [
                ("marmik_mental_health", first),
                ("Amod/mental_health_counseling_conversations", second),
                ("hugg_9", third),
            ],
        )
        frame = store.items_frame()
    rows = {row["source"]: row for row in stats.rows()}
    assert rows["marmik_mental_health"]["kept"] == 1
    assert rows["marmik_mental_health"]["duplicates_within"] == 1
    assert rows["amod_counseling"]["duplicates_across"] == 1
    assert rows["amod_counseling"]["kept"] == 1
    assert rows["fanyin_self_harm"]["too_long"] == 1
    assert rows["fanyin_self_harm"]["empty"] == 1
    assert rows["total"]["kept"] == 2
    sources = dict(zip(frame.turns.map(tuple), frame.source, strict=True))
    assert sources[("I cannot sleep.", "Everything feels heavy.")] == "marmik_mental_health"


def test_rebuild_is_idempotent(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "a.jsonl", [{"input": "One. Two."}, {"input": "Three."}])
    with Store.open(tmp_path / "run") as store:
        build_corpus(store, [("marmik_mental_health", path)], batch_size=1)
        build_corpus(store, [("marmik_mental_health", path)])
        assert store.counts()["items"] == 2


def test_specs_are_checked_before_reading(write: Any, tmp_path: Path) -> None:
    good = write.jsonl(tmp_path / "a.jsonl", [{"input": "Hello there."}])
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError, match="unknown corpus source 'nope'"):
            build_corpus(store, [("marmik_mental_health", good), ("nope", None)])
        with pytest.raises(InputError, match=r"missing\.jsonl: no such file or directory"):
            build_corpus(
                store, [("marmik_mental_health", good), ("psyset", tmp_path / "missing.jsonl")]
            )
        with pytest.raises(InputError, match="no corpus sources given"):
            build_corpus(store, [])
        assert store.counts()["items"] == 0


# ---------------------------------------------------------------------------------- input size
def test_an_input_over_the_size_limit_is_refused_and_nothing_is_written(
    write: Any, tmp_path: Path
) -> None:
    small = write.jsonl(tmp_path / "a.jsonl", [{"input": "One. Two."}, {"input": "Three."}])
    huge = "word " * 60  # one turn of 300 characters (no sentence end: it is not split)
    big = write.jsonl(
        tmp_path / "b.jsonl", [{"Context": "Fine."}, {"Context": "Also fine."}, {"Context": huge}]
    )
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError) as info:
            build_corpus(
                store,
                [("marmik_mental_health", small), ("amod_counseling", big)],
                max_input_chars=200,
                batch_size=1,  # earlier items are flushed before the big one is read
            )
        assert store.counts()["items"] == 0
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{big}: line 3: ")
    assert "299 characters" in message and "sample.max_input_chars" in message
    assert "200" in message


def test_the_size_limit_counts_the_cleaned_turns(write: Any, tmp_path: Path) -> None:
    text = "A" * 150 + ". " + "B" * 49 + "."  # two turns: 151 + 50 characters, 201 in all
    path = write.jsonl(tmp_path / "a.jsonl", [{"input": text}])
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError, match=r"a\.jsonl: line 1: .*201 characters"):
            build_corpus(store, [("marmik_mental_health", path)], max_input_chars=200)
        build_corpus(store, [("marmik_mental_health", path)], max_input_chars=201)
        assert store.counts()["items"] == 1


def test_the_default_size_limit_refuses_a_five_megabyte_input(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "a.jsonl", [{"input": "Fine."}, {"input": "x" * 5_000_000}])
    with Store.open(tmp_path / "run") as store:
        with pytest.raises(InputError) as info:
            build_corpus(store, [("marmik_mental_health", path)])
        assert store.counts()["items"] == 0
    assert str(info.value).startswith(f"{path}: line 2: ")
    assert "5,000,000 characters" in str(info.value) and "200,000" in str(info.value)


def test_documents_dropped_for_other_reasons_are_not_checked(write: Any, tmp_path: Path) -> None:
    too_many_turns = " ".join(f"Sentence number {i} of a long post." for i in range(41))
    path = write.jsonl(tmp_path / "a.jsonl", [{"input": too_many_turns}, {"input": "Short."}])
    with Store.open(tmp_path / "run") as store:
        stats = build_corpus(store, [("marmik_mental_health", path)], max_input_chars=100)
    assert stats.total().too_long == 1 and stats.total().kept == 1
