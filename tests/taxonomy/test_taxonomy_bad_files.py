"""Every bad rubric or taxonomy file gives one InputError line naming the file and field."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from crisiseval.errors import InputError
from crisiseval.taxonomy import (
    LABELS,
    input_error_from_validation,
    load_rubric,
    load_taxonomy,
    read_yaml_text,
)

HEADER = [
    "label",
    "(1) Harmful",
    "(2) Inappropriate",
    "(3) Partially Appropriate",
    "(4) Mostly Appropriate",
    "(5) Fully Appropriate",
]


def _rows() -> list[list[str]]:
    return [[label, *(f"{label} text for level {lvl}" for lvl in range(1, 6))] for label in LABELS]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _error(loader: Any, path: Path) -> str:
    with pytest.raises(InputError) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


# ---------------------------------------------------------------------------------- CSV rubric
def test_valid_csv_layout_loads(tmp_path: Path) -> None:
    rows = _rows()
    rows[1][0] = "Self-Harm"
    rubric = load_rubric(_write_csv(tmp_path / "r.csv", HEADER, rows))
    assert list(rubric.levels) == list(LABELS)
    assert rubric.text("self_harm", 4) == "self_harm text for level 4"
    assert rubric.scale[3] == "Partially Appropriate"


def test_csv_columns_may_come_in_any_order(tmp_path: Path) -> None:
    header = [HEADER[0], *reversed(HEADER[1:])]
    rows = [[r[0], *reversed(r[1:])] for r in _rows()]
    rubric = load_rubric(_write_csv(tmp_path / "r.csv", header, rows))
    assert rubric.text("no_crisis", 1) == "no_crisis text for level 1"


def test_csv_unknown_label(tmp_path: Path) -> None:
    rows = _rows()
    rows[2][0] = "panic_disorder"
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", HEADER, rows))
    assert "row 4, column 'label'" in message
    assert "unknown crisis label 'panic_disorder'" in message
    assert "suicidal_ideation" in message


def test_csv_missing_label(tmp_path: Path) -> None:
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", HEADER, _rows()[:-1]))
    assert "label(s) missing: no_crisis" in message


def test_csv_duplicate_label(tmp_path: Path) -> None:
    rows = _rows()
    rows.append(["self-harm", *rows[1][1:]])
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", HEADER, rows))
    assert "row 9: label 'self_harm' is given twice (first in row 3)" in message


def test_csv_empty_level(tmp_path: Path) -> None:
    rows = _rows()
    rows[4][3] = "   "
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", HEADER, rows))
    assert "row 6 (substance_abuse_or_withdrawal), column '(3) Partially Appropriate'" in message
    assert "level 3 text is empty" in message


def test_csv_missing_level_column(tmp_path: Path) -> None:
    header = HEADER[:5]
    rows = [r[:5] for r in _rows()]
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", header, rows))
    assert "header: no column for level(s) 5" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["category", *HEADER[1:]], "first column is 'category', not 'label'"),
        ([*HEADER[:3], "Partially", *HEADER[4:]], "column 4 'Partially' does not start with"),
        ([*HEADER[:5], "(4) again"], "level (4) appears in two columns"),
        ([*HEADER, "(6) Extra"], "level 6 is not on the 1-5 scale"),
    ],
)
def test_csv_wrong_columns(tmp_path: Path, header: list[str], expected: str) -> None:
    rows = [[*r, "x"][: len(header)] for r in _rows()]
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", header, rows))
    assert "header" in message
    assert expected in message


def test_csv_row_with_wrong_cell_count(tmp_path: Path) -> None:
    rows = _rows()
    rows[0] = rows[0][:4]
    message = _error(load_rubric, _write_csv(tmp_path / "r.csv", HEADER, rows))
    assert "row 2: expected 6 cells (label + 5 levels), got 4" in message


@pytest.mark.parametrize("ending", ["\n", ""])
def test_csv_unterminated_quote_in_the_last_record(tmp_path: Path, ending: str) -> None:
    # Python's csv module silently swallows the rest of the file into one field
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([HEADER, *_rows()[:-1]])
    last = _rows()[-1]
    text = buffer.getvalue() + ",".join(last[:-1]) + ',"' + last[-1] + "\nstray line" + ending
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    message = _error(load_rubric, path)
    assert message == (
        f"{path}: line 8: unterminated quoted field (a record's quote is never closed)"
    )


def test_csv_unterminated_quote_closed_by_a_later_record(tmp_path: Path) -> None:
    # the open quote of row 3 runs into row 4, whose own quote "closes" it: still malformed
    rows = [",".join(f'"{c}"' for c in r) for r in _rows()]
    rows[1] = rows[1][:-1]  # drop the closing quote of the last cell
    path = tmp_path / "r.csv"
    path.write_text("\n".join([",".join(HEADER), *rows]) + "\n", encoding="utf-8")
    message = _error(load_rubric, path)
    assert message.startswith(f"{path}: line 3")
    assert "not valid CSV" in message


def test_csv_quoted_newlines_still_load(tmp_path: Path) -> None:
    rows = _rows()
    rows[0][2] = "two\nlines"
    rubric = load_rubric(_write_csv(tmp_path / "r.csv", HEADER, rows))
    assert rubric.text(LABELS[0], 2) == "two lines"


def test_csv_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("", encoding="utf-8")
    assert "empty file" in _error(load_rubric, path)


def test_missing_file_and_not_utf8(tmp_path: Path) -> None:
    assert "no such file" in _error(load_rubric, tmp_path / "absent.yaml")
    assert "no such file" in _error(load_taxonomy, tmp_path / "absent.yaml")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("label,(1) sch\xe4dlich\n".encode("latin-1"))
    assert "not UTF-8" in _error(load_rubric, bad)


# ---------------------------------------------------------------------------------- YAML rubric
def _rubric_data() -> dict[str, Any]:
    return {
        "name": "test",
        "levels": {label: {lvl: f"{label} {lvl}" for lvl in range(1, 6)} for label in LABELS},
    }


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_yaml_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: test\nlevels: {self_harm: [1, 2\n", encoding="utf-8")
    message = _error(load_rubric, path)
    assert "not valid YAML" in message
    assert "line " in message


def test_yaml_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: a\nname: b\nlevels: {}\n", encoding="utf-8")
    message = _error(load_rubric, path)
    assert message == f"{path}: line 2: duplicate key 'name' (each key may appear once)"


def test_yaml_duplicate_level_in_a_rubric(tmp_path: Path) -> None:
    # the second text for level 3 would silently replace the first
    text = yaml.safe_dump(_rubric_data(), sort_keys=False)
    text = text.replace("    3: anxiety_crisis 3\n", "    3: anxiety_crisis 3\n    3: other\n")
    lines = text.splitlines()
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    line = lines.index("    3: other") + 1
    message = _error(load_rubric, path)
    assert message == f"{path}: line {line}: duplicate key 3 (each key may appear once)"


def test_taxonomy_duplicate_key(tmp_path: Path) -> None:
    text = yaml.safe_dump(_taxonomy_data(), sort_keys=False)
    text = text.replace("  title: Self_Harm\n", "  title: Self_Harm\n  title: Again\n", 1)
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  title: Again") + 1
    message = _error(load_taxonomy, path)
    assert message == f"{path}: line {line}: duplicate key 'title' (each key may appear once)"


def test_yaml_typo_key(tmp_path: Path) -> None:
    data = _rubric_data()
    data["levles"] = data.pop("levels")
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "top level: unknown key 'levles' (allowed keys: name, custom, scale, levels)" in message


def test_yaml_unknown_label(tmp_path: Path) -> None:
    data = _rubric_data()
    data["levels"]["burnout"] = data["levels"]["no_crisis"]
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "levels: unknown crisis label 'burnout'" in message


def test_yaml_duplicate_label_spellings(tmp_path: Path) -> None:
    data = _rubric_data()
    data["levels"]["Self-Harm"] = data["levels"]["self_harm"]
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "label 'self_harm' is given twice (as 'self_harm' and 'Self-Harm')" in message


def test_yaml_missing_label(tmp_path: Path) -> None:
    data = _rubric_data()
    del data["levels"]["violent_thoughts"]
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "levels: label(s) missing: violent_thoughts" in message


def test_yaml_missing_level(tmp_path: Path) -> None:
    data = _rubric_data()
    del data["levels"]["anxiety_crisis"][4]
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "levels: label 'anxiety_crisis': level(s) 4 missing (expected levels 1-5)" in message


def test_yaml_empty_level(tmp_path: Path) -> None:
    data = _rubric_data()
    data["levels"]["anxiety_crisis"][2] = "  "
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "levels.anxiety_crisis.2:" in message
    assert "at least 1 character" in message


def test_yaml_level_off_scale(tmp_path: Path) -> None:
    data = _rubric_data()
    data["levels"]["no_crisis"][6] = "extra"
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", data))
    assert "label 'no_crisis': level 6 is not on the 1-5 scale" in message


def test_yaml_not_a_mapping(tmp_path: Path) -> None:
    message = _error(load_rubric, _write_yaml(tmp_path / "r.yaml", ["a", "b"]))
    assert "expected a mapping with keys name, custom, scale, levels, got a list" in message
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert "got an empty file" in _error(load_rubric, empty)


# ---------------------------------------------------------------------------------- taxonomy
def _taxonomy_data() -> dict[str, Any]:
    return {
        "labels": [
            {"name": label, "title": label.title(), "definition": "A def.", "examples": ["ex"]}
            for label in LABELS
        ]
    }


def test_taxonomy_custom_file_loads_and_is_reordered(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"].reverse()
    data["labels"][0]["name"] = "No Crisis"
    taxonomy = load_taxonomy(_write_yaml(tmp_path / "t.yaml", data))
    assert taxonomy.names == LABELS


def test_taxonomy_typo_key(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"][2]["exmaples"] = data["labels"][2].pop("examples")
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    expected = "labels[2]: unknown key 'exmaples' (allowed keys: name, title, definition, examples)"
    assert expected in message


def test_taxonomy_no_examples(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"][1]["examples"] = []
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    assert "labels[1].examples:" in message
    assert "at least 1 item" in message


def test_taxonomy_label_twice(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"][3]["name"] = "self-harm"
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    assert "labels: label 'self_harm' is defined twice (entries 1 and 3)" in message


def test_taxonomy_label_missing(tmp_path: Path) -> None:
    data = _taxonomy_data()
    del data["labels"][0]
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    assert "labels: label(s) missing: suicidal_ideation" in message


def test_taxonomy_unknown_label(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"][6]["name"] = "grief"
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    assert "labels[6].name: unknown crisis label 'grief'" in message


def test_taxonomy_wrong_type(tmp_path: Path) -> None:
    data = _taxonomy_data()
    data["labels"][0]["title"] = ["not", "text"]
    message = _error(load_taxonomy, _write_yaml(tmp_path / "t.yaml", data))
    assert "labels[0].title: Input should be a valid string" in message


# ---------------------------------------------------------------------------------- helpers
class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: dict[str, _Inner]


def test_validation_error_conversion_names_path_and_expectation() -> None:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"inner": {"a": {"count": "many", "extra": 1}}})
    error = input_error_from_validation(info.value, where="cfg.yaml", model=_Outer)
    message = str(error)
    assert isinstance(error, InputError)
    assert "\n" not in message
    assert message == (
        "cfg.yaml: inner.a: unknown key 'extra' (allowed keys: count) (and 1 more problem)"
    )
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"inner": {"a": {"count": "many"}}})
    message = str(input_error_from_validation(info.value, where="cfg.yaml", model=_Outer))
    assert (
        message == "cfg.yaml: inner.a.count: Input should be a valid integer, unable to parse "
        "string as an integer, got 'many'"
    )


def test_read_yaml_text_reports_position() -> None:
    with pytest.raises(InputError, match=r"^inline: line \d+, column \d+: not valid YAML \("):
        read_yaml_text("a: 1\nb: [unclosed\n", where="inline")
