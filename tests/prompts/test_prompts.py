"""Prompt templates are package data, and rendering them gives exactly the messages crisiseval
0.1.0 built in code: cell keys (and so every existing run store's cache) stay valid."""

from __future__ import annotations

import hashlib
import json

from crisiseval.config import Respondent
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
