"""The experiment file: one-line ConfigErrors naming the file and the field, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisiseval.config import (
    MAX_INPUT_CHARS,
    ModelConfig,
    Price,
    endpoint_identity,
    load_study,
    parse_study,
)
from crisiseval.errors import ConfigError

GOOD = """\
name: pilot
models:
  gpt:
    base_url: https://api.openai.com/v1
    model: gpt-4o-mini
    api_key_env: OPENAI_API_KEY
    params: {temperature: 0}
    limits: {concurrency: 4, rpm: 500}
  smol:
    provider: llama_cpp
    gguf: models/smol.gguf
prices:
  gpt-4o-mini: {input_per_m: 0.15, output_per_m: 0.6}
sample:
  builtin: demo
classify:
  models: [gpt, smol]
  runs: 3
respond:
  respondents:
    - {name: helper, model: smol}
judge:
  judges: [gpt]
  rubric: rubric.yaml
"""


def _write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    assert msg.startswith(str(path)), msg
    return msg


def test_good_file_loads(tmp_path: Path) -> None:
    cfg = load_study(_write(tmp_path, GOOD))
    assert cfg.name == "pilot"
    assert cfg.models["gpt"].limits.concurrency == 4 and cfg.models["gpt"].limits.rpm == 500
    assert cfg.models["gpt"].limits.max_retries == 5  # defaults fill the rest
    assert cfg.classify is not None and cfg.classify.runs == 3
    assert cfg.prices["gpt-4o-mini"] == Price(input_per_m=0.15, output_per_m=0.6)
    assert "smol" not in cfg.prices


def test_relative_paths_resolve_against_the_file(tmp_path: Path, monkeypatch) -> None:
    sub = tmp_path / "exp"
    sub.mkdir()
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    cfg = load_study(_write(sub, GOOD))
    assert cfg.models["smol"].gguf == str(sub / "models" / "smol.gguf")
    assert cfg.judge is not None and cfg.judge.rubric == str(sub / "rubric.yaml")


def test_absolute_and_home_paths_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    text = GOOD.replace("gguf: models/smol.gguf", f"gguf: {tmp_path / 'abs.gguf'}").replace(
        "rubric: rubric.yaml", "rubric: ~/r.yaml"
    )
    cfg = load_study(_write(tmp_path, text))
    assert cfg.models["smol"].gguf == str(tmp_path / "abs.gguf")
    assert cfg.judge is not None and cfg.judge.rubric == str(tmp_path / "home" / "r.yaml")


def test_typo_key_names_file_and_field(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("    limits: {concurrency: 4", "    limts: {concurrency: 4"))
    msg = _error(p)
    assert "models.gpt.limts" in msg and "unknown key" in msg


def test_typo_nested_key(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("concurrency: 4", "concurency: 4"))
    assert "models.gpt.limits.concurency" in _error(p)


def test_typo_top_level_key(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("classify:", "clasify:"))
    msg = _error(p)
    assert "clasify" in msg and "unknown key" in msg


def test_bad_value_names_field(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("concurrency: 4", "concurrency: 0"))
    msg = _error(p)
    assert "models.gpt.limits.concurrency" in msg and "greater than or equal to 1" in msg


def test_unknown_model_reference(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("judges: [gpt]", "judges: [gpt, claude]"))
    msg = _error(p)
    assert "judge.judges" in msg and "'claude'" in msg and "gpt" in msg and "smol" in msg


def test_unknown_respondent_model(tmp_path: Path) -> None:
    p = _write(
        tmp_path, GOOD.replace("{name: helper, model: smol}", "{name: helper, model: smoll}")
    )
    msg = _error(p)
    assert "respond.respondents.model" in msg and "'smoll'" in msg


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    lines[5] = "    params: {temperature: 0"  # line 6: unclosed flow mapping
    p = _write(tmp_path, "\n".join(lines) + "\n")
    msg = _error(p)
    assert "invalid YAML" in msg
    assert " line " in msg
    line = int(msg.split(" line ")[1].split()[0])
    assert 6 <= line <= 8  # where the parser notices the unclosed brace


def test_invalid_yaml_exact_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "name: x\nmodels:\n  a: [1, 2\n  b: :\n")
    msg = _error(p)
    assert "line 4 invalid YAML" in msg


def test_tab_indentation_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "name: x\nmodels:\n\tgpt: {}\n")
    msg = _error(p)
    assert "line 3" in msg


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in _error(_write(tmp_path, "- a\n- b\n"))
    assert "mapping" in _error(_write(tmp_path, "", name="empty.yaml"))


def test_missing_file(tmp_path: Path) -> None:
    msg = _error(tmp_path / "nope.yaml")
    assert "no such file" in msg and "experiment file" in msg


def test_openai_model_needs_base_url_and_model(tmp_path: Path) -> None:
    p = _write(tmp_path, "models:\n  a: {model: x}\n")
    assert "base_url" in _error(p)
    p = _write(tmp_path, "models:\n  a: {base_url: 'http://h/v1'}\n", name="b.yaml")
    assert "model" in _error(p)


def test_sample_needs_exactly_one_origin(tmp_path: Path) -> None:
    p = _write(tmp_path, "sample: {builtin: demo, from_file: x.json}\n")
    assert "exactly one" in _error(p)


def test_multiple_errors_are_counted_on_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "nam: x\nmodls: {}\n")
    assert "(+1 more)" in _error(p)


def test_parse_study_without_file() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_study({"models": {"a": {"base_url": "http://x/v1", "model": "m", "bogus": 1}}})
    assert str(exc.value).startswith("<config>: field models.a.bogus")


def test_endpoint_identity_never_holds_the_key(monkeypatch) -> None:
    monkeypatch.setenv("SOME_KEY", "sk-very-secret")
    cfg = ModelConfig(base_url="https://api.x.ai/v1/", model="grok", api_key_env="SOME_KEY")
    ident = endpoint_identity(cfg)
    assert ident == "openai:https://api.x.ai/v1:grok"
    assert "secret" not in ident and "SOME_KEY" not in ident
    local = ModelConfig(provider="llama_cpp", gguf="/a/b.gguf")
    assert endpoint_identity(local, "abc123") == "llama_cpp:abc123"
    assert endpoint_identity(ModelConfig(provider="llama_cpp")) == "llama_cpp:embedded"


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in _error(p)


def test_majority_of_must_be_a_classifier(tmp_path: Path) -> None:
    text = GOOD.replace("  runs: 3\nrespond:", "  runs: 3\n  majority_of: gpt-5\nrespond:")
    assert "classify.majority_of" in _error(_write(tmp_path, text))


def test_respondent_names_are_unique(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    - {name: helper, model: smol}",
        "    - {name: helper, model: smol}\n    - {name: helper, model: gpt}",
    )
    assert "used twice" in _error(_write(tmp_path, text))


# ---------------------------------------------------------------------------------- duplicate keys
def test_duplicate_top_level_key_names_file_line_and_key(tmp_path: Path) -> None:
    # PyYAML keeps the last value silently: the second `judge:` would replace the first.
    p = _write(tmp_path, GOOD + "judge:\n  judges: [smol]\n")
    line = GOOD.count("\n") + 1
    assert _error(p) == f"{p}: line {line}: duplicate key 'judge' (each key may appear once)"


def test_duplicate_nested_key(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("  runs: 3\n", "  runs: 3\n  runs: 1\n"))
    assert _error(p) == f"{p}: line 19: duplicate key 'runs' (each key may appear once)"


def test_duplicate_key_in_a_flow_mapping(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD.replace("{concurrency: 4, rpm: 500}", "{rpm: 4, rpm: 500}"))
    assert _error(p) == f"{p}: line 8: duplicate key 'rpm' (each key may appear once)"


def test_duplicate_model_name(tmp_path: Path) -> None:
    text = GOOD.replace("  smol:\n", "  gpt:\n    provider: llama_cpp\n  smol:\n")
    p = _write(tmp_path, text)
    assert _error(p) == f"{p}: line 9: duplicate key 'gpt' (each key may appear once)"


def test_same_key_in_two_mappings_is_fine(tmp_path: Path) -> None:
    text = GOOD.replace("judges: [gpt]", "judges: [gpt]\n  runs: 2")  # `runs:` in classify too
    cfg = load_study(_write(tmp_path, text))
    assert cfg.classify is not None and cfg.classify.runs == 3
    assert cfg.judge is not None and cfg.judge.runs == 2


# ---------------------------------------------------------------------------------- input size
def test_max_input_chars_default_and_override(tmp_path: Path) -> None:
    cfg = load_study(_write(tmp_path, GOOD))
    assert cfg.sample is not None and cfg.sample.max_input_chars == MAX_INPUT_CHARS == 200_000
    text = GOOD.replace("  builtin: demo\n", "  builtin: demo\n  max_input_chars: 5000\n")
    cfg = load_study(_write(tmp_path, text, name="small.yaml"))
    assert cfg.sample is not None and cfg.sample.max_input_chars == 5000
    text = GOOD.replace("  builtin: demo\n", "  builtin: demo\n  max_input_chars: 0\n")
    assert "sample.max_input_chars" in _error(_write(tmp_path, text, name="zero.yaml"))
