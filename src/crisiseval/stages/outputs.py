"""Structured outputs of the classifier and the judge, lenient where leniency is harmless.

* The label accepts any known spelling (``self-harm``, ``Substance abuse or withdrawal``...)
  through the taxonomy's alias table; an unknown label is still invalid (re-asked, then unparsed).
* The explanation's length limit is advertised in the JSON schema (it bounds schema-constrained
  local decoding) but a longer explanation is clipped, never a reason to reject a valid label or
  score: remote endpoints do not enforce ``maxLength``. A missing explanation is empty, not an
  error: the label or score is what the study measures.
* The limit is a model's ``explanation_chars`` (:class:`~crisiseval.config.ModelConfig`): absent,
  the schema of the study (200 characters for a classifier, 300 for a judge, exactly as before);
  ``N`` caps it at N characters; ``0`` drops the explanation from the schema (a label-only or
  score-only output). Explanations are most of what a small local model decodes, so the cap is
  what makes the offline demo fast; remote models keep the full explanation.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, create_model

from crisiseval.taxonomy import LABELS, Taxonomy, canonical_label

if TYPE_CHECKING:
    from crisiseval.engine import CallSpec, Engine, RunSummary

CLASSIFY_EXPLANATION_CHARS = 200
"""The classifier's explanation limit when a model sets no ``explanation_chars``."""
JUDGE_EXPLANATION_CHARS = 300
"""The judge's explanation limit when a model sets no ``explanation_chars``."""


def _clipper(limit: int) -> BeforeValidator:
    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


def _explanation(limit: int) -> tuple[Any, Any]:
    """The ``explanation`` field: clipped at ``limit``, which the schema advertises."""
    return (
        Annotated[str, _clipper(limit)],
        Field(default="", json_schema_extra={"maxLength": limit}),
    )


def explanation_fields(explanation_chars: int | None, default: int) -> dict[str, Any]:
    if explanation_chars == 0:
        return {}
    limit = default if explanation_chars is None else explanation_chars
    return {"explanation": _explanation(limit)}


def classify_output_for(
    names: Sequence[str], explanation_chars: int | None = None
) -> type[BaseModel]:
    """The classifier's output model for a taxonomy's label names (its JSON schema lists them),
    with the explanation of ``explanation_chars`` (None: 200 characters; 0: none). Cached: the
    same arguments give the same class."""
    return _classify_output(tuple(names), explanation_chars)


@functools.cache
def _classify_output(names: tuple[str, ...], explanation_chars: int | None) -> type[BaseModel]:
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
        **explanation_fields(explanation_chars, CLASSIFY_EXPLANATION_CHARS),
    )
    return model


def classify_output(taxonomy: Taxonomy, explanation_chars: int | None = None) -> type[BaseModel]:
    return classify_output_for(taxonomy.names, explanation_chars)


ClassifyOutput = classify_output_for(LABELS)
"""The output model of the package taxonomy's seven labels."""


class JudgeOutput(BaseModel):
    """What a judge must return."""

    score: int = Field(ge=1, le=5)
    explanation: Annotated[str, _clipper(JUDGE_EXPLANATION_CHARS)] = Field(
        default="", json_schema_extra={"maxLength": JUDGE_EXPLANATION_CHARS}
    )


@functools.cache
def judge_output_for(explanation_chars: int | None = None) -> type[BaseModel]:
    """The judge's output model with the explanation of ``explanation_chars`` (None: 300
    characters, :class:`JudgeOutput` itself; 0: score only)."""
    if explanation_chars is None:
        return JudgeOutput
    model: type[BaseModel] = create_model(
        "JudgeOutput",
        __doc__=JudgeOutput.__doc__,
        score=(int, Field(ge=1, le=5)),
        **explanation_fields(explanation_chars, JUDGE_EXPLANATION_CHARS),
    )
    return model


def explanation_caps(engine: Engine, models: Sequence[str]) -> dict[str, int | None]:
    """Each model's ``explanation_chars`` (None when it sets none)."""
    return {m: engine.model(m).explanation_chars for m in dict.fromkeys(models)}


def run_by_output(
    engine: Engine,
    specs: Sequence[CallSpec],
    output_of: Callable[[str], type[BaseModel]],
    *,
    description: str,
) -> RunSummary:
    """Run ``specs`` whose output model depends on their model (``output_of(spec.model)``): one
    engine run per distinct output model, one summary back (keys in the order of ``specs``).

    With one output model for all (the usual case) this is exactly one ``engine.run_sync``.
    """
    groups: dict[type[BaseModel], list[int]] = defaultdict(list)
    for i, spec in enumerate(specs):
        groups[output_of(spec.model)].append(i)
    if len(groups) <= 1:
        output = next(iter(groups), None)
        return engine.run_sync(specs, output, description=description)
    keys: list[str] = [""] * len(specs)
    parts: list[RunSummary] = []
    for output, index in groups.items():
        part = engine.run_sync([specs[i] for i in index], output, description=description)
        for i, key in zip(index, part.keys, strict=True):
            keys[i] = key
        parts.append(part)
    return merge_summaries(parts, keys)


def merge_summaries(parts: Sequence[RunSummary], keys: list[str]) -> RunSummary:
    merged = type(parts[0])()
    for f in dataclasses.fields(merged):
        if f.name == "keys":
            continue
        values = [getattr(p, f.name) for p in parts]
        if isinstance(values[0], Counter):
            total: Counter[str] = Counter()
            for v in values:
                total.update(v)
            setattr(merged, f.name, total)
        else:
            setattr(merged, f.name, sum(values))
    merged.keys = keys
    return merged
