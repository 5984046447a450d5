"""Crisis labels, their definitions and the 1-5 appropriateness rubric.

The package defaults (``taxonomy/data/taxonomy.yaml`` and ``rubric.yaml``) are written in our own
words; :func:`load_rubric` also reads the paper's ``protocol.csv`` layout from a path.
"""

from __future__ import annotations

from crisiseval.taxonomy.labels import (
    CRISIS_LABELS,
    LABELS,
    NO_CRISIS,
    canonical_label,
    normalize_label,
    normalize_optional_label,
)
from crisiseval.taxonomy.loaders import load_rubric, load_taxonomy
from crisiseval.taxonomy.models import DEFAULT_SCALE, LEVELS, LabelDef, Rubric, Taxonomy
from crisiseval.taxonomy.validation import input_error_from_validation
from crisiseval.textio import read_yaml_text

__all__ = [
    "CRISIS_LABELS",
    "DEFAULT_SCALE",
    "LABELS",
    "LEVELS",
    "NO_CRISIS",
    "LabelDef",
    "Rubric",
    "Taxonomy",
    "canonical_label",
    "input_error_from_validation",
    "load_rubric",
    "load_taxonomy",
    "normalize_label",
    "normalize_optional_label",
    "read_yaml_text",
]
