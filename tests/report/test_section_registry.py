"""The section registry: the report computes every registered section, in order, and skips
those whose records are missing; figures are data until the report draws them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from crisiseval.report import collect_sections
from crisiseval.report.figures import FIGURE_KINDS, draw
from crisiseval.sections import (
    FigureSpec,
    Section,
    SectionInputs,
    make_table,
    registered_sections,
    section,
    unregister_section,
)
from crisiseval.store import Store

StoreFactory = Callable[..., Store]


@pytest.fixture
def toy_sections() -> Iterator[None]:
    """Two toy sections, registered for the test only."""

    @section("toy_first", title="Toy first", order=0)
    def first(inputs: SectionInputs) -> Section:
        n = len(inputs.labels)
        data = pd.DataFrame({"labels": [n]})
        table = make_table("toy", "Toy", data, [("labels", lambda r: str(r["labels"]), True)])
        return Section(key="toy_first", title="Toy first", tables=[table])

    @section("toy_answers", title="Toy answers", order=99, requires=("responses",))
    def answers(inputs: SectionInputs) -> Section:
        return Section(key="toy_answers", title="Toy answers")

    yield
    unregister_section("toy_first")
    unregister_section("toy_answers")


def test_the_built_in_sections_are_registered_in_order() -> None:
    assert [s.name for s in registered_sections()] == [
        "verdict",
        "agreement",
        "classifiers",
        "scores",
        "comparison",
        "judge_validity",
        "probes",
        "conversations",
        "gallery",
    ]


def test_a_registered_section_is_collected(toy_sections: None, make_store: StoreFactory) -> None:
    store = make_store(responses=False, judgments=False, bad_cells=False, hostile=False)
    sections, skipped = collect_sections(store, n_boot=0)
    assert [s.key for s in sections] == ["toy_first", "agreement", "classifiers"]
    assert sections[0].tables[0].rows == [[str(len(store.labels_frame()))]]
    # a section whose records are missing is skipped, in its place, with the reason
    assert skipped == [
        ("Verdict", "no judgments in the store"),
        ("Appropriateness scores", "no judgments in the store"),
        ("Comparison", "no judgments in the store"),
        ("Judge validity", "no judgments in the store"),
        ("Probes", "no probe suites in the store"),
        ("Conversations", "no judged conversations in the store"),
        ("Failure gallery", "no judgments in the store"),
        ("Toy answers", "no responses in the store"),
    ]


def test_removed_sections_are_gone(toy_sections: None) -> None:
    unregister_section("toy_first")
    assert "toy_first" not in [s.name for s in registered_sections()]


def test_a_name_is_registered_once() -> None:
    assert "agreement" in [s.name for s in registered_sections()]  # the built-ins are loaded
    with pytest.raises(ValueError, match="already registered"):
        section("agreement", title="Again", order=1)(lambda inputs: Section("a", "A"))
    with pytest.raises(ValueError, match="unknown requirement"):
        section("bad", title="Bad", order=1, requires=("nothing",))  # type: ignore[arg-type]


def test_figures_are_drawn_by_kind() -> None:
    assert {"bins_stacked", "confusion_heatmap", "harmful_rates", "kappa_bars"} <= set(FIGURE_KINDS)
    matrix = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    fig = draw(FigureSpec("m", "M", "matrix_heatmap", {"matrix": matrix, "title": "M"}))
    assert fig.axes
    with pytest.raises(ValueError, match="unknown kind 'nope'"):
        draw(FigureSpec("x", "X", "nope"))


def test_terminal_commands_import_neither_the_report_nor_matplotlib() -> None:
    code = (
        "import sys, crisiseval.cli.analysis, crisiseval.sections.agreement, "
        "crisiseval.sections.scores, crisiseval.sections.validity, crisiseval.sections.gallery, "
        "crisiseval.sections.verdict\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' "
        "or m.startswith('crisiseval.report'))\n"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
