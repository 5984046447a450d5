"""Prompt templates are package data, and rendering them gives exactly the messages crisiseval
0.1.0 built in code: cell keys (and so every existing run store's cache) stay valid."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crisiseval.config import Respondent
from crisiseval.prompts import render
from crisiseval.stages import classify, judge, respond
from crisiseval.stages.outputs import ClassifyOutput, classify_output_for
from crisiseval.taxonomy import load_rubric, load_taxonomy

# sha256 of the messages and of the classifier schema, computed with crisiseval 0.1.0's code
# (prompts built in Python) on the inputs below.
MESSAGES_V010 = "b4704d9f3493ba0b3fb5e3e3156e974e531804b9d05a72916fc6364998784a40"
SCHEMA_V010 = "163e4934cbe3ee40cb92f6195f1404c32e9b23c84dd537fee818ffc620293817"


def _digest(value: object) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def test_rendered_prompts_equal_the_released_ones() -> None:
    tax, rub = load_taxonomy(None), load_rubric(None)
    # Template syntax inside user text is data, never evaluated.
    turns = ["I can't sleep.", "Everything feels {{ heavy }} and 100% pointless; {% raw %}"]
    answer = "Please {% if %} talk to someone.\nLine 2"
    out = {
        "classify": classify.build_messages(tax, turns),
        "judge": {lab: judge.build_messages(tax, rub, lab, turns, answer) for lab in tax.names},
        "respond": respond.build_messages(
            Respondent(name="r", model="m", system_prompt="Be safe."), turns
        ),
    }
    assert _digest(out) == MESSAGES_V010
    assert _digest(ClassifyOutput.model_json_schema()) == SCHEMA_V010


def test_classifier_schema_lists_the_taxonomy_labels() -> None:
    model = classify_output_for(("calm", "panic"))
    schema = model.model_json_schema()
    assert schema["$defs"]["CrisisLabel"]["enum"] == ["calm", "panic"]
    assert model.model_validate({"label": "panic"}).model_dump(mode="json")["label"] == "panic"
    tax = load_taxonomy(None)
    assert classify.classify_output(tax) is classify_output_for(tax.names)  # cached


@settings(max_examples=60, deadline=None)
@given(
    responses=st.lists(
        st.one_of(
            st.text(),
            st.sampled_from(["", "{{ response }}", "{% raw %}", "\x00", "<<<\n>>>", "a\r\nb"]),
        ),
        min_size=1,
        max_size=6,
    ),
    label=st.sampled_from(sorted(load_taxonomy().names)),
    cap=st.sampled_from([None, 0, 80]),
)
def test_the_judge_prompts_of_several_answers_are_rendered_once_yet_the_same(
    responses: list[str], label: str, cap: int | None
) -> None:
    tax, rub = load_taxonomy(), load_rubric()
    turns = ["I can't sleep.", "Everything feels {{ heavy }}."]
    each = judge.build_messages_each(tax, rub, label, turns, responses, cap)
    assert each == [judge.build_messages(tax, rub, label, turns, r, cap) for r in responses]
    full = [render("judge", **_judge_vars(tax, rub, label, turns, r, cap)) for r in responses]
    assert each == full
    assert len({id(m) for m in each}) == len(each)  # one list per answer, never shared


def test_a_response_holding_the_slot_marker_is_rendered_in_full() -> None:
    tax, rub = load_taxonomy(), load_rubric()
    marker = "\x00crisiseval:slot:response\x00"
    (one,) = judge.build_messages_each(tax, rub, "self_harm", ["x"], [f"a{marker}b"])
    assert f"a{marker}b" in one[1]["content"]
    vars_ = _judge_vars(tax, rub, "self_harm", ["x"], f"a{marker}b", None)
    assert one == render("judge", **vars_)


def _judge_vars(
    tax: Any, rub: Any, label: str, turns: list[str], response: str, cap: int | None
) -> dict[str, Any]:
    levels = rub.for_label(label)
    return {
        "label": tax.get(label),
        "levels": [
            {"level": lv, "anchor": rub.scale[lv], "text": levels[lv]}
            for lv in sorted(levels, reverse=True)
        ],
        "turns": turns,
        "response": response,
        "explanation_chars": cap,
    }


def test_only_a_bare_slot_is_put_in_place_after_rendering(monkeypatch: Any) -> None:
    import crisiseval.prompts as prompts

    assert prompts._bare("judge", "response")
    assert not prompts._bare("judge", "label")  # read as label.name: rendered in full
    assert not prompts._bare("judge", "turns")  # looped over
    assert not prompts._bare("judge", "no_such_variable")
    # Where the slot is not bare, every value is rendered in full: the same messages.
    tax, rub = load_taxonomy(), load_rubric()
    fast = judge.build_messages_each(tax, rub, "self_harm", ["x"], ["a", "b"])
    monkeypatch.setattr(prompts, "_bare", lambda name, slot: False)
    assert judge.build_messages_each(tax, rub, "self_harm", ["x"], ["a", "b"]) == fast
