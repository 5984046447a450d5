"""Guard models and the moderation endpoint through the classify stage, against the loopback
mock server speaking each format: real HTTP, the real engine, the store's cells and labels."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crisiseval.config import parse_study
from crisiseval.guards import ANY_CRISIS
from crisiseval.pipeline import StudyContext, demo_inputs, ensure_sample
from crisiseval.stages.classify import run_classify
from crisiseval.testing.mockserver import MockServer, messages_digest

TURN = {label: turns[0] for turns, label in demo_inputs(per_label=1)}


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def _open(srv: MockServer, tmp_path: Path, models: dict[str, Any]) -> tuple[StudyContext, dict]:
    fast = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_retries": 2}
    cfg = parse_study(
        {
            "name": "guards",
            "models": {
                name: {"base_url": srv.base_url, "limits": dict(fast), **m}
                for name, m in models.items()
            },
            "sample": {"builtin": "demo"},
            "classify": {"models": list(models), "runs": 2},
        }
    )
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False)
    ids = ensure_sample(ctx.store, cfg, per_label=1, log=lambda _line: None)
    labels = [label for _turns, label in demo_inputs(per_label=1)]
    return ctx, dict(zip(labels, ids, strict=True))


def _rows(ctx: StudyContext, sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{ctx.store.path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        cur = conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()


def _labels(ctx: StudyContext, rater: str) -> dict[str, dict[str, Any]]:
    rows = _rows(ctx, "SELECT * FROM labels WHERE rater = ?", rater)
    return {r["item_id"]: r for r in rows}


def _run(ctx: StudyContext) -> Any:
    c = ctx.cfg.classify
    assert c is not None
    ids = ctx.store.sample_items("main")
    return run_classify(ctx, ids, c.models, c.runs)


def test_llama_guard_over_http(server: MockServer, tmp_path: Path) -> None:
    server.set_rules(
        [
            {"match": TURN["suicidal_ideation"], "kind": "reply", "text": "unsafe\nS11"},
            {"match": TURN["violent_thoughts"], "kind": "reply", "text": "unsafe\nS1"},
            {"match": TURN["self_harm"], "kind": "reply", "text": "unsafe\nS1,S11"},
            {"match": TURN["risk_taking_behaviours"], "kind": "reply", "text": "I'm not sure."},
            {"match": TURN["anxiety_crisis"], "kind": "503", "times": 1},
            {"kind": "reply", "text": "safe"},
        ]
    )
    ctx, item = _open(
        server,
        tmp_path,
        {"lg": {"model": "llama-guard3", "kind": "guard", "guard_format": "llama-guard-3"}},
    )
    result = _run(ctx)
    labels = _labels(ctx, "lg")
    assert labels[item["suicidal_ideation"]]["label"] == ANY_CRISIS
    assert labels[item["violent_thoughts"]]["label"] == "violent_thoughts"
    assert labels[item["self_harm"]]["label"] == ANY_CRISIS
    assert labels[item["anxiety_crisis"]]["label"] == "no_crisis"  # the 503 was retried
    assert labels[item["no_crisis"]]["label"] == "no_crisis"
    # a reply the format cannot read: unparsed, the raw text kept in the cell and the label
    bad = labels[item["risk_taking_behaviours"]]
    assert bad["status"] == "unparsed" and bad["label"] is None
    assert json.loads(bad["detail"]) == {"raw": "I'm not sure."}
    cell = _rows(ctx, "SELECT * FROM cells WHERE key = ?", bad["cell_key"])[0]
    assert cell["status"] == "unparsed" and cell["response_text"] == "I'm not sure."
    detail = json.loads(labels[item["self_harm"]]["detail"])
    assert detail["categories"] == ["S1", "S11"] and detail["crisis_score"] == 1.0
    # one call per item (runs: 2 is for LLM classifiers), never re-asked, no majority record
    assert all(r["run_index"] == 1 for r in labels.values())
    assert result.summary.total == 7 and result.summary.unparsed == 1
    assert not _labels(ctx, "majority:lg")
    # the guard got the input alone, as one user message (its chat template holds the policy)
    sent = {e["digest"] for e in server.requests()}
    turns = ctx.store.item_turns([item["no_crisis"]])[item["no_crisis"]]
    assert messages_digest([{"role": "user", "content": "\n".join(turns)}]) in sent
    # finished cells are cached: a second run calls nothing
    before = len(server.requests())
    again = _run(ctx)
    assert again.summary.cached == 7 and len(server.requests()) == before


def test_qwen3guard_over_http(server: MockServer, tmp_path: Path) -> None:
    server.set_rules(
        [
            {
                "match": TURN["self_harm"],
                "kind": "reply",
                "text": "Safety: Unsafe\nCategories: Suicide & Self-Harm",
            },
            {
                "match": TURN["violent_thoughts"],
                "kind": "reply",
                "text": "Safety: Controversial\nCategories: Violent",
            },
            {"match": TURN["no_crisis"], "kind": "reply", "text": "Everything is fine!"},
            {"kind": "reply", "text": "Safety: Safe\nCategories: None"},
        ]
    )
    ctx, item = _open(
        server,
        tmp_path,
        {"qg": {"model": "qwen3guard", "kind": "guard", "guard_format": "qwen3guard"}},
    )
    _run(ctx)
    labels = _labels(ctx, "qg")
    assert labels[item["self_harm"]]["label"] == ANY_CRISIS
    assert labels[item["violent_thoughts"]]["label"] == "violent_thoughts"
    assert labels[item["anxiety_crisis"]]["label"] == "no_crisis"
    assert labels[item["no_crisis"]]["status"] == "unparsed"
    assert json.loads(labels[item["no_crisis"]]["detail"])["raw"] == "Everything is fine!"


def test_yes_no_guard_over_http_is_re_asked(server: MockServer, tmp_path: Path) -> None:
    # yes/no asks a question of ours: a reply it cannot read is re-asked, then kept unparsed
    server.set_rules(
        [
            {"match": "could not be used", "kind": "reply", "text": "Yes"},
            {"match": TURN["suicidal_ideation"], "kind": "reply", "text": "Absolutely."},
            {"match": TURN["self_harm"], "kind": "reply", "text": "yes"},
            {"kind": "reply", "text": "No."},
        ]
    )
    ctx, item = _open(
        server,
        tmp_path,
        {"yn": {"model": "any-chat-model", "kind": "guard", "guard_format": "yes-no"}},
    )
    _run(ctx)
    labels = _labels(ctx, "yn")
    assert labels[item["suicidal_ideation"]]["label"] == ANY_CRISIS  # after one re-ask
    assert labels[item["self_harm"]]["label"] == ANY_CRISIS
    assert labels[item["no_crisis"]]["label"] == "no_crisis"


def test_moderation_endpoint_over_http(server: MockServer, tmp_path: Path) -> None:
    server.set_rules(
        [
            {
                "match": TURN["suicidal_ideation"],
                "kind": "reply",
                "text": json.dumps({"self-harm/intent": 0.93, "self-harm": 0.8}),
            },
            {"match": TURN["violent_thoughts"], "kind": "reply", "text": '{"violence": 0.71}'},
            {"match": TURN["self_harm"], "kind": "429", "times": 1, "retry_after": 0.01},
            {"match": TURN["self_harm"], "kind": "reply", "text": '{"self-harm": 0.2}'},
        ]
    )
    ctx, item = _open(
        server, tmp_path, {"omni": {"model": "omni-moderation-latest", "kind": "moderation"}}
    )
    result = _run(ctx)
    labels = _labels(ctx, "omni")
    assert labels[item["suicidal_ideation"]]["label"] == ANY_CRISIS
    assert labels[item["violent_thoughts"]]["label"] == "violent_thoughts"
    assert labels[item["self_harm"]]["label"] == "no_crisis"  # below its threshold (after a 429)
    detail = json.loads(labels[item["suicidal_ideation"]]["detail"])
    assert detail["crisis_score"] == pytest.approx(0.93)
    assert detail["flagged"] == ["self-harm", "self-harm/intent"]
    assert json.loads(labels[item["self_harm"]]["detail"])["crisis_score"] == pytest.approx(0.2)
    assert result.summary.total == 7 and result.summary.failed == 0
    moderation_calls = [e for e in server.requests() if e.get("path") == "/v1/moderations"]
    assert len(moderation_calls) == 8  # 7 items and one retry after the 429
    cells = _rows(ctx, "SELECT endpoint, tokens_in FROM cells WHERE model = 'omni'")
    assert all(c["endpoint"].startswith("moderation:") and c["tokens_in"] == 0 for c in cells)


def test_guard_beside_an_llm_classifier(server: MockServer, tmp_path: Path) -> None:
    server.set_rules(
        [
            {"model": "guard", "match": TURN["self_harm"], "kind": "reply", "text": "unsafe\nS11"},
            {"model": "guard", "kind": "reply", "text": "safe"},
            {
                "model": "llm",
                "kind": "reply",
                "text": json.dumps({"label": "self_harm", "explanation": "scripted"}),
            },
        ]
    )
    ctx, item = _open(
        server,
        tmp_path,
        {
            "llm": {"model": "llm"},
            "g": {"model": "guard", "kind": "guard", "guard_format": "llama-guard-3"},
        },
    )
    result = _run(ctx)
    assert result.summary.total == 7 * 2 + 7  # two LLM runs and one guard call per item
    assert _labels(ctx, "majority:llm")[item["no_crisis"]]["label"] == "self_harm"
    assert _labels(ctx, "g")[item["self_harm"]]["label"] == ANY_CRISIS
    assert not _labels(ctx, "majority:g")
    assert any(line.startswith("  g (guard):") for line in result.lines())
