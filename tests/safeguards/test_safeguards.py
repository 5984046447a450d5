"""Safeguard prompts are data: selectable by name or read from a file, each respondent of one
model under another prompt; bad references are one-line config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisiseval.config import load_study, parse_study
from crisiseval.errors import ConfigError
from crisiseval.safeguards import load_safeguards
from crisiseval.stages.respond import build_messages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _study(*respondents: dict[str, str]) -> dict[str, object]:
    return {
        "name": "s",
        "models": {"m": {"base_url": "http://127.0.0.1:9/v1", "model": "x"}},
        "sample": {"builtin": "demo"},
        "respond": {"runs": 1, "respondents": list(respondents)},
    }


def test_the_library_has_the_four_prompts() -> None:
    lib = load_safeguards()
    assert set(lib) == {"none", "brief-safety", "crisis-protocol", "companion-persona"}
    assert lib["none"].prompt is None
    protocol = lib["crisis-protocol"].prompt or ""
    for step in ("safety", "country", "professional", "trust"):
        assert step in protocol


def test_selected_by_name_and_by_file(tmp_path: Path) -> None:
    own = tmp_path / "mine.txt"
    own.write_text("  Be kind and ask if they are safe.\n", encoding="utf-8")
    cfg = parse_study(
        _study(
            {"name": "plain", "model": "m", "system_prompt": "safeguard:none"},
            {"name": "proto", "model": "m", "system_prompt": "safeguard:crisis-protocol"},
            {"name": "mine", "model": "m", "system_prompt_file": str(own)},
            {"name": "literal", "model": "m", "system_prompt": "Just text."},
        )
    )
    assert cfg.respond is not None
    plain, proto, mine, literal = cfg.respond.respondents
    assert (plain.safeguard, plain.system_prompt) == ("none", None)
    assert proto.safeguard == "crisis-protocol"
    assert proto.system_prompt == load_safeguards()["crisis-protocol"].prompt
    assert mine.system_prompt == "Be kind and ask if they are safe."
    assert literal.system_prompt == "Just text." and literal.safeguard is None
    assert build_messages(plain, ["hi"]) == [{"role": "user", "content": "hi"}]
    assert build_messages(proto, ["hi"])[0]["role"] == "system"


@pytest.mark.parametrize(
    ("respondent", "message"),
    [
        ({"system_prompt": "safeguard:nope"}, r"respondents\[0\]: unknown safeguard 'nope'"),
        ({"system_prompt_file": "/no/such/file.txt"}, r"respondents\[0\]\.system_prompt_file"),
        ({"system_prompt": "x", "system_prompt_file": "y"}, "not both"),
        ({"safeguard": "none"}, "set by crisiseval"),
    ],
)
def test_bad_references_are_one_line(respondent: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as exc:
        parse_study(_study({"name": "r", "model": "m", **respondent}), source="s.yaml")
    assert "\n" not in str(exc.value)


def test_the_example_runs_one_model_under_all_four() -> None:
    cfg = load_study(EXAMPLES / "safeguards.yaml")
    assert cfg.respond is not None
    used = [r.safeguard for r in cfg.respond.respondents]
    assert used == ["none", "brief-safety", "crisis-protocol", "companion-persona"]
    assert {r.model for r in cfg.respond.respondents} == {"gpt-4o-mini"}
