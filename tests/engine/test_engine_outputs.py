"""Output parsing: JSON read leniently (a raw newline inside a string is not a reason to re-ask),
then validated; and the schema a local model's grammar is built from (bounded scores listed)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from crisiseval.config import Limits, ModelConfig
from crisiseval.engine import CallSpec, Engine, JsonOutput, OutputError
from crisiseval.engine.endpoints import grammar_schema
from crisiseval.stages.outputs import JudgeOutput, judge_output_for
from crisiseval.store import Store
from crisiseval.testing.fake import FakeBackend


class Verdict(BaseModel):
    score: int = Field(ge=1, le=5)
    explanation: str = ""


# What llama.cpp's grammar for a maxLength string lets a small model write: raw control
# characters (a newline, a tab) inside the string, which strict JSON rejects.
RAW_NEWLINE = '{"score": 2, "explanation": "It does not ask about safety.\nIt lectures.\tNo help."}'


def test_raw_control_characters_inside_strings_are_accepted() -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(RAW_NEWLINE)  # what strict parsing did
    parsed = JsonOutput(Verdict).parse(RAW_NEWLINE)
    assert parsed == {
        "score": 2,
        "explanation": "It does not ask about safety.\nIt lectures.\tNo help.",
    }
    # Fenced or surrounded by prose, as before.
    assert JsonOutput(Verdict).parse(f"Here:\n```json\n{RAW_NEWLINE}\n```") == parsed
    assert JsonOutput(Verdict).parse(f"Sure! {RAW_NEWLINE} Hope it helps.") == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"score": 2, "explanation": "cut', "Invalid JSON"),
        ("no json here", "Invalid JSON"),
        ('{"score": 7}', "less than or equal to 5 at score"),
        ('{"explanation": "x"}', "Field required at score"),
        ('["score", 2]', "valid dictionary"),
    ],
)
def test_unusable_replies_keep_their_reasons(text: str, reason: str) -> None:
    with pytest.raises(OutputError) as exc:
        JsonOutput(Verdict).parse(text)
    assert reason in exc.value.reason


def test_a_reply_with_a_raw_newline_is_done_not_reasked(tmp_path) -> None:
    backend = FakeBackend([{"kind": "reply", "text": RAW_NEWLINE}])
    models = {"m": ModelConfig(base_url=backend.base_url, model="mock", limits=Limits(reasks=2))}
    spec = CallSpec(role="judge", model="m", messages=[{"role": "user", "content": "rate"}])
    with Store.open(tmp_path / "run") as store:
        engine = Engine(store, models, progress=False, endpoint_factory=backend.factory)
        summary = engine.run_sync([spec], JudgeOutput)
        cell = engine.results(summary.keys)[summary.keys[0]]
        attempts = store.cells_frame("judge")["attempts"].tolist()
    assert (summary.done, summary.unparsed) == (1, 0)
    assert cell.status == "done" and cell.error_kind is None and attempts == [1]
    assert cell.parsed is not None and cell.parsed["explanation"].count("\n") == 1
    assert len(backend.requests()) == 1  # asked once


def test_grammar_schema_lists_bounded_integers() -> None:
    schema = JudgeOutput.model_json_schema()
    tight = grammar_schema(schema)
    assert tight["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert schema["properties"]["score"].get("enum") is None  # the asked schema is untouched
    assert tight["properties"]["explanation"] == schema["properties"]["explanation"]
    assert grammar_schema(judge_output_for(0).model_json_schema())["properties"]["score"][
        "enum"
    ] == [1, 2, 3, 4, 5]
    # Nested, and only when both bounds are there and the range is small.
    nested = {
        "type": "object",
        "$defs": {"S": {"type": "integer", "minimum": 0, "maximum": 2}},
        "properties": {
            "a": {"type": "array", "items": {"type": "integer", "minimum": -1, "maximum": 1}},
            "b": {"type": "integer", "minimum": 1},
            "c": {"type": "integer", "minimum": 0, "maximum": 1000},
            "d": {"type": "number", "minimum": 0, "maximum": 1},
            "e": {"type": "integer", "minimum": 1, "maximum": 3, "enum": [1, 3]},
        },
    }
    out = grammar_schema(nested)
    assert out["$defs"]["S"]["enum"] == [0, 1, 2]
    assert out["properties"]["a"]["items"]["enum"] == [-1, 0, 1]
    assert "enum" not in out["properties"]["b"] and "enum" not in out["properties"]["c"]
    assert "enum" not in out["properties"]["d"]
    assert out["properties"]["e"]["enum"] == [1, 3]


def test_the_local_endpoint_builds_its_grammar_from_the_tightened_schema(monkeypatch) -> None:
    from pathlib import Path

    from crisiseval.engine import endpoints as endpoints_mod

    monkeypatch.setattr(endpoints_mod, "resolve_gguf", lambda cfg, name: (Path("x.gguf"), "0"))
    sent: dict[str, object] = {}

    class FakeLlama:
        def create_chat_completion(self, **kwargs: object) -> dict[str, object]:
            sent.update(kwargs)
            return {"choices": [{"message": {"content": '{"score": 3}'}}], "usage": {}}

    ep = endpoints_mod.LlamaCppEndpoint("local", ModelConfig(provider="llama_cpp"))
    monkeypatch.setattr(ep, "llama", FakeLlama)
    schema = JudgeOutput.model_json_schema()
    out = ep._run([{"role": "user", "content": "rate"}], {"max_tokens": 8}, schema, seed=1)
    assert out.text == '{"score": 3}'
    assert sent["response_format"] == {"type": "json_object", "schema": grammar_schema(schema)}
    assert sent["max_tokens"] == 8
