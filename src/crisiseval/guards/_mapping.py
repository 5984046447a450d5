"""How a guard's or a moderation endpoint's categories become one crisis label.

Such classifiers flag categories, not the study's seven labels. Each category maps (in the
format's data file) to one label, to :data:`ANY_CRISIS` (a crisis, but not which one: "suicide and
self-harm" covers two labels) or to ``no_crisis``. :func:`combine` turns the categories flagged
for one input into one label.

``any_crisis`` is stored as the label of such an input. It is not one of the seven labels: in the
seven-label agreement it is one more category, a disagreement with every expert's label (the
classifier did not say which crisis); in the binary crisis metrics it counts as a crisis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

from crisiseval.taxonomy import LABELS, NO_CRISIS

ANY_CRISIS = "any_crisis"
"""The label of an input a classifier flags as a crisis without saying which one."""

TARGETS: tuple[str, ...] = (*LABELS, ANY_CRISIS)
"""What a category may map to."""


def _target(value: str) -> str:
    if value not in TARGETS:
        raise ValueError(f"unknown label {value!r} (allowed: {', '.join(TARGETS)})")
    return value


Target = Annotated[str, AfterValidator(_target)]
"""A field of a mapping data file that names what a category maps to (one of :data:`TARGETS`)."""


def combine(labels: Iterable[str]) -> str:
    """One label from the labels of the flagged categories: ``no_crisis`` when none is a crisis,
    the crisis label when exactly one crisis label is flagged, else :data:`ANY_CRISIS`."""
    crises = {label for label in labels if label != NO_CRISIS}
    if not crises:
        return NO_CRISIS
    if len(crises) == 1:
        return crises.pop()
    return ANY_CRISIS


def is_crisis(label: str | None) -> bool | None:
    """Whether a stored label denotes a crisis (None: no usable label)."""
    if label is None or (label not in TARGETS):
        return None
    return label != NO_CRISIS
