"""One small adapter per corpus source (the study's Hugging Face datasets).

An adapter declares where a source lives (hub id, splits), which field holds the user's text,
how to cut the user's words out of it, and which label (if any) its records carry. It reads
records from the hub (``datasets.load_dataset``, imported lazily: ``pip install
'crisiseval[hub]'``) or from a local override: one file (``.json`` list or JSON Lines,
``.jsonl``, ``.csv``, ``.parquet``) or a directory with one file per split (``train.jsonl``,
``test.csv``, ``eval-00000-of-00001.parquet``...). It yields :class:`RawDoc` tuples
``(text, source_id, label_or_None)``.

A record without the source's field, or a file in the wrong schema, is an :class:`InputError`
naming the file, the record (line or row) and the expected field.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from crisiseval.corpus.readers import (
    LOCAL_SUFFIXES,
    ReadCounts,
    iter_hub_records,
    iter_local_records,
    local_split_files,
    read_records_file,
)

__all__ = [
    "LOCAL_SUFFIXES",
    "SOURCES",
    "SOURCE_IDS",
    "RawDoc",
    "ReadCounts",
    "SourceAdapter",
    "get_source",
    "local_split_files",
    "read_records_file",
]
from crisiseval.errors import InputError


class RawDoc(NamedTuple):
    """One document read from a source, before splitting and cleaning."""

    text: str
    source_id: str
    label: str | None


Extractor = Callable[[Any, str], str | None]
"""``(field value, where) -> text``; None when the record holds no usable text."""


# ---------------------------------------------------------------------------------- extractors
def _short(value: Any, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def plain_text(value: Any, where: str) -> str | None:
    """The field is the text itself (None / null / NaN means no text)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    raise InputError(f"{where}: expected text, got {type(value).__name__} {_short(value)}")


def between(start: str, end: str | None) -> Extractor:
    """Extract the part after the literal ``start`` up to the first ``end`` (or the end)."""
    tail = re.escape(end) if end is not None else r"\Z"
    pattern = re.compile(re.escape(start) + r"(.*?)" + tail, re.DOTALL)

    def extract(value: Any, where: str) -> str | None:
        text = plain_text(value, where)
        if text is None:
            return None
        match = pattern.search(text)
        return match.group(1).strip() if match else None

    return extract


def human_turns(value: Any, where: str) -> str | None:
    """A list of ``{from, value}`` turns: the human turns' values joined by spaces.

    A CSV cell holding the list as JSON or as a Python literal is parsed first.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_list_text(value, where)
    if not isinstance(value, list | tuple):
        raise InputError(
            f"{where}: expected a list of {{from, value}} turns, got {type(value).__name__}"
        )
    parts: list[str] = []
    for index, turn in enumerate(value):
        if not isinstance(turn, Mapping) or "from" not in turn or "value" not in turn:
            raise InputError(
                f"{where}: turn [{index}] is not a {{from, value}} object (got {_short(turn)})"
            )
        if turn["from"] == "human" and isinstance(turn["value"], str) and turn["value"].strip():
            parts.append(turn["value"].strip())
    return " ".join(parts) if parts else None


def _parse_list_text(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InputError(
            f"{where}: expected a list of turns (JSON or Python literal), got text {_short(text)}"
        ) from None


# ---------------------------------------------------------------------------------- adapter
@dataclass(frozen=True)
class SourceAdapter:
    """How to read one source. ``field`` holds the text; ``extract`` cuts out the user's words.

    Labels: ``label`` gives every record the same label; ``label_field`` + ``label_map`` keep
    only the records whose category is in the map (compared case-insensitively) and give them
    the mapped label; otherwise records carry no label.
    """

    source_id: str
    hf_id: str
    splits: tuple[str, ...]
    field: str
    rule: str
    extract: Extractor = plain_text
    label: str | None = None
    label_field: str | None = None
    label_map: Mapping[str, str] | None = None
    extra_split: str | None = None
    """An extra split point for preprocessing (a regex; the matched text is dropped)."""
    paper_ids: tuple[str, ...] = ()
    """The ``dataset_id`` values the study's released files use for this source."""

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,) if self.label_field is None else (self.field, self.label_field)

    def documents(
        self, path: Path | str | None = None, *, counts: ReadCounts | None = None
    ) -> Iterator[RawDoc]:
        """Yield the source's documents from ``path`` (a local override) or from the hub."""
        for _where, doc in self.located_documents(path, counts=counts):
            yield doc

    def located_documents(
        self, path: Path | str | None = None, *, counts: ReadCounts | None = None
    ) -> Iterator[tuple[str, RawDoc]]:
        """Like :meth:`documents`, each with where it was read (``file: line 3``, ``file:
        record [2]``, ``hub id (split 'train'): row [5]``)."""
        counts = counts if counts is not None else ReadCounts()
        records = (
            iter_local_records(Path(path), self.splits, self.required_fields(), counts)
            if path is not None
            else iter_hub_records(self, counts)
        )
        label_map = (
            {key.strip().casefold(): value for key, value in self.label_map.items()}
            if self.label_map is not None
            else None
        )
        for where, record in records:
            counts.records += 1
            for name in self.required_fields():
                if name not in record:
                    raise InputError(
                        f"{where}: record has no field {name!r} (source {self.source_id} "
                        f"expects {self._expects()}; fields present: {_field_list(record)})"
                    )
            label = self.label
            if label_map is not None and self.label_field is not None:
                category = record[self.label_field]
                mapped = (
                    label_map.get(category.strip().casefold())
                    if isinstance(category, str)
                    else None
                )
                if mapped is None:
                    counts.filtered_by_label += 1
                    continue
                label = mapped
            text = self.extract(record[self.field], f"{where}, field {self.field!r}")
            if text is None or not text.strip():
                counts.unextractable += 1
                continue
            yield where, RawDoc(text, self.source_id, label)

    def _expects(self) -> str:
        names = " and ".join(repr(n) for n in self.required_fields())
        return f"field {names}" if self.label_field is None else f"fields {names}"


