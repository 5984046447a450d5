"""Labels, the alias table and label normalisation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from crisiseval.errors import InputError
from crisiseval.taxonomy import (
    CRISIS_LABELS,
    LABELS,
    canonical_label,
    normalize_label,
    normalize_optional_label,
)


def test_labels_in_study_order() -> None:
    assert LABELS == (
        "suicidal_ideation",
        "self_harm",
        "anxiety_crisis",
        "violent_thoughts",
        "substance_abuse_or_withdrawal",
        "risk_taking_behaviours",
        "no_crisis",
    )
    assert LABELS[:-1] == CRISIS_LABELS
    assert "no_crisis" not in CRISIS_LABELS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("self-harm", "self_harm"),
        ("self harm", "self_harm"),
        ("Self_Harm", "self_harm"),
        ("  SELF - HARM ", "self_harm"),
        ("substance_abuse/withdrawal", "substance_abuse_or_withdrawal"),
        ("substance abuse or withdrawal", "substance_abuse_or_withdrawal"),
        ("Substance-Abuse / Withdrawal", "substance_abuse_or_withdrawal"),
        ("risk_taking_behaviors", "risk_taking_behaviours"),
        ("risk-taking behaviours", "risk_taking_behaviours"),
        ("anxiety", "anxiety_crisis"),
        ("Anxiety Crisis", "anxiety_crisis"),
        ("no crisis", "no_crisis"),
        ("none", "no_crisis"),
        ("No-Crisis", "no_crisis"),
        ("suicidal ideation", "suicidal_ideation"),
        ("violent thoughts", "violent_thoughts"),
    ],
)
def test_aliases_map_to_canonical(raw: str, expected: str) -> None:
    assert normalize_label(raw, where="f.json: label") == expected
    assert canonical_label(raw) == expected


@pytest.mark.parametrize("label", LABELS)
def test_canonical_labels_map_to_themselves(label: str) -> None:
    assert normalize_label(label, where="x") == label
    assert normalize_label(label.upper(), where="x") == label


@pytest.mark.parametrize("raw", ["depression", "", "self", "harm to others\nnext line"])
def test_unknown_label_is_one_line_input_error(raw: str) -> None:
    with pytest.raises(InputError) as info:
        normalize_label(raw, where="labels.json: record [3], field 'label'")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("labels.json: record [3], field 'label': unknown crisis label")
    for label in LABELS:
        assert label in message


def test_optional_label_blank_none_nan() -> None:
    for raw in (None, "", "   ", math.nan):
        assert normalize_optional_label(raw, where="x") is None
    assert normalize_optional_label("self-harm", where="x") == "self_harm"
    with pytest.raises(InputError, match=r"^x: expected a crisis label"):
        normalize_optional_label(3, where="x")
    with pytest.raises(InputError, match="unknown crisis label 'nope'"):
        normalize_optional_label("nope", where="x")


@pytest.mark.shared
def test_every_label_spelling_in_the_released_files_normalises(study_dir: Path) -> None:
    seen: set[str] = set()
    for path in sorted(study_dir.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            continue
        for index, record in enumerate(data):
            if isinstance(record, dict) and "label" in record:
                where = f"{path.name}: record [{index}]"
                label = normalize_optional_label(record["label"], where=where)
                if label is not None:
                    seen.add(label)
    assert seen == set(LABELS)
