"""The offline demo is sized to finish in about a minute on 2 cores (issue 10): the classifier and
the judge give the label or score only, each role's max_tokens fits it, the default runs one
input per label, and no call is wasted on a re-ask (the slow test runs the embedded model)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crisiseval.demo import default_per_label
from crisiseval.engine import outputs as outputs_mod
from crisiseval.pipeline import StudyContext, demo_config, demo_inputs, ensure_sample
from crisiseval.stages.classify import run_classify
from crisiseval.stages.judge import run_judge, self_judges
from crisiseval.stages.respond import run_respond
from crisiseval.taxonomy import LABELS


def test_the_demo_config_is_sized_for_a_small_local_model() -> None:
    cfg = demo_config()
    assert cfg.classify is not None and cfg.judge is not None and cfg.respond is not None
    for name in {*cfg.classify.models, *cfg.judge.judges}:
        m = cfg.models[name]
        assert m.provider == "llama_cpp"
        assert m.explanation_chars == 0  # label or score only
        assert m.params["max_tokens"] <= 32  # {"label": "substance_abuse_or_withdrawal"}: 15
    for r in cfg.respond.respondents:
        assert 48 <= cfg.models[r.model].params["max_tokens"] <= 128  # long enough to judge
    # Still every label, every stage, several runs, two respondents.
    assert cfg.classify.runs >= 3 and len(cfg.respond.respondents) == 2
    per_label = default_per_label()
    assert per_label == 1
    assert sorted({label for _turns, label in demo_inputs(per_label)}) == sorted(LABELS)
    assert len(demo_inputs(5)) == 35


@pytest.mark.slow
def test_the_demo_model_answers_without_reasks(tmp_path: Path, monkeypatch) -> None:
    """Three demo inputs through every stage on the embedded model, with the demo's settings:
    every classifier and judge reply is used as it comes (no re-ask for a control character,
    a score out of range or anything else), and it stays quick."""
    pytest.importorskip("llama_cpp")
    from crisiseval.engine.endpoints import embedded_gguf_path

    try:
        if not embedded_gguf_path().is_file():
            pytest.skip("the embedded model file is missing")
    except Exception as exc:  # ConfigError: not installed
        pytest.skip(str(exc))

    rejected: list[str] = []
    parse = outputs_mod.JsonOutput.parse

    def recording_parse(self: outputs_mod.JsonOutput, text: str) -> dict[str, object]:
        try:
            return parse(self, text)
        except outputs_mod.OutputError as exc:
            rejected.append(exc.reason)
            raise

    monkeypatch.setattr(outputs_mod.JsonOutput, "parse", recording_parse)
    cfg = demo_config()
    assert cfg.classify is not None and cfg.judge is not None and cfg.respond is not None
    ctx = StudyContext.open(cfg, tmp_path / "demo", progress=False)
    t0 = time.monotonic()
    try:
        ids = ensure_sample(ctx.store, cfg, per_label=1, log=lambda _line: None)[:3]
        run_classify(ctx, ids, cfg.classify.models, cfg.classify.runs)
        run_respond(ctx, ids, cfg.respond.respondents, cfg.respond.runs)
        judged = run_judge(
            ctx,
            ids,
            cfg.judge.judges,
            cfg.judge.runs,
            label_rater=ctx.label_rater(),
            self_judges=self_judges(cfg),
        )
        elapsed = time.monotonic() - t0
        cells = {role: ctx.store.cells_frame(role) for role in ("classify", "judge")}
    finally:
        ctx.store.close()
    assert not [r for r in rejected if "control character" in r], rejected
    assert rejected == []
    for role, frame in cells.items():
        assert len(frame) > 0, role
        assert frame["status"].tolist() == ["done"] * len(frame), role
        assert frame["attempts"].tolist() == [1] * len(frame), role
    assert judged.summary.done == judged.responses > 0
    # 9 classify, 6 respond and up to 6 judge calls: ~30 s on a quiet 2-core machine.
    assert elapsed < 180, f"{elapsed:.0f} s"
