"""Fixtures for the stage tests: a scripted in-process fake endpoint and a study built on it.

The stages go through the real engine, store and parsers; what HTTP itself must prove (retries,
resets, deadlines, format fallbacks) is tested on the loopback mock server in tests/engine.

The helpers are handed out as the ``kit`` fixture (pytest runs with --import-mode=importlib, so
test modules import nothing from here).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crisiseval.config import StudyConfig, parse_study
from crisiseval.pipeline import StudyContext, demo_inputs, ensure_sample
from crisiseval.testing.fake import FakeBackend


class Kit:
    """Builds studies whose models all live on one mock server, and reads the run store."""

    def __init__(self, srv: FakeBackend, tmp_path: Path) -> None:
        self.srv = srv
        self.tmp_path = tmp_path
        self._open: list[StudyContext] = []
        # The first demo input of each label; its first turn is unique to it (and is not in the
        # classifier prompt's examples), so a rule matching it scripts that item alone.
        self.demo: dict[str, list[str]] = {}
        for turns, label in demo_inputs(per_label=1):
            self.demo[label] = turns

    def turn(self, label: str) -> str:
        """A substring that identifies the demo item of ``label`` in any prompt."""
        return self.demo[label][0]

    def model(self, model_id: str = "mock", **limits: Any) -> dict[str, Any]:
        lim: dict[str, Any] = {
            "concurrency": 4,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "max_retries": 1,
            "reasks": 1,
        }
        lim.update(limits)
        return {"base_url": self.srv.base_url, "model": model_id, "limits": lim}

    def config(self, **sections: Any) -> StudyConfig:
        data: dict[str, Any] = {
            "name": "stage-test",
            "models": {"m": self.model()},
            "sample": {"builtin": "demo"},
        }
        data.update(sections)
        return parse_study(data)

    def open(self, cfg: StudyConfig, name: str = "run") -> StudyContext:
        ctx = StudyContext.open(
            cfg, self.tmp_path / name, progress=False, endpoint_factory=self.srv.factory
        )
        self._open.append(ctx)
        return ctx

    @staticmethod
    def items(ctx: StudyContext) -> dict[str, str]:
        """The demo sample, one item per label, saved in the store: label -> item id."""
        ids = ensure_sample(ctx.store, ctx.cfg, per_label=1, log=lambda _line: None)
        labels = [label for _turns, label in demo_inputs(per_label=1)]
        return dict(zip(labels, ids, strict=True))

    @staticmethod
    def reply(label: str, explanation: str = "scripted") -> str:
        return json.dumps({"label": label, "explanation": explanation})

    @staticmethod
    def rows(ctx: StudyContext, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows as stored, read through a separate read-only connection to the file."""
        conn = sqlite3.connect(f"{ctx.store.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            cur = conn.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        finally:
            conn.close()

    def cells(self, ctx: StudyContext, role: str) -> list[dict[str, Any]]:
        rows = self.rows(
            ctx,
            "SELECT cells.*, prompts.body AS request FROM cells JOIN prompts ON hash = prompt "
            "WHERE role = ? ORDER BY item_id, run_index",
            role,
        )
        for r in rows:
            r["request"] = json.loads(r["request"])
            r["context"] = json.loads(r["context"])
        return rows

    def close(self) -> None:
        for ctx in self._open:
            ctx.store.close()


@pytest.fixture
def srv() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def kit(srv: FakeBackend, tmp_path: Path) -> Iterator[Kit]:
    k = Kit(srv, tmp_path)
    try:
        yield k
    finally:
        k.close()
