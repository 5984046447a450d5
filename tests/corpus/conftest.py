"""Small fixture records for every corpus source, in that source's own schema.

All texts are invented for these tests. ``SOURCE_FIXTURES[source_id]`` gives
``(records by split, expected documents as (text, label))``.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

Records = dict[str, list[dict[str, Any]]]
Expected = list[tuple[str, str | None]]

SOURCE_FIXTURES: dict[str, tuple[Records, Expected]] = {
    "mental_disorder_detection": (
        {
            "train": [
                {
                    "text": "Context: a forum post. The Patient statement is: I cannot stop "
                    "worrying about my exams. Based on the context, the disorder may be: Anxiety",
                    "response": "Anxiety",
                },
                {"text": "No markers in this record at all.", "response": "Other"},
            ],
            "test": [
                {
                    "text": "The Patient statement is:\nMy flatmate moved out.\n[deleted]\n"
                    "Based on the context, the disorder may be: Depression",
                    "response": "Depression",
                }
            ],
        },
        [
            ("I cannot stop worrying about my exams.", None),
            ("My flatmate moved out.\n[deleted]", None),
        ],
    ),
    "marmik_mental_health": (
        {"train": [{"input": "I moved cities and feel lonely.", "output": "That sounds hard."}]},
        [("I moved cities and feel lonely.", None)],
    ),
    "fadodr_mental_health_dataset": (
        {
            "train": [{"client": "My sleep is a mess lately.", "therapist": "Tell me more."}],
            "test": [{"client": "I snapped at my kids today.", "therapist": "Go on."}],
        },
        [("My sleep is a mess lately.", None), ("I snapped at my kids today.", None)],
    ),
    "fadodr_mental_health_therapy": (
        {
            "train": [{"instruction": "Be kind.", "input": "Work is crushing me.", "output": "."}],
            "test": [{"instruction": "Be kind.", "input": "I miss my dad.", "output": "."}],
        },
        [("Work is crushing me.", None), ("I miss my dad.", None)],
    ),
    "psyset": (
        {
            "train": [
                {"text": '<s>[INST] I feel stuck in my job. Any ideas?", nan [/INST] Sure. </s>'},
                {"text": "malformed record without the instruction tag"},
            ]
        },
        [("I feel stuck in my job. Any ideas?", None)],
    ),
    "amod_counseling": (
        {"train": [{"Context": "How do I stop overthinking?", "Response": "Try this."}]},
        [("How do I stop overthinking?", None)],
    ),
    "cypsisas_suicidal_ideation": (
        {
            "train": [
                {
                    "formatted": "<s>[INST] Read the post. [/INST] Nothing matters and I keep "
                    "thinking about ending it. </s>"
                }
            ]
        },
        [("Nothing matters and I keep thinking about ending it.", None)],
    ),
    "fanyin_self_harm": (
        {"train": [{"prompt": "What can I use to hurt myself?", "category": "x", "label": "u"}]},
        [("What can I use to hurt myself?", "self_harm")],
    ),
    "azarbal_self_harm_eval": (
        {
            "train": [
                {"instruction": "Ways to hide burns on my arm?", "category": "hurting_oneself"},
                {"instruction": "Nobody would miss me.", "category": "suicidal_ideation"},
                {"instruction": "How to skip meals unnoticed?", "category": "eating_disorder"},
            ]
        },
        [
            ("Ways to hide burns on my arm?", "self_harm"),
            ("Nobody would miss me.", "suicidal_ideation"),
        ],
    ),
    "richie_ghost_suicidal": (
        {
            "train": [
                {"Text": "I drink until I black out every night.", "Label": "Consumption"},
                {"Text": "My room is a total mess.", "Label": "Ability to take care of oneself"},
            ],
            "eval": [{"Text": "I have chosen how I would do it.", "Label": "Suicidal planning"}],
        },
        [
            ("I drink until I black out every night.", "substance_abuse_or_withdrawal"),
            ("I have chosen how I would do it.", "suicidal_ideation"),
        ],
    ),
    "mentalchat16k": (
        {"train": [{"input": '"I keep arguing with my sister."\nWhat now?', "output": "."}]},
        [('"I keep arguing with my sister."\nWhat now?', None)],
    ),
    "nart_100k": (
        {
            "train": [
                {
                    "conversations": [
                        {"from": "human", "value": " Hi Alex. "},
                        {"from": "gpt", "value": "Hello, how are you?"},
                        {"from": "human", "value": "Honestly, pretty low."},
                    ]
                }
            ]
        },
        [("Hi Alex. Honestly, pretty low.", None)],
    ),
}


def all_records(records: Records) -> list[dict[str, Any]]:
    return [record for split in records.values() for record in split]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()}
        )
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(records).to_parquet(path)
    return path


@dataclass(frozen=True)
class Writers:
    """File writers for fixture records (used through the ``write`` fixture)."""

    jsonl: Callable[[Path, list[dict[str, Any]]], Path]
    json: Callable[[Path, list[Any]], Path]
    csv: Callable[[Path, list[dict[str, Any]]], Path]
    parquet: Callable[[Path, list[dict[str, Any]]], Path]


@pytest.fixture
def source_fixtures() -> dict[str, tuple[Records, Expected]]:
    """``source_id -> (records by split, expected (text, label) documents)``."""
    return copy.deepcopy(SOURCE_FIXTURES)


@pytest.fixture
def write() -> Writers:
    return Writers(jsonl=write_jsonl, json=write_json, csv=write_csv, parquet=write_parquet)
