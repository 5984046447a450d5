"""Trust the run directory (issue 9): one strict YAML loader (a repeated key is an error), CSV
records whose quote is never closed, and the maximum size of one input, down to the CLI."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiseval.cli import main
from crisiseval.errors import InputError
from crisiseval.textio import iter_csv_rows, load_yaml, read_yaml_text

DUPLICATE = "name: a\nmodels:\n  m: {provider: llama_cpp}\nname: b\n"


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    """``crisiseval ARGS`` in-process through ``main()``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["crisiseval", *args])
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping by rich
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), captured.out, captured.err


def _refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], study: Path, run: Path
) -> str:
    """``crisiseval run STUDY -d RUN --dry-run`` fails with one line and leaves no run dir."""
    code, out, err = _cli(monkeypatch, capsys, "run", str(study), "-d", str(run), "--dry-run")
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert not run.exists()
    return err.strip()[len("error: ") :]


# ---------------------------------------------------------------------------------- YAML
def test_load_yaml_refuses_a_repeated_key_with_its_line() -> None:
    with pytest.raises(InputError) as info:
        load_yaml(DUPLICATE, where="inline.yaml")
    assert str(info.value) == "inline.yaml: line 4: duplicate key 'name' (each key may appear once)"


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", 4, "'b'"),
        ("a: {x: 1, y: 2, x: 3}\n", 1, "'x'"),
        ("- {k: 1}\n- k: 1\n  k: 2\n", 3, "'k'"),
        ("1: a\n2: b\n1: c\n", 3, "1"),
    ],
)
def test_repeated_keys_anywhere(text: str, line: int, key: str) -> None:
    with pytest.raises(InputError) as info:
        load_yaml(text, where="f.yaml")
    assert str(info.value) == f"f.yaml: line {line}: duplicate key {key} (each key may appear once)"


def test_merge_keys_and_other_yaml_still_work() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [1, 1]\n"
    assert load_yaml(text, where="f.yaml") == {
        "base": {"x": 1, "y": 2},
        "use": {"x": 1, "y": 3},
        "list": [1, 1],
    }
    assert load_yaml("", where="f.yaml") is None


def test_load_yaml_is_safe() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.system ['true']\n", where="f.yaml")


def test_read_yaml_text_keeps_its_format_for_other_errors() -> None:
    with pytest.raises(InputError, match=r"^inline: line \d+, column \d+: not valid YAML \("):
        read_yaml_text("a: 1\nb: [unclosed\n", where="inline")
    with pytest.raises(InputError) as info:
        read_yaml_text(DUPLICATE, where="inline")
    assert str(info.value) == "inline: line 4: duplicate key 'name' (each key may appear once)"


@pytest.mark.parametrize(
    ("package", "filename"),
    [
        ("crisiseval.demo", "demo.yaml"),
        ("crisiseval.demo", "inputs.yaml"),
        ("crisiseval.taxonomy", "data/taxonomy.yaml"),
        ("crisiseval.taxonomy", "data/rubric.yaml"),
    ],
)
def test_the_packaged_yaml_has_no_repeated_key(package: str, filename: str) -> None:
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    assert load_yaml(text, where=filename) == yaml.safe_load(text)


def test_cli_duplicate_key_in_the_experiment_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "bad.yaml"
    study.write_text(
        "name: x\n"
        "models:\n  m: {provider: llama_cpp}\n"
        "sample: {builtin: demo}\n"
        "classify: {models: [m], runs: 1}\n"
        "sample: {builtin: demo, name: other}\n",
        encoding="utf-8",
    )
    line = _refused(monkeypatch, capsys, study, tmp_path / "X")
    assert line == f"{study}: line 6: duplicate key 'sample' (each key may appear once)"


# ---------------------------------------------------------------------------------- CSV
def test_iter_csv_rows_gives_the_line_each_record_starts_on() -> None:
    text = 'a,b\r\n"x\r\ny",1\r\n\r\nz,"2"\r\n'
    assert list(iter_csv_rows(text, "f.csv")) == [
        (1, ["a", "b"]),
        (2, ["x\r\ny", "1"]),
        (5, ["z", "2"]),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a,b\n1,"open\n2,3\n', 2),
        ('a,b\n1,"open\n2,3', 2),
        ('a,b\n1,"ends with an escaped quote""\n', 2),
        ('"a,b\n', 1),
        ('a,b\n1,2\n3,"', 3),
    ],
)
def test_iter_csv_rows_refuses_an_unterminated_quote(text: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        list(iter_csv_rows(text, "f.csv"))
    assert str(info.value) == (
        f"f.csv: line {line}: unterminated quoted field (a record's quote is never closed)"
    )


# ---------------------------------------------------------------------------------- input size
def _study_with_sample_file(tmp_path: Path, records: list[Any], **sample: Any) -> Path:
    (tmp_path / "items.json").write_text(json.dumps(records), encoding="utf-8")
    data = {
        "name": "limits",
        "models": {"m": {"base_url": "http://127.0.0.1:9/v1", "model": "mock"}},
        "sample": {"name": "s", "from_file": "items.json", **sample},
        "classify": {"models": ["m"], "runs": 1},
    }
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return study


def test_cli_refuses_a_five_megabyte_input_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"inputs": ["Fine."]}, {"inputs": ["x" * 5_000_000]}]
    study = _study_with_sample_file(tmp_path, records)
    line = _refused(monkeypatch, capsys, study, tmp_path / "X")
    assert line.startswith(f"{tmp_path / 'items.json'}: record [1], field 'inputs': ")
    assert "5,000,000 characters" in line and "200,000" in line


def test_cli_uses_the_configured_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"inputs": ["Fine."]}, {"inputs": ["y" * 101]}]
    study = _study_with_sample_file(tmp_path, records, max_input_chars=100)
    line = _refused(monkeypatch, capsys, study, tmp_path / "X")
    assert line.startswith(f"{tmp_path / 'items.json'}: record [1], field 'inputs': ")
    assert "101 characters" in line
