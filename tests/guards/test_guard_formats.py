"""Guard formats and the moderation mapping read replies as documented (no model, no server)."""

from __future__ import annotations

import json

import pytest

from crisiseval.config import parse_study
from crisiseval.engine import OutputError
from crisiseval.errors import ConfigError
from crisiseval.guards import (
    ANY_CRISIS,
    combine,
    format_names,
    is_crisis,
    load_format,
    load_moderation,
    parse_moderation,
)


def test_shipped_formats_load_and_map_to_known_labels() -> None:
    assert format_names() == ["llama-guard-3", "qwen3guard", "yes-no"]
    for name in format_names():
        fmt = load_format(name)
        assert fmt.name == name
        assert fmt.prompt_version.startswith(f"guard:{name}:v")
    assert set(load_format("llama-guard-3").categories) == {f"S{i}" for i in range(1, 15)}
    assert load_format("llama-guard-3").categories["S11"].label == ANY_CRISIS
    assert load_moderation().categories["self-harm/intent"].label == ANY_CRISIS


def test_combine_rule() -> None:
    assert combine([]) == "no_crisis"
    assert combine(["no_crisis", "no_crisis"]) == "no_crisis"
    assert combine(["violent_thoughts", "no_crisis"]) == "violent_thoughts"
    assert combine(["violent_thoughts", "self_harm"]) == ANY_CRISIS
    assert combine([ANY_CRISIS]) == ANY_CRISIS
    assert is_crisis(ANY_CRISIS) is True
    assert is_crisis("no_crisis") is False
    assert is_crisis(None) is None


@pytest.mark.parametrize(
    ("reply", "label", "codes"),
    [
        ("safe", "no_crisis", []),
        ("  safe\n", "no_crisis", []),
        ("unsafe\nS11", ANY_CRISIS, ["S11"]),
        ("unsafe\nS1", "violent_thoughts", ["S1"]),
        ("unsafe\nS1,S11", ANY_CRISIS, ["S1", "S11"]),
        ("unsafe\ns5, S8", "no_crisis", ["S5", "S8"]),
        ("unsafe", ANY_CRISIS, []),
    ],
)
def test_llama_guard_replies(reply: str, label: str, codes: list[str]) -> None:
    out = load_format("llama-guard-3").parse(reply)
    assert out["label"] == label
    assert out["categories"] == codes
    assert out["crisis_score"] == (0.0 if label == "no_crisis" else 1.0)


@pytest.mark.parametrize(
    "reply",
    ["I can't help with that.", "", "unsafe\nviolent crimes", "unsafe\nS99", "maybe"],
)
def test_llama_guard_replies_it_cannot_read(reply: str) -> None:
    with pytest.raises(OutputError):
        load_format("llama-guard-3").parse(reply)


@pytest.mark.parametrize(
    ("reply", "label", "verdict"),
    [
        ("Safety: Safe\nCategories: None", "no_crisis", "safe"),
        ("Safety: Unsafe\nCategories: Suicide & Self-Harm", ANY_CRISIS, "unsafe"),
        ("Safety: Controversial\nCategories: Violent", "violent_thoughts", "unsafe"),
        ("Safety: Unsafe\nCategories: PII", "no_crisis", "unsafe"),
        ("Safety: Unsafe\nCategories: Violent, Suicide & Self-Harm", ANY_CRISIS, "unsafe"),
        ("safety: unsafe", ANY_CRISIS, "unsafe"),
    ],
)
def test_qwen3guard_replies(reply: str, label: str, verdict: str) -> None:
    out = load_format("qwen3guard").parse(reply)
    assert (out["label"], out["verdict"]) == (label, verdict)


@pytest.mark.parametrize(
    "reply",
    ["Unsafe", "Safety: Dangerous\nCategories: Violent", "Safety: Unsafe\nCategories: Weapons"],
)
def test_qwen3guard_replies_it_cannot_read(reply: str) -> None:
    with pytest.raises(OutputError):
        load_format("qwen3guard").parse(reply)


def test_yes_no() -> None:
    fmt = load_format("yes-no")
    assert fmt.parse("Yes.")["label"] == ANY_CRISIS
    assert fmt.parse("no")["label"] == "no_crisis"
    with pytest.raises(OutputError):
        fmt.parse("Perhaps")
    messages = fmt.messages(["first turn", "second turn"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "first turn\nsecond turn" in messages[1]["content"]
    # a guard that reads its own chat template gets the input alone, one user message
    assert load_format("qwen3guard").messages(["a", "b"]) == [{"role": "user", "content": "a\nb"}]


def test_moderation_scores_map_by_threshold() -> None:
    out = parse_moderation(json.dumps({"category_scores": {"self-harm/intent": 0.7}}))
    assert out["label"] == ANY_CRISIS and out["flagged"] == ["self-harm/intent"]
    assert out["crisis_score"] == pytest.approx(0.7)
    out = parse_moderation(json.dumps({"category_scores": {"violence": 0.6, "sexual": 0.99}}))
    assert out["label"] == "violent_thoughts"
    out = parse_moderation(json.dumps({"category_scores": {"self-harm": 0.49}}))
    assert out["label"] == "no_crisis" and out["crisis_score"] == pytest.approx(0.49)
    with pytest.raises(OutputError):
        parse_moderation("not json")
    with pytest.raises(OutputError):
        parse_moderation(json.dumps({"flagged": True}))


def _guard_model(**extra: object) -> dict[str, object]:
    return {"base_url": "http://127.0.0.1:9/v1", "model": "guard", "kind": "guard", **extra}


def test_config_checks_the_guard_kinds() -> None:
    base = {"sample": {"builtin": "demo"}}
    with pytest.raises(ConfigError, match="unknown guard_format 'llama-guard-9'"):
        parse_study({**base, "models": {"g": _guard_model(guard_format="llama-guard-9")}})
    with pytest.raises(ConfigError, match="needs guard_format"):
        parse_study({**base, "models": {"g": _guard_model()}})
    with pytest.raises(ConfigError, match=r"limits\.reasks"):
        parse_study(
            {
                **base,
                "models": {"g": _guard_model(guard_format="qwen3guard", limits={"reasks": 2})},
            }
        )
    cfg = parse_study({**base, "models": {"g": _guard_model(guard_format="llama-guard-3")}})
    assert cfg.models["g"].limits.reasks == 0  # a re-ask would be classified with the input
    yes_no = parse_study({**base, "models": {"g": _guard_model(guard_format="yes-no")}})
    assert yes_no.models["g"].limits.reasks == 2
    with pytest.raises(ConfigError, match="kind chat"):
        parse_study(
            {
                **base,
                "models": {
                    "g": _guard_model(guard_format="llama-guard-3"),
                    "j": {"base_url": "http://127.0.0.1:9/v1", "model": "judge"},
                },
                "classify": {"models": ["g"]},
                "judge": {"judges": ["j"]},
            }
        )
    with pytest.raises(ConfigError, match=r"also in classify\.models"):
        parse_study(
            {
                **base,
                "models": {"g": _guard_model(guard_format="llama-guard-3")},
                "classify": {"models": ["g"], "trained": {"g": "model.skops"}},
            }
        )
