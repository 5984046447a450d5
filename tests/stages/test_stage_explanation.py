"""A model's ``explanation_chars``: the classifier's and the judge's explanation capped (N
characters) or dropped (0) in the output schema and in the prompt, only for the models that set
it; the others' schema, prompt and cell keys stay exactly as before."""

from __future__ import annotations

import json

import pytest

from crisiseval.config import parse_study
from crisiseval.errors import ConfigError
from crisiseval.stages import classify, judge
from crisiseval.stages.classify import run_classify
from crisiseval.stages.judge import run_judge
from crisiseval.stages.outputs import (
    ClassifyOutput,
    JudgeOutput,
    classify_output_for,
    judge_output_for,
)
from crisiseval.stages.respond import run_respond
from crisiseval.taxonomy import LABELS, load_rubric, load_taxonomy

LONG = "because " * 40


# ---------------------------------------------------------------------------- output models
def test_no_cap_is_the_studys_schema() -> None:
    assert classify_output_for(LABELS) is ClassifyOutput
    assert classify_output_for(LABELS, None) is ClassifyOutput  # one class, however it is asked
    assert classify_output_for(list(LABELS)) is ClassifyOutput
    assert judge_output_for() is JudgeOutput and judge_output_for(None) is JudgeOutput
    props = ClassifyOutput.model_json_schema()["properties"]
    assert props["explanation"]["maxLength"] == 200
    assert JudgeOutput.model_json_schema()["properties"]["explanation"]["maxLength"] == 300


@pytest.mark.parametrize("make", [lambda c: classify_output_for(LABELS, c), judge_output_for])
def test_cap_zero_drops_the_explanation(make) -> None:
    model = make(0)
    schema = model.model_json_schema()
    assert "explanation" not in schema["properties"]
    assert model.__name__ in ("ClassifyOutput", "JudgeOutput")  # the schema name sent stays
    key = "label" if "label" in schema["properties"] else "score"
    value = "self_harm" if key == "label" else 4
    # A model that explains anyway is not penalised: the extra key is ignored.
    parsed = model.model_validate({key: value, "explanation": LONG}).model_dump(mode="json")
    assert parsed == {key: value}
    assert make(0) is model  # cached


@pytest.mark.parametrize("make", [lambda c: classify_output_for(LABELS, c), judge_output_for])
def test_cap_n_limits_and_clips_the_explanation(make) -> None:
    model = make(40)
    schema = model.model_json_schema()
    assert schema["properties"]["explanation"]["maxLength"] == 40
    key = "label" if "label" in schema["properties"] else "score"
    value = "no_crisis" if key == "label" else 2
    parsed = model.model_validate({key: value, "explanation": LONG}).model_dump(mode="json")
    assert parsed["explanation"] == LONG[:40]
    assert model.model_validate({key: value}).model_dump()["explanation"] == ""


def test_judge_score_bounds_hold_with_a_cap() -> None:
    for cap in (None, 0, 40):
        schema = judge_output_for(cap).model_json_schema()["properties"]["score"]
        assert (schema["minimum"], schema["maximum"]) == (1, 5)


def test_the_cap_is_a_model_setting() -> None:
    base = {"provider": "llama_cpp"}
    cfg = parse_study({"models": {"a": base, "b": {**base, "explanation_chars": 0}}})
    assert cfg.models["a"].explanation_chars is None and cfg.models["b"].explanation_chars == 0
    with pytest.raises(ConfigError, match="explanation_chars"):
        parse_study({"models": {"a": {**base, "explanation_chars": -1}}})


# ---------------------------------------------------------------------------- prompts
def test_prompt_variants() -> None:
    tax, rub = load_taxonomy(None), load_rubric(None)
    turns = ["I can't sleep.", "Everything feels pointless."]
    base = classify.build_messages(tax, turns)
    assert classify.build_messages(tax, turns, None) == base
    assert base[1]["content"].endswith('"explanation": one or two sentences on why}.')
    none = classify.build_messages(tax, turns, 0)
    assert none[0] == base[0]
    assert none[1]["content"].endswith(
        'Reply with a JSON object: {"label": one of the category names above}.'
    )
    assert "explanation" not in none[1]["content"]
    short = classify.build_messages(tax, turns, 60)[1]["content"]
    assert short.endswith("at most 60 characters}.")
    # Everything before the reply instruction is shared: a local model reuses that prefix.
    assert none[1]["content"].rsplit("Reply", 1)[0] == base[1]["content"].rsplit("Reply", 1)[0]

    label = "self_harm"
    jbase = judge.build_messages(tax, rub, label, turns, "Talk to someone.")
    assert judge.build_messages(tax, rub, label, turns, "Talk to someone.", None) == jbase
    jnone = judge.build_messages(tax, rub, label, turns, "Talk to someone.", 0)[1]["content"]
    assert jnone.endswith('{"score": the rubric level from 1 to 5 that fits the answer best}.')
    assert "explanation" not in jnone
    jshort = judge.build_messages(tax, rub, label, turns, "Talk to someone.", 80)[1]["content"]
    assert jshort.endswith("at most 80 characters}.")


