"""Source adapters: the registry, each adapter on its own schema, file formats, bad files."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from crisiseval.corpus import (
    SOURCE_IDS,
    SOURCES,
    RawDoc,
    ReadCounts,
    get_source,
    read_records_file,
)
from crisiseval.errors import InputError
from crisiseval.taxonomy import LABELS

Fixtures = dict[str, tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str | None]]]]


def _docs(source_id: str, path: Path | None, counts: ReadCounts | None = None) -> list[RawDoc]:
    return list(get_source(source_id).documents(path, counts=counts))


def _error(source_id: str, path: Path) -> str:
    with pytest.raises(InputError) as info:
        _docs(source_id, path)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------- registry
def test_registry_has_the_studys_twelve_sources() -> None:
    assert len(SOURCES) == 12
    assert len(set(SOURCE_IDS)) == 12
    assert [a.hf_id for a in SOURCES] == [
        "sajjadhadi/Mental-Disorder-Detection-Data",
        "marmikpandya/mental-health",
        "fadodr/mental_health_dataset",
        "fadodr/mental_health_therapy",
        "psycode1/psyset",
        "Amod/mental_health_counseling_conversations",
        "cypsiSAS/transformed_Suicidal_ideation",
        "fanyin3639/test_test_self_harm_all_levels",
        "arianaazarbal/self-harm-synthetic-eval",
        "richie-ghost/suicidal_finetune",
        "ShenLab/MentalChat16K",
        "jerryjalapeno/nart-100k-synthetic",
    ]
    for adapter in SOURCES:
        assert adapter.splits
        assert adapter.rule
        mapped = list((adapter.label_map or {}).values())
        assert all(label in LABELS for label in [*mapped, adapter.label or "no_crisis"])
        assert (adapter.label_field is None) == (adapter.label_map is None)


def test_get_source_accepts_id_hub_id_and_study_id() -> None:
    adapter = get_source("richie_ghost_suicidal")
    assert get_source("richie-ghost/suicidal_finetune") is adapter
    assert get_source("HUGG_11") is adapter
    assert get_source("hugg_6") is get_source("hugg_2")
    with pytest.raises(InputError, match=r"^unknown corpus source 'reddit' \(known: "):
        get_source("reddit")


def test_fixtures_cover_every_source(source_fixtures: Fixtures) -> None:
    assert set(source_fixtures) == set(SOURCE_IDS)


# ---------------------------------------------------------------------------------- adapters
@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_adapter_on_its_own_schema_jsonl(
    source_id: str, source_fixtures: Fixtures, write: Any, tmp_path: Path
) -> None:
    records, expected = source_fixtures[source_id]
    directory = tmp_path / source_id
    for split, rows in records.items():
        write.jsonl(directory / f"{split}.jsonl", rows)
    counts = ReadCounts()
    docs = _docs(source_id, directory, counts)
    assert [(d.text, d.label) for d in docs] == expected
    assert all(d.source_id == source_id for d in docs)
    n_records = sum(len(rows) for rows in records.values())
    assert counts.records == n_records
    assert counts.records == len(docs) + counts.filtered_by_label + counts.unextractable
    assert [Path(f).stem for f in counts.files] == list(records)


@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_adapter_reads_csv_and_parquet_and_json(
    source_id: str, source_fixtures: Fixtures, write: Any, tmp_path: Path
) -> None:
    records, expected = source_fixtures[source_id]
    rows = [r for split in records.values() for r in split]
    for path in (
        write.csv(tmp_path / "all.csv", rows),
        write.parquet(tmp_path / "all.parquet", rows),
        write.json(tmp_path / "all.json", rows),
    ):
        docs = _docs(source_id, path)
        assert [(d.text, d.label) for d in docs] == expected, path.suffix


def test_directory_with_hub_style_parquet_names(
    source_fixtures: Fixtures, write: Any, tmp_path: Path
) -> None:
    records, expected = source_fixtures["richie_ghost_suicidal"]
    write.parquet(tmp_path / "data" / "train-00000-of-00001.parquet", records["train"])
    write.parquet(tmp_path / "data" / "eval-00000-of-00001.parquet", records["eval"])
    docs = _docs("richie_ghost_suicidal", tmp_path)
    assert [(d.text, d.label) for d in docs] == expected


def test_json_file_holding_json_lines(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "exported.json", [{"Context": "Is this normal?"}])
    assert [d.text for d in _docs("amod_counseling", path)] == ["Is this normal?"]


def test_null_text_counts_as_unextractable(write: Any, tmp_path: Path) -> None:
    rows = [{"input": None}, {"input": "  "}, {"input": "Hi"}, {"input": float("nan")}]
    path = write.jsonl(tmp_path / "x.jsonl", rows)
    counts = ReadCounts()
    assert [d.text for d in _docs("marmik_mental_health", path, counts)] == ["Hi"]
    assert counts.unextractable == 3


def test_label_categories_compare_case_insensitively(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "x.jsonl", [{"Text": "Too many pills.", "Label": " consumption"}])
    assert _docs("richie_ghost_suicidal", path)[0].label == "substance_abuse_or_withdrawal"


def test_nart_conversations_as_text_in_csv(write: Any, tmp_path: Path) -> None:
    turns = [{"from": "human", "value": "I am tired."}, {"from": "gpt", "value": "Why?"}]
    path = write.csv(tmp_path / "nart.csv", [{"conversations": turns}])
    assert [d.text for d in _docs("nart_100k", path)] == ["I am tired."]
    repr_path = tmp_path / "nart_repr.csv"
    repr_path.write_text(f'conversations\n"{turns!r}"\n', encoding="utf-8")
    assert [d.text for d in _docs("nart_100k", repr_path)] == ["I am tired."]


# ---------------------------------------------------------------------------------- bad files
def test_record_missing_field_names_file_line_and_field(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "train.jsonl", [{"client": "ok"}, {"therapist": "no client"}])
    message = _error("fadodr_mental_health_dataset", path)
    assert message.startswith(f"{path}: line 2: record has no field 'client'")
    assert "fields present: therapist" in message


def test_record_missing_label_field(write: Any, tmp_path: Path) -> None:
    path = write.json(tmp_path / "x.json", [{"instruction": "text", "kind": "suicidal_ideation"}])
    message = _error("azarbal_self_harm_eval", path)
    assert f"{path}: record [0]: record has no field 'category'" in message


def test_csv_header_without_the_field(write: Any, tmp_path: Path) -> None:
    path = write.csv(tmp_path / "x.csv", [{"question": "a"}])
    message = _error("amod_counseling", path)
    assert message.startswith(f"{path}: header has no column 'Context'")
    assert "columns: question" in message


@pytest.mark.parametrize("ending", ["\n", ""])
def test_csv_unterminated_quote_in_the_last_record(tmp_path: Path, ending: str) -> None:
    # Python's csv module would swallow the rest of the file into the record's last field
    path = tmp_path / "x.csv"
    text = 'input,output\nFine.,ok\n"Also fine\non two lines.",ok\nLast one.,"never closed\n'
    path.write_text(text + "Ghost.,row\nGhost again.,row" + ending, encoding="utf-8")
    message = _error("marmik_mental_health", path)
    assert message == (
        f"{path}: line 5: unterminated quoted field (a record's quote is never closed)"
    )


def test_csv_unterminated_quote_in_the_first_field(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('input\nFine.\n"runs to the end\nof the file\n', encoding="utf-8")
    message = _error("marmik_mental_health", path)
    assert message == (
        f"{path}: line 3: unterminated quoted field (a record's quote is never closed)"
    )


def test_csv_unterminated_quote_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('input,"output\nFine.,ok\n', encoding="utf-8")
    message = _error("marmik_mental_health", path)
    assert message == (
        f"{path}: line 1: unterminated quoted field (a record's quote is never closed)"
    )


def test_csv_stray_quote_after_a_closed_field(tmp_path: Path) -> None:
    # an open quote "closed" by the next record's quote merges two records: refused too
    path = tmp_path / "x.csv"
    path.write_text('input,output\n"Open quote.,ok\n"Next.",ok\n', encoding="utf-8")
    message = _error("marmik_mental_health", path)
    assert message.startswith(f"{path}: line 2: not valid CSV (")


def test_csv_line_numbers_count_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('client\n"one\ntwo"\n\n\n42\n', encoding="utf-8")
    records = list(read_records_file(path))
    assert records == [
        (f"{path}: line 2", {"client": "one\ntwo"}),
        (f"{path}: line 6", {"client": "42"}),
    ]


def test_parquet_without_the_field(write: Any, tmp_path: Path) -> None:
    path = write.parquet(tmp_path / "x.parquet", [{"question": "a"}])
    assert _error("amod_counseling", path).startswith(f"{path}: header has no column 'Context'")


def test_json_list_with_a_non_object(write: Any, tmp_path: Path) -> None:
    path = write.json(tmp_path / "x.json", [{"input": "fine"}, "just a string"])
    message = _error("marmik_mental_health", path)
    assert message == f"{path}: record [1]: expected a JSON object (one record), got str"


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": "a"}\n{"input": \n', encoding="utf-8")
    assert _error("marmik_mental_health", path).startswith(f"{path}: line 2: not valid JSON")


def test_wrong_value_type(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "x.jsonl", [{"input": 42}])
    message = _error("marmik_mental_health", path)
    assert message == f"{path}: line 1, field 'input': expected text, got int 42"


def test_malformed_nart_turn(write: Any, tmp_path: Path) -> None:
    path = write.jsonl(tmp_path / "x.jsonl", [{"conversations": [{"speaker": "human"}]}])
    message = _error("nart_100k", path)
    assert f"{path}: line 1, field 'conversations': turn [0] is not a {{from, value}}" in message


def test_unsupported_suffix_missing_path_and_empty_directory(tmp_path: Path) -> None:
    odd = tmp_path / "data.txt"
    odd.write_text("hello", encoding="utf-8")
    assert "unsupported file type .txt" in _error("psyset", odd)
    assert "no such file or directory" in _error("psyset", tmp_path / "absent.jsonl")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert "no per-split file found (expected e.g. train.jsonl" in _error("psyset", empty)
    with pytest.raises(InputError, match="unsupported file type"):
        list(read_records_file(odd))


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    assert _error("psyset", path).startswith(f"{path}: not a readable parquet file")


# ---------------------------------------------------------------------------------- hub
class _FakeDataset(list[dict[str, Any]]):
    column_names: list[str]


def _fake_datasets(data: dict[str, list[dict[str, Any]]], calls: list[tuple[str, str]]) -> Any:
    def load_dataset(hf_id: str, split: str) -> _FakeDataset:
        calls.append((hf_id, split))
        if split not in data:
            raise ValueError(f'Unknown split "{split}".\nShould be one of {list(data)}.')
        rows = _FakeDataset(data[split])
        rows.column_names = list(data[split][0])
        return rows

    return types.SimpleNamespace(load_dataset=load_dataset)


def test_hub_loading_reads_every_split(
    monkeypatch: pytest.MonkeyPatch, source_fixtures: Fixtures
) -> None:
    records, expected = source_fixtures["fadodr_mental_health_therapy"]
    calls: list[tuple[str, str]] = []
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets(records, calls))
    counts = ReadCounts()
    docs = _docs("fadodr_mental_health_therapy", None, counts)
    assert [(d.text, d.label) for d in docs] == expected
    assert calls == [
        ("fadodr/mental_health_therapy", "train"),
        ("fadodr/mental_health_therapy", "test"),
    ]
    assert counts.files == [
        "hf://fadodr/mental_health_therapy/train",
        "hf://fadodr/mental_health_therapy/test",
    ]


def test_hub_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets({"train": [{"x": 1}]}, calls))
    with pytest.raises(InputError) as info:
        _docs("fadodr_mental_health_dataset", None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("fadodr/mental_health_dataset (split 'train'): header has no column")


def test_hub_missing_split_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    fake = _fake_datasets({"train": [{"client": "hello"}]}, calls)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(InputError) as info:
        _docs("fadodr_mental_health_dataset", None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("fadodr/mental_health_dataset (split 'test'): cannot load from")


def test_hub_without_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(InputError, match=r"needs the 'datasets' package"):
        _docs("psyset", None)
