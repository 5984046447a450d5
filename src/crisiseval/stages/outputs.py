"""Structured outputs of the classifier and the judge, lenient where leniency is harmless.

* The label accepts any known spelling (``self-harm``, ``Substance abuse or withdrawal``...)
  through the taxonomy's alias table; an unknown label is still invalid (re-asked, then unparsed).
* The explanation's length limit is advertised in the JSON schema (it bounds schema-constrained
  local decoding) but a longer explanation is clipped, never a reason to reject a valid label or
  score: remote endpoints do not enforce ``maxLength``. A missing explanation is empty, not an
  error: the label or score is what the study measures.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from crisiseval.taxonomy import LABELS, canonical_label

CrisisLabel = enum.Enum("CrisisLabel", {name: name for name in LABELS}, type=str)  # type: ignore[misc]


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return canonical_label(value) or value
    return value


def _clipper(limit: int) -> BeforeValidator:
    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


class ClassifyOutput(BaseModel):
    """What a classifier must return."""

    label: Annotated[CrisisLabel, BeforeValidator(_canonical)]
    explanation: Annotated[str, _clipper(200)] = Field(
        default="", json_schema_extra={"maxLength": 200}
    )


class JudgeOutput(BaseModel):
    """What a judge must return."""

    score: int = Field(ge=1, le=5)
    explanation: Annotated[str, _clipper(300)] = Field(
        default="", json_schema_extra={"maxLength": 300}
    )
