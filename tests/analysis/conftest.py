"""Fixtures for the analysis tests: the study imported once per session, small frame builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from crisiseval.importers import import_study
from crisiseval.store import Store


@dataclass(frozen=True)
class Study:
    store: Store
    labels: pd.DataFrame
    judgments: pd.DataFrame
    responses: pd.DataFrame
    items: pd.DataFrame
    validation: list[str]


@pytest.fixture(scope="session")
def study(study_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Study:
    """The released data, imported once into a fresh store, and its frames (do not mutate)."""
    store = Store.open(tmp_path_factory.mktemp("analysis-study"))
    import_study(store, study_dir)
    return Study(
        store=store,
        labels=store.labels_frame(),
        judgments=store.judgments_frame(),
        responses=store.responses_frame(),
        items=store.items_frame(),
        validation=store.sample_items("validation"),
    )


def labels_frame(rows: dict[str, Sequence[str | None]], *, kind: str = "human") -> pd.DataFrame:
    """A labels frame from ``{rater key: labels per item}`` (items i0, i1, ...); None, "" ->
    status unparsed. Keys ``name#k`` become run k of a model_run rater."""
    out: list[dict[str, Any]] = []
    for key, labels in rows.items():
        name, _, run = key.partition("#")
        for i, label in enumerate(labels):
            ok = bool(label)
            out.append(
                {
                    "rater": name,
                    "rater_kind": "model_run" if run else kind,
                    "run_index": int(run) if run else 0,
                    "item_id": f"i{i}",
                    "label": label if ok else None,
                    "status": "ok" if ok else "unparsed",
                    "explanation": None,
                    "origin": "test",
                }
            )
    return pd.DataFrame(out)


def judgments_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A judgments frame (Store.judgments_frame's columns) from partial rows.

    Each row needs ``item_id``, ``judge`` and ``score`` (None -> status unparsed unless
    ``status`` is given); defaults: respondent r, response_run 1, judge_run 1, label no_crisis.
    """
    out = []
    for row in rows:
        r = {
            "respondent": "r",
            "response_run": 1,
            "judge_kind": "model",
            "judge_run": 1,
            "label": "no_crisis",
            "explanation": None,
            "origin": "test",
            **row,
        }
        r.setdefault("status", "ok" if r["score"] is not None else "unparsed")
        r.setdefault("response_id", f"{r['item_id']}/{r['respondent']}/{r['response_run']}")
        out.append(r)
    columns = [
        "response_id",
        "item_id",
        "respondent",
        "response_run",
        "judge",
        "judge_kind",
        "judge_run",
        "label",
        "score",
        "status",
        "explanation",
        "origin",
    ]
    return pd.DataFrame(out).reindex(columns=columns)


Scored = tuple[str, str, int, str, float | None]


def scored_frame(rows: Sequence[Scored], judge: str = "j") -> pd.DataFrame:
    """(respondent, item, answer run, label, score or None for unparsed) -> judgments by
    ``judge`` (one run each): the short form of :func:`judgments_frame`."""
    return judgments_frame(
        [
            {
                "response_id": f"{who}:{item}:{run}",
                "item_id": item,
                "respondent": who,
                "response_run": run,
                "judge": judge,
                "label": label,
                "score": score,
            }
            for who, item, run, label, score in rows
        ]
    )


LabelsBuilder = Callable[..., pd.DataFrame]
JudgmentsBuilder = Callable[[Sequence[dict[str, Any]]], pd.DataFrame]


@pytest.fixture
def make_labels() -> LabelsBuilder:
    """:func:`labels_frame` (a fixture, so test modules need not import this conftest)."""
    return labels_frame


@pytest.fixture
def make_scored() -> Callable[[Sequence[Scored]], pd.DataFrame]:
    """:func:`scored_frame`."""
    return scored_frame


@pytest.fixture
def make_judgments() -> JudgmentsBuilder:
    """:func:`judgments_frame`."""
    return judgments_frame
