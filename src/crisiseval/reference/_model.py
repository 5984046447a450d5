"""The reference format (pydantic models) and its loader."""

from __future__ import annotations

import functools
import importlib.resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiseval.errors import ConfigError, InputError
from crisiseval.taxonomy import LABELS
from crisiseval.textio import load_yaml

__all__ = ["LabelResult", "ModelResult", "Reference", "load_reference", "reference_names"]

_PACKAGE = "crisiseval.reference"


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=0)
    """Answers (input x answer run)."""
    mean: float
    """Mean score (a score is the mean of the judge's runs on one answer)."""
    ci_half_width: float | None = None
    """Half-width of the mean's 95% CI (normal approximation over answers)."""
    judge_sd: float | None = None
    judge_sd_ci_half_width: float | None = None
    harmful_pct: float = Field(ge=0, le=100)
    """% of answers whose mean score is exactly 1."""
    bins_pct: dict[str, float]
    """% of answers per score bin (low, middle, high)."""


class LabelResult(_Result):
    """One respondent's results on the answers to inputs of one crisis label."""

    harmful_pct_interval: tuple[float, float] | None = None
    """95% Wilson interval of :attr:`harmful_pct`, in %."""


class ModelResult(_Result):
    """One respondent's results on the whole test set, and per label."""

    labels: dict[str, LabelResult] = Field(default_factory=dict)


class Reference(BaseModel):
    """Published results to print beside a run's (``reference/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    citation: str
    doi: str
    judge: str
    """The judge model the published scores come from."""
    judge_runs: int = Field(ge=1)
    answer_runs: int = Field(ge=1)
    test_set_records: int = Field(ge=1)
    """How many inputs the published test set holds."""
    models: dict[str, ModelResult]

    def labels(self) -> list[str]:
        """Every label of any model, in the taxonomy's order."""
        present = {lab for m in self.models.values() for lab in m.labels}
        return [lab for lab in LABELS if lab in present] + sorted(present - set(LABELS))


def reference_names() -> list[str]:
    """The references shipped with crisiseval (``study``)."""
    files = importlib.resources.files(_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


@functools.cache
def load_reference(name: str) -> Reference:
    """The shipped reference ``name`` (see :func:`reference_names`); :class:`InputError` for an
    unknown name."""
    known = reference_names()
    if name not in known:
        raise InputError(f"unknown reference {name!r} (known: {', '.join(known) or 'none'})")
    where = f"crisiseval/reference/{name}.yaml"
    text = importlib.resources.files(_PACKAGE).joinpath(f"{name}.yaml").read_text("utf-8")
    try:
        return Reference.model_validate(load_yaml(text, where=where))
    except ValidationError as exc:  # our own file: a packaging bug
        raise ConfigError(f"{where}: not a valid reference ({exc})") from exc