def _field_list(record: Mapping[str, Any]) -> str:
    names = [str(k) for k in record]
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return shown or "none"


# ---------------------------------------------------------------------------------- registry
SOURCES: tuple[SourceAdapter, ...] = (
    SourceAdapter(
        source_id="mental_disorder_detection",
        hf_id="sajjadhadi/Mental-Disorder-Detection-Data",
        splits=("train", "test"),
        field="text",
        rule="the patient statement between 'The Patient statement is:' and "
        "'Based on the context, the disorder may be:'",
        extract=between("The Patient statement is:", "Based on the context, the disorder may be:"),
        paper_ids=("hugg_1",),
    ),
    SourceAdapter(
        source_id="marmik_mental_health",
        hf_id="marmikpandya/mental-health",
        splits=("train",),
        field="input",
        rule="the 'input' field as is",
        paper_ids=("hugg_2", "hugg_6"),
    ),
    SourceAdapter(
        source_id="fadodr_mental_health_dataset",
        hf_id="fadodr/mental_health_dataset",
        splits=("train", "test"),
        field="client",
        rule="the 'client' field as is",
        paper_ids=("hugg_3",),
    ),
    SourceAdapter(
        source_id="fadodr_mental_health_therapy",
        hf_id="fadodr/mental_health_therapy",
        splits=("train", "test"),
        field="input",
        rule="the 'input' field as is",
        paper_ids=("hugg_4",),
    ),
    SourceAdapter(
        source_id="psyset",
        hf_id="psycode1/psyset",
        splits=("train",),
        field="text",
        rule="the part after '<s>[INST]' up to '\", nan'",
        extract=between("<s>[INST]", '", nan'),
        paper_ids=("hugg_5",),
    ),
    SourceAdapter(
        source_id="amod_counseling",
        hf_id="Amod/mental_health_counseling_conversations",
        splits=("train",),
        field="Context",
        rule="the 'Context' field as is",
        paper_ids=("hugg_7",),
    ),
    SourceAdapter(
        source_id="cypsisas_suicidal_ideation",
        hf_id="cypsiSAS/transformed_Suicidal_ideation",
        splits=("train",),
        field="formatted",
        rule="the part after '[/INST]' up to '</s>'",
        extract=between("[/INST]", "</s>"),
        paper_ids=("hugg_8",),
    ),
    SourceAdapter(
        source_id="fanyin_self_harm",
        hf_id="fanyin3639/test_test_self_harm_all_levels",
        splits=("train",),
        field="prompt",
        rule="the 'prompt' field as is; every record is self_harm",
        label="self_harm",
        paper_ids=("hugg_9",),
    ),
    SourceAdapter(
        source_id="azarbal_self_harm_eval",
        hf_id="arianaazarbal/self-harm-synthetic-eval",
        splits=("train",),
        field="instruction",
        rule="the 'instruction' field; only categories hurting_oneself (self_harm) and "
        "suicidal_ideation",
        label_field="category",
        label_map={"hurting_oneself": "self_harm", "suicidal_ideation": "suicidal_ideation"},
        paper_ids=("hugg_10",),
    ),
    SourceAdapter(
        source_id="richie_ghost_suicidal",
        hf_id="richie-ghost/suicidal_finetune",
        splits=("train", "eval"),
        field="Text",
        rule="the 'Text' field; only labels Consumption (substance_abuse_or_withdrawal) and "
        "Suicidal planning (suicidal_ideation)",
        label_field="Label",
        label_map={
            "Consumption": "substance_abuse_or_withdrawal",
            "Suicidal planning": "suicidal_ideation",
        },
        paper_ids=("hugg_11",),
    ),
    SourceAdapter(
        source_id="mentalchat16k",
        hf_id="ShenLab/MentalChat16K",
        splits=("train",),
        field="input",
        rule="the 'input' field; also split where a quote is followed by a newline",
        extra_split=r'"[^\S\n]*\n',
        paper_ids=("hugg_16k",),
    ),
    SourceAdapter(
        source_id="nart_100k",
        hf_id="jerryjalapeno/nart-100k-synthetic",
        splits=("train",),
        field="conversations",
        rule="the human turns of 'conversations' ({from, value} list) joined by spaces",
        extract=human_turns,
        paper_ids=("hugg_100k",),
    ),
)
"""The study's twelve Hugging Face sources, in the study's order."""

SOURCE_IDS: tuple[str, ...] = tuple(a.source_id for a in SOURCES)


def get_source(key: str) -> SourceAdapter:
    """The adapter for ``key``: a source id, a hub id or one of the study's ``hugg_*`` ids
    (case-insensitive)."""
    wanted = key.strip().casefold()
    for adapter in SOURCES:
        names = (adapter.source_id, adapter.hf_id, *adapter.paper_ids)
        if wanted in (n.casefold() for n in names):
            return adapter
    raise InputError(f"unknown corpus source {key!r} (known: {', '.join(SOURCE_IDS)})")
