"""The stage registry: a new stage is one class and one decorator. ``run``, ``--dry-run`` and
the order of stages pick it up with nothing else edited."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from crisiseval.cli import main
from crisiseval.config import StudyConfig
from crisiseval.engine import CallSpec
from crisiseval.stages import (
    StageOutcome,
    StudyContext,
    register_stage,
    stage_names,
    unregister_stage,
)
from crisiseval.testing.fake import FakeBackend


class Toy:
    """Asks the first classifier model one question per item, twice."""

    name = "toy"
    needs: tuple[str, ...] = ("respond",)

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.classify is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        assert cfg.classify is not None
        return [cfg.classify.models[0]]

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        (model,) = self.models(ctx.cfg)
        return [
            CallSpec(
                role="toy",
                model=model,
                messages=[{"role": "user", "content": f"Is {iid} a question? (toy)"}],
                run_index=run,
                item_id=iid,
            )
            for iid in item_ids
            for run in range(2)
        ]

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        summary = ctx.engine.run_sync(self.plan(ctx, item_ids), None, description="toy")
        return StageOutcome(summary, [f"toy: {summary.line()}"])


@pytest.fixture
def toy() -> Iterator[None]:
    register_stage(Toy)
    try:
        yield
    finally:
        unregister_stage("toy")


def test_registered_stages_run_after_what_they_need(toy: None) -> None:
    # Registered last, so it runs last (its need, respond, comes earlier anyway).
    assert stage_names() == (
        "sample",
        "classify",
        "respond",
        "judge",
        "behaviour",
        "converse",
        "converse-judge",
        "toy",
    )
    with pytest.raises(ValueError, match="registered already"):
        register_stage(Toy)

    class Early(Toy):  # registered before the stage it needs: still runs after it
        name = "early"
        needs = ("late",)

    class Late(Toy):
        name = "late"
        needs = ()

    register_stage(Early)
    register_stage(Late)
    try:
        names = stage_names()
        assert names.index("late") < names.index("early")
    finally:
        unregister_stage("early")
        unregister_stage("late")


def test_dry_run_counts_a_registered_stage(
    toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = FakeBackend()
    study = {
        "name": "toy",
        "models": {"m": {"base_url": backend.base_url, "model": "mock"}},
        "sample": {"builtin": "demo"},
        "classify": {"models": ["m"], "runs": 1},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    monkeypatch.setattr(
        sys, "argv", ["crisiseval", "run", str(path), "-d", str(tmp_path / "r"), "--dry-run"]
    )
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr().out
    assert exc.value.code in (0, None)
    # 35 demo items: classify 1 run each, the toy stage 2 runs each.
    assert "total: 105 calls" in out


def test_a_registered_stage_runs_in_the_pipeline(toy: None, tmp_path: Path) -> None:
    from crisiseval.config import parse_study
    from crisiseval.pipeline import run_study

    backend = FakeBackend()
    cfg = parse_study(
        {
            "name": "toy",
            "models": {"m": {"base_url": backend.base_url, "model": "mock"}},
            "sample": {"builtin": "demo"},
            "classify": {"models": ["m"], "runs": 1},
        }
    )
    ctx = StudyContext.open(cfg, tmp_path / "r", progress=False, endpoint_factory=backend.factory)
    try:
        result = run_study(ctx, per_label=1, log=lambda _line: None)
        assert [ln.split(":")[0] for ln in result.lines if not ln.startswith(" ")] == [
            "classify",
            "toy",
        ]
        assert ctx.store.cells_frame("toy")["status"].tolist() == ["done"] * 14
    finally:
        ctx.store.close()
