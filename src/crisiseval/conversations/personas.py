"""Persona cards: who the user simulator plays, what it discloses and when.

The format is described in ``docs/conversations.md``.

A persona set is a versioned YAML file; every problem is one
:class:`~crisiseval.errors.InputError` line naming the file, the line and what was expected.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crisiseval.datafields import CrisisLabel, Language, Locale, first_error
from crisiseval.errors import InputError
from crisiseval.taxonomy import LABELS, NO_CRISIS
from crisiseval.textio import read_text, read_yaml_text, yaml_list_lines

FORMAT = "crisiseval-personas/1"

Trajectory = Literal[
    "escalating", "concealed-then-disclosed", "insisting-after-refusal", "de-escalating", "benign"
]
TRAJECTORIES: tuple[str, ...] = (
    "escalating",
    "concealed-then-disclosed",
    "insisting-after-refusal",
    "de-escalating",
    "benign",
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ID = r"^[a-z0-9][a-z0-9._-]*$"


class Disclosure(BaseModel):
    """What the persona reveals from its ``turn``-th message on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    turn: int = Field(ge=1)
    say: str = Field(min_length=1)


class Persona(BaseModel):
    """One persona card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID)
    label: CrisisLabel
    trajectory: Trajectory
    locale: Locale | None = None
    language: Language = "en"
    opening: Literal["direct", "indirect", "small-talk", "question"]
    name: str = Field(min_length=1, max_length=40)
    background: str = Field(min_length=10)
    disclosures: tuple[Disclosure, ...] = Field(min_length=1)
    insist: str | None = None
    max_turns: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _consistent(self) -> Persona:
        if (self.trajectory == "benign") != (self.label == NO_CRISIS):
            raise ValueError(
                "trajectory benign goes with label no_crisis, and only with it "
                f"(got {self.trajectory} with {self.label})"
            )
        if self.trajectory == "insisting-after-refusal" and not self.insist:
            raise ValueError("an insisting-after-refusal persona needs insist (how it pushes back)")
        turns = [d.turn for d in self.disclosures]
        if turns != sorted(set(turns)) or turns[0] != 1:
            raise ValueError(f"disclosure turns must start at 1 and increase (got {turns})")
        if self.max_turns is not None and turns[-1] > self.max_turns:
            raise ValueError(f"a disclosure at turn {turns[-1]} is past max_turns {self.max_turns}")
        return self

    @property
    def risky(self) -> bool:
        return self.label != NO_CRISIS

    def digest(self) -> str:
        """A hash of the card's content: a changed card is a new persona for the store."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def turn_limit(self, default: int) -> int:
        return min(self.max_turns, default) if self.max_turns is not None else default

    def meta(self) -> dict[str, Any]:
        """What the analysis and the report know of a persona."""
        return {
            "persona": self.id,
            "label": self.label,
            "trajectory": self.trajectory,
            "locale": self.locale,
            "language": self.language,
        }


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["crisiseval-personas/1"]
    name: str = Field(pattern=_NAME.pattern)
    version: int = Field(ge=1)
    description: str = ""


@dataclass(frozen=True)
class PersonaSet:
    name: str
    version: int
    description: str
    personas: tuple[Persona, ...]
    path: str
    digest: str

    def get(self, persona_id: str) -> Persona:
        for p in self.personas:
            if p.id == persona_id:
                return p
        raise InputError(
            f"persona set {self.name!r} has no persona {persona_id!r} "
            f"(it has {', '.join(p.id for p in self.personas)})"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "personas": len(self.personas),
            "labels": sorted({p.label for p in self.personas}, key=LABELS.index),
            "trajectories": sorted({p.trajectory for p in self.personas}),
            "locales": sorted({p.locale for p in self.personas if p.locale}),
            "languages": sorted({p.language for p in self.personas}),
        }


def parse_personas(text: str, path: Path) -> PersonaSet:
    data = read_yaml_text(text, where=path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with format, name, version and personas")
    key_line, lines, fields = yaml_list_lines(text, "personas")
    records = data.pop("personas", None)
    if not isinstance(records, list) or not records:
        raise InputError(f"{path}: line {key_line}: expected 'personas:', a non-empty list")
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_error(exc)
        if loc == "format":
            msg = f"expected format: {FORMAT}"
        raise InputError(f"{path}: header field {loc}: {msg}") from None
    lines = lines or [key_line] * len(records)
    fields = fields or [{} for _ in records]
    personas: list[Persona] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        line = lines[i]
        if not isinstance(rec, dict):
            raise InputError(f"{path}: line {line}: persona {i + 1}: expected a mapping")
        pid = rec.get("id")
        what = f"persona {pid!r}" if isinstance(pid, str) else f"persona {i + 1}"
        try:
            persona = Persona.model_validate(rec)
        except ValidationError as exc:
            loc, msg = first_error(exc)
            at = fields[i].get(loc.split(".")[0], line)
            where = f"field {loc}: " if loc else ""
            raise InputError(f"{path}: line {at}: {what}: {where}{msg}") from None
        if persona.id in seen:
            raise InputError(
                f"{path}: line {line}: duplicate persona id {persona.id!r} (first at line "
                f"{seen[persona.id]}; every id must be unique)"
            )
        seen[persona.id] = line
        personas.append(persona)
    return PersonaSet(
        name=header.name,
        version=header.version,
        description=header.description.strip(),
        personas=tuple(personas),
        path=str(path),
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_personas(path: Path | str) -> PersonaSet:
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        raise InputError(f"{path}: expected a persona file (.yaml or .yml)")
    return parse_personas(read_text(path), path)


_DATA = "crisiseval.conversations"


def builtin_persona_sets() -> list[str]:
    folder = importlib.resources.files(_DATA).joinpath("data")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def resolve_personas(spec: str, base_dir: Path | None = None) -> PersonaSet:
    """A persona set by built-in name, or from a file (relative to ``base_dir``)."""
    if _NAME.match(spec) and not spec.endswith((".yaml", ".yml")):
        if spec not in builtin_persona_sets():
            raise InputError(
                f"no built-in persona set {spec!r} (built-in: "
                f"{', '.join(builtin_persona_sets())}; or give a path to a persona file)"
            )
        res = importlib.resources.files(_DATA).joinpath("data", f"{spec}.yaml")
        return parse_personas(
            res.read_text(encoding="utf-8"), Path(f"crisiseval/conversations/data/{spec}.yaml")
        )
    path = Path(spec)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return load_personas(path)


def select(sets: Sequence[PersonaSet], ids: Sequence[str] | None) -> list[tuple[str, Persona]]:
    """(set name, persona) of every persona of ``sets``, or of ``ids`` only (in that order)."""
    every = [(s.name, p) for s in sets for p in s.personas]
    if ids is None:
        return every
    by_id = {p.id: (name, p) for name, p in every}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(
            f"converse.ids: no persona {', '.join(map(repr, missing))} in "
            f"{', '.join(s.name for s in sets)}"
        )
    return [by_id[i] for i in ids]
