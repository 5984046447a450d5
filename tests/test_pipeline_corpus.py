"""`crisiseval sample` from corpus sources (local files in each source's own schema)."""

from __future__ import annotations

import json
from pathlib import Path

from crisiseval.config import parse_study
from crisiseval.pipeline import StudyContext, run_study


def _write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def _run(tmp_path: Path, style: str, name: str) -> tuple[StudyContext, list[str]]:
    amod = _write_jsonl(
        tmp_path / "amod.jsonl",
        [
            {"Context": f"Wait... is this normal?! I feel odd {i}.\nIt started last week."}
            for i in range(5)
        ],
    )
    therapy = tmp_path / "therapy"
    therapy.mkdir(exist_ok=True)
    _write_jsonl(
        therapy / "train.jsonl", [{"input": f"I cannot sleep {i}. Help!"} for i in range(4)]
    )
    _write_jsonl(therapy / "test.jsonl", [{"input": "I cannot sleep 0. Help!"}])  # a duplicate
    cfg = parse_study(
        {
            "sample": {
                "name": "s",
                "sources": [
                    {"id": "Amod/mental_health_counseling_conversations", "path": str(amod)},
                    {"id": "fadodr/mental_health_therapy", "path": str(therapy)},
                ],
                "n_per_source": 3,
                "seed": 1,
                "split_style": style,
            }
        }
    )
    ctx = StudyContext.open(cfg, tmp_path / name)
    lines: list[str] = []
    run_study(ctx, stages=("sample",), log=lines.append)
    return ctx, lines


def test_sources_are_built_deduplicated_and_sampled_per_source(tmp_path: Path) -> None:
    ctx, lines = _run(tmp_path, "grouped", "run")
    items = ctx.store.items_frame()
    sample = ctx.store.sample_items("s")
    assert len(sample) == 6  # 3 per source
    assert set(items.loc[items["item_id"].isin(sample), "source"]) == {
        "amod_counseling",
        "fadodr_mental_health_therapy",
    }
    # 5 + 4 distinct documents; the test split's copy is a duplicate within the source
    assert len(items) == 9
    assert any("duplicates_within=1" in line for line in lines), lines
    first = ctx.store.item_turns(sample)[sample[0]]
    assert all("\n" not in t for t in first)
    ctx.store.close()


def test_split_style_paper_splits_at_every_single_delimiter(tmp_path: Path) -> None:
    grouped, _ = _run(tmp_path, "grouped", "g")
    paper, _ = _run(tmp_path, "paper", "p")

    def first_turns(ctx: StudyContext) -> list[str]:
        turns = [t for t in ctx.store.item_turns().values() if t[0].lower().startswith("wait")]
        ctx.store.close()
        return turns[0]

    g, p = first_turns(grouped), first_turns(paper)
    assert g[:2] == ["Wait...", "is this normal?!"]  # the documented rule: '...' and '?!' kept
    assert p[:2] == ["Wait.", "is this normal?"]  # the study's items: every single delimiter


def test_a_changed_recipe_needs_a_new_sample_name(tmp_path: Path) -> None:
    import pytest

    from crisiseval.errors import ConfigError

    first, _ = _run(tmp_path, "grouped", "same")
    first.store.close()
    with pytest.raises(ConfigError, match="split_style"):
        _run(tmp_path, "paper", "same")


def test_a_sample_is_drawn_from_this_build_only(tmp_path: Path) -> None:
    ctx, _ = _run(tmp_path, "grouped", "mixed")
    ctx.store.close()
    # the same run dir, another style and another sample name: no item of the first build
    cfg_dir = tmp_path / "mixed"
    from crisiseval.config import parse_study as parse

    amod = tmp_path / "amod.jsonl"
    cfg = parse(
        {
            "sample": {
                "name": "b",
                "sources": [
                    {"id": "Amod/mental_health_counseling_conversations", "path": str(amod)}
                ],
                "n_per_source": 10,
                "split_style": "paper",
            }
        }
    )
    ctx2 = StudyContext.open(cfg, cfg_dir)
    run_study(ctx2, stages=("sample",), log=lambda _line: None)
    turns = ctx2.store.item_turns(ctx2.store.sample_items("b"))
    assert turns and all(t[0] == "Wait." for t in turns.values())
    ctx2.store.close()
