"""Published results to print a run's respondent beside: ``study`` is the test-set results of
"Between Help and Harm" (doi 10.2196/88435) per studied respondent and per respondent x crisis
label, as package data (``reference/study.yaml``, written by ``scripts/make_reference.py`` from
the paper's results tables).

:func:`load_reference` reads one; :func:`beside_reference` puts a run's candidate beside it with
the same definitions; :func:`like_for_like` says why the two may not be comparable.
"""

from __future__ import annotations

from crisiseval.reference._beside import (
    BESIDE_COLUMNS,
    RunFacts,
    beside_reference,
    like_for_like,
    rubric_version_of,
)
from crisiseval.reference._model import (
    LabelResult,
    ModelResult,
    Reference,
    load_reference,
    reference_names,
)

__all__ = [
    "BESIDE_COLUMNS",
    "LabelResult",
    "ModelResult",
    "Reference",
    "RunFacts",
    "beside_reference",
    "like_for_like",
    "load_reference",
    "reference_names",
    "rubric_version_of",
]
