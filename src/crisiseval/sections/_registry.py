"""The section registry: ``@section(...)`` registers a report section under its name, with its
place in the report and the records it needs.

A section module (any public module of this package) defines a function from
:class:`SectionInputs` to a :class:`~crisiseval.sections.Section` and decorates it; nothing else
is edited. :func:`registered_sections` imports every public module of the package first, so a new
module is found without being listed anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal, TypeVar

import pandas as pd

from crisiseval.sections._model import Section

if TYPE_CHECKING:
    from crisiseval.analysis.agreement import InvalidPolicy
    from crisiseval.analysis.judges import JudgeChoice
    from crisiseval.store import Store

__all__ = [
    "Requirement",
    "SectionFn",
    "SectionInputs",
    "SectionSpec",
    "registered_sections",
    "section",
    "unregister_section",
]

Requirement = Literal["labels", "judgments", "responses", "items", "probes", "conversations"]

_DESCRIBED: dict[str, str] = {
    "labels": "crisis labels",
    "judgments": "judgments",
    "responses": "responses",
    "items": "items",
    "probes": "probe suites",
    "conversations": "judged conversations",
}


class SectionInputs:
    """What a section is computed from: the run store's frames (each read once, when first
    used) and the report's options."""

    def __init__(
        self,
        store: Store,
        *,
        judge: str | None = None,
        configured: Sequence[str] | None = None,
        n_boot: int = 2000,
        seed: int = 0,
        invalid: InvalidPolicy = "category",
        gallery_per_label: int = 3,
        baseline: str | None = None,
        candidate: str | None = None,
    ) -> None:
        self.store = store
        self.judge = judge
        """The judge asked for (``None``: :attr:`judge_choice` picks one)."""
        self.configured: tuple[str, ...] = tuple(
            store.configured_judges() if configured is None else configured
        )
        """The experiment file's judges (default: :meth:`Store.configured_judges`)."""
        self.n_boot = n_boot
        self.seed = seed
        self.invalid: InvalidPolicy = invalid
        self.gallery_per_label = gallery_per_label
        self.baseline = baseline
        """The comparison's baseline asked for (``None``: the experiment's first respondent)."""
        self.candidate = candidate
        """The comparison's candidate asked for (``None``: every other configured respondent)."""

    @cached_property
    def labels(self) -> pd.DataFrame:
        return self.store.labels_frame()

    @cached_property
    def judgments(self) -> pd.DataFrame:
        return self.store.judgments_frame()

    @cached_property
    def responses(self) -> pd.DataFrame:
        return self.store.responses_frame()

    @cached_property
    def items(self) -> pd.DataFrame:
        return self.store.items_frame()

    @cached_property
    def probes(self) -> pd.DataFrame:
        """The probes of the probe samples in use (empty without any; the samples kept when a
        suite changed are left out)."""
        from crisiseval.probes.sample import current_probe_items

        frame = self.store.probes_frame()
        return frame[frame["item_id"].isin(current_probe_items(self.store))]

    @cached_property
    def conversations(self) -> pd.DataFrame:
        """The judgments of conversations (empty without any)."""
        return self.store.judgments_frame(kind="conversation")

    @cached_property
    def behaviours(self) -> pd.DataFrame:
        return self.store.behaviours_frame()

    @cached_property
    def samples(self) -> dict[str, list[str]]:
        """Sample name -> its item ids."""
        return {name: self.store.sample_items(name) for name in self.store.sample_names()}

    @cached_property
    def respondents(self) -> tuple[str, ...]:
        """The experiment file's respondents, in its order (:meth:`Store.configured_respondents`;
        the first is the comparisons' baseline)."""
        return tuple(self.store.configured_respondents())

    @cached_property
    def judge_choice(self) -> JudgeChoice:
        """The judge of the verdict, the score tables and the gallery, and why:
        :func:`~crisiseval.analysis.judges.choose_judge` (the judge asked for, else the
        experiment's first judge, else the one that scored the most answers). Raises
        :class:`~crisiseval.analysis.AnalysisError` for a judge asked for without judgments."""
        # imported here: the analysis pulls in scipy and scikit-learn, and the terminal
        # commands import this package at start-up
        from crisiseval.analysis.judges import choose_judge

        return choose_judge(
            self.judgments, self.responses, configured=self.configured, requested=self.judge
        )

    @cached_property
    def main_judge(self) -> str:
        """The name of :attr:`judge_choice`."""
        return self.judge_choice.judge

    def frame(self, name: Requirement) -> pd.DataFrame:
        frame: pd.DataFrame = getattr(self, name)
        return frame


SectionFn = Callable[[SectionInputs], Section]
_F = TypeVar("_F", bound=SectionFn)


@dataclass(frozen=True)
class SectionSpec:
    """A registered section."""

    name: str
    title: str
    """How the report names the section when it is skipped."""
    order: int
    """Place in the report (ascending; ties by name)."""
    requires: tuple[Requirement, ...]
    build: SectionFn

    def missing(self, inputs: SectionInputs) -> str | None:
        """Why the section is skipped before it is computed (a required frame is empty)."""
        for name in self.requires:
            if inputs.frame(name).empty:
                return f"no {_DESCRIBED[name]} in the store"
        return None


_REGISTRY: dict[str, SectionSpec] = {}


def section(
    name: str, *, title: str, order: int, requires: Sequence[Requirement] = ()
) -> Callable[[_F], _F]:
    """Register the decorated function as the report section ``name``.

    ``title`` names the section in the report's list of skipped sections; ``order`` places it;
    ``requires``: the frames without which it is skipped ("no judgments in the store"). The
    function may raise a :class:`~crisiseval.errors.CrisisEvalError` to be skipped with that
    message.
    """
    unknown = [r for r in requires if r not in _DESCRIBED]
    if unknown:
        raise ValueError(f"section {name}: unknown requirement(s) {', '.join(unknown)}")

    def register(fn: _F) -> _F:
        if name in _REGISTRY:
            raise ValueError(f"a section named {name!r} is already registered")
        _REGISTRY[name] = SectionSpec(name, title, order, tuple(requires), fn)
        return fn

    return register


def unregister_section(name: str) -> None:
    """Remove the section ``name`` (tests register toy sections and remove them)."""
    _REGISTRY.pop(name, None)


_loaded = False


def _load_section_modules() -> None:
    global _loaded
    if _loaded:
        return
    package = importlib.import_module("crisiseval.sections")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    _loaded = True


def registered_sections() -> list[SectionSpec]:
    """Every registered section, in report order."""
    _load_section_modules()
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))
