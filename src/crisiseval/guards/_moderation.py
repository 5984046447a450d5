"""The OpenAI moderation endpoint as a crisis classifier: category scores to a label.

The thresholds and the category table are data (``guards/data/openai-moderation.yaml``). The
engine's moderation endpoint returns the endpoint's result as JSON text; :func:`parse_moderation`
reads it (a :class:`~crisiseval.engine.TextOutput` function).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiseval.engine import OutputError
from crisiseval.errors import InputError
from crisiseval.guards._mapping import Target, combine
from crisiseval.textio import load_yaml


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Target
    threshold: float = Field(gt=0, le=1)


class ModerationMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1)
    categories: dict[str, Threshold]

    @property
    def prompt_version(self) -> str:
        return f"moderation:{self.name}:v{self.version}"

    def label_of(self, scores: dict[str, float]) -> dict[str, Any]:
        """``label``, the ``flagged`` categories (score at or above their threshold) and the
        ``crisis_score`` (the highest score of a category mapped to a crisis)."""
        flagged = [
            name
            for name, rule in self.categories.items()
            if float(scores.get(name, 0.0)) >= rule.threshold
        ]
        crisis = [
            float(scores.get(name, 0.0))
            for name, rule in self.categories.items()
            if rule.label != "no_crisis"
        ]
        return {
            "label": combine(self.categories[name].label for name in flagged),
            "flagged": flagged,
            "crisis_score": max(crisis, default=0.0),
            "scores": {k: round(float(v), 6) for k, v in sorted(scores.items())},
        }


@functools.cache
def load_moderation() -> ModerationMapping:
    where = "crisiseval/guards/data/openai-moderation.yaml"
    text = (
        importlib.resources.files("crisiseval.guards")
        .joinpath("data", "openai-moderation.yaml")
        .read_text("utf-8")
    )
    try:
        return ModerationMapping.model_validate(load_yaml(text, where=where))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where}: field {loc}: {err['msg']}") from None


def parse_moderation(text: str) -> dict[str, Any]:
    """The label of one moderation result (the endpoint's JSON); :class:`OutputError` when the
    result has no category scores."""
    try:
        result = json.loads(text)
    except json.JSONDecodeError:
        raise OutputError("the moderation result is not JSON") from None
    scores = result.get("category_scores") if isinstance(result, dict) else None
    if not isinstance(scores, dict) or not all(
        isinstance(v, (int, float)) for v in scores.values() if v is not None
    ):
        raise OutputError("the moderation result has no category_scores")
    clean = {str(k): float(v) for k, v in scores.items() if v is not None}
    return load_moderation().label_of(clean)
