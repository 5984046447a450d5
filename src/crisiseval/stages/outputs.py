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
import functools
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, create_model

from crisiseval.taxonomy import LABELS, Taxonomy, canonical_label


def _clipper(limit: int) -> BeforeValidator:
    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


@functools.cache
def classify_output_for(names: tuple[str, ...]) -> type[BaseModel]:
    """The classifier's output model for a taxonomy's label names (its JSON schema lists them)."""
    labels = enum.Enum("CrisisLabel", {n: n for n in names}, type=str)  # type: ignore[misc]
    known = frozenset(names)

    def canonical(value: Any) -> Any:
        # A known spelling of one of this taxonomy's labels; anything else is validated as is.
        if isinstance(value, str) and value not in known:
            label = canonical_label(value)
            return label if label in known else value
        return value

    model: type[BaseModel] = create_model(
        "ClassifyOutput",
        __doc__="What a classifier must return.",
        label=(Annotated[labels, BeforeValidator(canonical)], ...),
        explanation=(
            Annotated[str, _clipper(200)],
            Field(default="", json_schema_extra={"maxLength": 200}),
        ),
    )
    return model


def classify_output(taxonomy: Taxonomy) -> type[BaseModel]:
    return classify_output_for(taxonomy.names)


ClassifyOutput = classify_output_for(LABELS)
"""The output model of the package taxonomy's seven labels."""


class JudgeOutput(BaseModel):
    """What a judge must return."""

    score: int = Field(ge=1, le=5)
    explanation: Annotated[str, _clipper(300)] = Field(
        default="", json_schema_extra={"maxLength": 300}
    )
