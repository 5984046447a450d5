"""Pydantic models of the taxonomy (labels, definitions, examples) and the 1-5 rubric."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from crisiseval.taxonomy.labels import LABELS, allowed_labels_text, canonical_label

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The rubric's appropriateness levels: 1 = harmful / unacceptable ... 5 = fully appropriate."""

DEFAULT_SCALE: dict[int, str] = {
    1: "Harmful / unacceptable",
    2: "Inappropriate",
    3: "Partially appropriate",
    4: "Mostly appropriate",
    5: "Fully appropriate",
}

NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _short_hash(payload: Any) -> str:
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


_OWN_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def _custom(info: ValidationInfo) -> bool:
    """A file with ``custom: true`` defines its own labels (passed down as validation context)."""
    return bool(isinstance(info.context, dict) and info.context.get("custom"))


def _label_or_value_error(raw: object, *, custom: bool = False) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a crisis label (a string), got {type(raw).__name__} {raw!r}")
    label = canonical_label(raw)
    if label is not None:
        return label
    if custom:
        if not _OWN_LABEL.match(raw):
            raise ValueError(
                f"label {raw!r} is not a name (lowercase letters, digits and underscores, "
                "starting with a letter)"
            )
        return raw
    raise ValueError(
        f"unknown crisis label {raw!r} (allowed: {allowed_labels_text()}; a file with "
        "custom: true defines its own labels)"
    )


class LabelDef(BaseModel):
    """One crisis label: its canonical name, a title, a definition and example user inputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: NonEmptyText
    definition: NonEmptyText
    examples: list[NonEmptyText] = Field(min_length=1)

    @field_validator("name", mode="before")
    @classmethod
    def _canonical_name(cls, value: object, info: ValidationInfo) -> str:
        return _label_or_value_error(value, custom=_custom(info))


class Taxonomy(BaseModel):
    """The crisis labels with their definitions: the study's seven, kept in the study's label
    order, or (``custom: true``) a team's own label set, kept in the file's order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmptyText = "crisiseval-taxonomy"
    custom: bool = False
    labels: list[LabelDef]

    @field_validator("labels")
    @classmethod
    def _each_label_once(cls, value: list[LabelDef], info: ValidationInfo) -> list[LabelDef]:
        positions: dict[str, int] = {}
        for index, label_def in enumerate(value):
            first = positions.get(label_def.name)
            if first is not None:
                raise ValueError(
                    f"label {label_def.name!r} is defined twice (entries {first} and {index})"
                )
            positions[label_def.name] = index
        if _custom(info):
            if len(value) < 2:
                raise ValueError("a custom taxonomy needs at least two labels")
            return value
        missing = [label for label in LABELS if label not in positions]
        if missing:
            raise ValueError(
                f"label(s) missing: {', '.join(missing)} (every one of {allowed_labels_text()} "
                "must be defined once)"
            )
        return sorted(value, key=lambda d: LABELS.index(d.name))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.labels)

    def get(self, label: str) -> LabelDef:
        """The definition of ``label`` (its name, or any known spelling of a study label);
        KeyError if unknown."""
        for wanted in (label, canonical_label(label)):
            for label_def in self.labels:
                if label_def.name == wanted:
                    return label_def
        raise KeyError(label)

    @property
    def version(self) -> str:
        """A short hash of the content (changes whenever a title, definition or example does)."""
        return _short_hash([d.model_dump() for d in self.labels])


class Rubric(BaseModel):
    """A 1-5 appropriateness rubric: for each of the seven labels, one text per level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmptyText = "rubric"
    custom: bool = False
    scale: dict[int, NonEmptyText] = Field(default_factory=lambda: dict(DEFAULT_SCALE))
    levels: dict[str, dict[int, NonEmptyText]]

    @field_validator("scale")
    @classmethod
    def _scale_has_five_levels(cls, value: dict[int, str]) -> dict[int, str]:
        _check_levels(value, what="scale")
        return {level: value[level] for level in LEVELS}

    @field_validator("levels", mode="before")
    @classmethod
    def _canonical_label_keys(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        out: dict[str, object] = {}
        spelled: dict[str, object] = {}
        for raw, levels in value.items():
            label = _label_or_value_error(raw, custom=_custom(info))
            if label in out:
                raise ValueError(
                    f"label {label!r} is given twice (as {spelled[label]!r} and {raw!r})"
                )
            out[label] = levels
            spelled[label] = raw
        return out

    @field_validator("levels")
    @classmethod
    def _all_labels_all_levels(
        cls, value: dict[str, dict[int, str]], info: ValidationInfo
    ) -> dict[str, dict[int, str]]:
        if _custom(info):  # the labels of a custom taxonomy, checked against it when both load
            for label, levels in value.items():
                _check_levels(levels, what=f"label {label!r}")
            return {label: {lvl: levels[lvl] for lvl in LEVELS} for label, levels in value.items()}
        missing = [label for label in LABELS if label not in value]
        if missing:
            raise ValueError(
                f"label(s) missing: {', '.join(missing)} (the rubric needs all of "
                f"{allowed_labels_text()})"
            )
        for label in LABELS:
            _check_levels(value[label], what=f"label {label!r}")
        return {label: {lvl: value[label][lvl] for lvl in LEVELS} for label in LABELS}

    @property
    def version(self) -> str:
        """A short hash of the scale and level texts (used to version judge prompts)."""
        return _short_hash({"scale": self.scale, "levels": self.levels})

    def for_label(self, label: str) -> dict[int, str]:
        """The five level texts of ``label`` (its name, or any known spelling of a study
        label); KeyError if unknown."""
        if label in self.levels:
            return dict(self.levels[label])
        canonical = canonical_label(label)
        if canonical is None or canonical not in self.levels:
            raise KeyError(label)
        return dict(self.levels[canonical])

    def missing_for(self, labels: Sequence[str]) -> list[str]:
        """The labels (of a taxonomy) this rubric has no levels for."""
        missing = []
        for label in labels:
            try:
                self.for_label(label)
            except KeyError:
                missing.append(label)
        return missing

    def text(self, label: str, level: int) -> str:
        return self.for_label(label)[level]


def _check_levels(value: dict[int, str], *, what: str) -> None:
    extra = sorted(level for level in value if level not in LEVELS)
    if extra:
        raise ValueError(f"{what}: level {extra[0]} is not on the 1-5 scale")
    absent = [level for level in LEVELS if level not in value]
    if absent:
        raise ValueError(
            f"{what}: level(s) {', '.join(map(str, absent))} missing (expected levels 1-5)"
        )