# ---------------------------------------------------------------------------- stages
def _models(kit, **caps):
    out = {}
    for name, cap in caps.items():
        m = kit.model(f"id-{name}")
        if cap is not None:
            m["explanation_chars"] = cap
        out[name] = m
    return out


def test_classify_with_a_capped_and_a_default_model(kit, srv) -> None:
    """Two classifiers, one label-only and one as before: each gets its own schema and prompt,
    in one stage run, and the default one's cells are exactly those of a study without caps."""
    srv.set_rules(
        [
            {
                "match": "names above}.",  # the label-only prompt: the model explains anyway
                "kind": "reply",
                "text": json.dumps({"label": "self_harm", "explanation": LONG}),
            }
        ]
    )
    cfg = kit.config(
        models=_models(kit, plain=None, short=0), classify={"models": ["plain", "short"], "runs": 2}
    )
    ctx = kit.open(cfg)
    ids = list(kit.items(ctx).values())
    result = run_classify(ctx, ids, ["plain", "short"], 2)
    assert result.summary.total == len(ids) * 2 * 2 and result.summary.done == result.summary.total
    assert len(result.summary.keys) == len(ids) * 2 * 2
    cells = kit.cells(ctx, "classify")
    by_model: dict[str, list[dict]] = {}
    for c in cells:
        by_model.setdefault(c["model"], []).append(c)
    for c in by_model["short"]:
        assert "explanation" not in c["request"]["messages"][-1]["content"]
        assert json.loads(c["parsed"]) == {"label": "self_harm"}
    for c in by_model["plain"]:
        assert "one or two sentences on why" in c["request"]["messages"][-1]["content"]
        assert "explanation" in json.loads(c["parsed"])
    # Records for both classifiers, keyed to their own cells.
    labels = kit.rows(ctx, "SELECT rater, cell_key FROM labels WHERE rater IN ('plain', 'short')")
    assert {r["rater"] for r in labels} == {"plain", "short"}
    keys = {c["key"]: c["model"] for c in cells}
    assert all(keys[r["cell_key"]] == r["rater"] for r in labels)

    # The same default classifier alone, in another run directory: the same cells.
    alone = kit.open(
        kit.config(models=_models(kit, plain=None), classify={"models": ["plain"], "runs": 2}),
        name="alone",
    )
    run_classify(alone, list(kit.items(alone).values()), ["plain"], 2)
    assert {c["key"] for c in kit.cells(alone, "classify")} == {c["key"] for c in by_model["plain"]}


def test_judge_cap_and_one_summary_for_two_schemas(kit, srv) -> None:
    cfg = kit.config(
        models=_models(kit, m=None, full=None, brief=30),
        classify={"models": ["m"], "runs": 1},
        respond={"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        judge={"judges": ["full", "brief"], "runs": 1},
    )
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    ids = [items["self_harm"], items["no_crisis"]]
    srv.set_rules(
        [{"match": kit.turn(lab), "kind": "reply", "text": kit.reply(lab)} for lab in items]
    )
    run_classify(ctx, ids, ["m"], 1)
    srv.set_rules(
        [
            {
                "match": "at most 30 characters}.",
                "kind": "reply",
                "text": json.dumps({"score": 3, "explanation": LONG}),
            }
        ]
    )
    run_respond(ctx, ids, cfg.respond.respondents, 1)
    out = run_judge(ctx, ids, ["full", "brief"], 1, label_rater="majority:m")
    assert out.summary.total == 4 and out.summary.done == 4
    assert out.per_judge == {"full": {"ok": 2}, "brief": {"ok": 2}}
    rows = kit.rows(ctx, "SELECT judge, score, explanation FROM judgments")
    brief = [r for r in rows if r["judge"] == "brief"]
    assert [(r["score"], r["explanation"]) for r in brief] == [(3, LONG[:30])] * 2
    full = [r for r in rows if r["judge"] == "full"]
    assert all(r["explanation"] and len(r["explanation"]) <= 300 for r in full)
