"""Stage ``judge`` on the loopback mock server: the prompt carries the item's label and that
label's five rubric levels (package rubric or the paper's protocol.csv), scores are validated
1..5, unlabelled items are skipped and counted, and a judge that also answers is flagged."""

from __future__ import annotations

from crisiseval.pipeline import self_judges
from crisiseval.stages.classify import run_classify
from crisiseval.stages.judge import run_judge
from crisiseval.stages.respond import run_respond
from crisiseval.store import ResponseRecord
from crisiseval.taxonomy import LABELS, load_rubric
from crisiseval.testing.mockserver import messages_digest


def _prepare(kit, srv, ctx, labels, *, classify_rules=None):
    """Classify (scripted: each item gets its intended label) and answer the chosen items."""
    items = kit.items(ctx)
    ids = [items[lab] for lab in labels]
    srv.set_rules(
        classify_rules
        if classify_rules is not None
        else [{"match": kit.turn(lab), "kind": "reply", "text": kit.reply(lab)} for lab in labels]
    )
    cfg = ctx.cfg
    run_classify(ctx, ids, cfg.classify.models, cfg.classify.runs)
    srv.set_rules([])
    run_respond(ctx, ids, cfg.respond.respondents, cfg.respond.runs)
    return items, ids


def _judge(ctx, ids, **kw):
    cfg = ctx.cfg
    return run_judge(
        ctx,
        ids,
        cfg.judge.judges,
        cfg.judge.runs,
        label_rater=ctx.label_rater(),
        respondents=kw.get("respondents"),
        response_runs=kw.get("response_runs"),
        self_judges=kw.get("self_judges", self_judges(cfg)),
    )


def _config(kit, **judge):
    return kit.config(
        models={"m": kit.model(), "j": kit.model("judge-model")},
        classify={"models": ["m"], "runs": 1},
        respond={"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        judge={"judges": ["j"], "runs": 2, **judge},
    )


def _check_prompt_has_rubric_of(kit, ctx, srv, rubric, expected: dict[str, str]) -> None:
    """Every judge prompt names its item's label and holds that label's levels, no other's."""
    cells = kit.cells(ctx, "judge")
    assert cells
    sent = {r["digest"] for r in srv.requests()}
    for cell in cells:
        label = expected[cell["item_id"]]
        assert cell["context"]["label"] == label
        user = cell["request"]["messages"][-1]["content"]
        assert f"Category of the user's message: {label}" in user
        levels = rubric.for_label(label)
        assert sorted(levels) == [1, 2, 3, 4, 5]
        for level, text in levels.items():
            assert f"{level} ({rubric.scale[level]}): {text}" in user
        for other in LABELS:
            if other != label:
                assert rubric.text(other, 1) not in user
        assert messages_digest(cell["request"]["messages"]) in sent


def test_judge_prompt_carries_the_label_and_its_package_rubric(kit, srv) -> None:
    ctx = kit.open(_config(kit))
    labels = ["suicidal_ideation", "substance_abuse_or_withdrawal"]
    items, ids = _prepare(kit, srv, ctx, labels)
    result = _judge(ctx, ids)
    assert result.responses == 2 and result.unlabelled_items == 0
    assert result.summary.total == 2 * 2  # 2 answers x 2 judge runs
    assert result.per_judge == {"j": {"ok": 4}}
    assert result.warnings == []
    _check_prompt_has_rubric_of(kit, ctx, srv, ctx.rubric, {items[lab]: lab for lab in labels})
    # The answer being judged is in the prompt.
    answers = {r["item_id"]: r["text"] for r in kit.rows(ctx, "SELECT * FROM responses")}
    for cell in kit.cells(ctx, "judge"):
        assert answers[cell["item_id"]] in cell["request"]["messages"][-1]["content"]
    rows = kit.rows(ctx, "SELECT * FROM judgments")
    assert len(rows) == 4
    for r in rows:
        assert r["status"] == "ok" and r["judge"] == "j" and r["judge_kind"] == "model"
        assert 1 <= r["score"] <= 5


def test_judge_uses_a_custom_rubric_file(kit, srv, study_dir) -> None:
    protocol = study_dir / "llm_evaluator" / "protocol.csv"
    ctx = kit.open(_config(kit, rubric=str(protocol)))
    rubric = load_rubric(protocol)
    assert ctx.rubric == rubric
    labels = ["self_harm", "risk_taking_behaviours", "no_crisis"]
    items, ids = _prepare(kit, srv, ctx, labels)
    result = _judge(ctx, ids)
    assert result.responses == 3 and result.per_judge["j"]["ok"] == 6
    _check_prompt_has_rubric_of(kit, ctx, srv, rubric, {items[lab]: lab for lab in labels})
    # The paper's wording, not the package's.
    package = load_rubric()
    user = kit.cells(ctx, "judge")[0]["request"]["messages"][-1]["content"]
    assert all(text not in user for text in package.for_label("self_harm").values())


def test_scores_outside_one_to_five_are_unparsed(kit, srv) -> None:
    cfg = kit.config(
        models={"m": kit.model(), "j": kit.model("judge-model")},
        classify={"models": ["m"], "runs": 1},
        respond={
            "runs": 1,
            "respondents": [
                {"name": "plain", "model": "m"},
                {"name": "odd", "model": "m", "system_prompt": "ODD-RESPONDENT"},
            ],
        },
        judge={"judges": ["j"], "runs": 2},
    )
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    iid = items["violent_thoughts"]
    srv.set_rules(
        [
            {
                "match": kit.turn("violent_thoughts"),
                "kind": "reply",
                "text": kit.reply("violent_thoughts"),
            }
        ]
    )
    run_classify(ctx, [iid], ["m"], 1)
    srv.set_rules([{"match": "ODD-RESPONDENT", "kind": "reply", "text": "ODD-ANSWER-123"}])
    run_respond(ctx, [iid], cfg.respond.respondents, 1)
    srv.set_rules(
        [
            {
                "match": "ODD-ANSWER-123",
                "kind": "reply",
                "text": '{"score": 7, "explanation": "off the scale"}',
            },
            {
                "match": "Chatbot answer:",
                "kind": "reply",
                "text": '{"score": 4, "explanation": "mostly appropriate"}',
            },
        ]
    )
    result = _judge(ctx, [iid])
    assert result.per_judge["j"] == {"ok": 2, "unparsed": 2}
    rows = kit.rows(
        ctx,
        "SELECT r.respondent, j.status, j.score, j.label FROM judgments j "
        "JOIN responses r USING (response_id) ORDER BY r.respondent, j.run_index",
    )
    assert rows == [
        {"respondent": "odd", "status": "unparsed", "score": None, "label": "violent_thoughts"},
        {"respondent": "odd", "status": "unparsed", "score": None, "label": "violent_thoughts"},
        {"respondent": "plain", "status": "ok", "score": 4.0, "label": "violent_thoughts"},
        {"respondent": "plain", "status": "ok", "score": 4.0, "label": "violent_thoughts"},
    ]
    bad = [c for c in kit.cells(ctx, "judge") if c["status"] == "unparsed"]
    assert len(bad) == 2
    for c in bad:
        assert '"score": 7' in c["response_text"]
        assert c["error_kind"] == "invalid_output" and c["attempts"] == 2  # asked, re-asked once


def test_items_without_a_label_are_not_judged_and_are_counted(kit, srv) -> None:
    cfg = kit.config(
        models={"m": kit.model(reasks=0), "j": kit.model("judge-model")},
        classify={"models": ["m"], "runs": 2},
        respond={"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        judge={"judges": ["j"], "runs": 1},
    )
    ctx = kit.open(cfg)
    labels = ["suicidal_ideation", "anxiety_crisis", "violent_thoughts"]
    rules = [
        {
            "match": kit.turn("suicidal_ideation"),
            "kind": "reply",
            "text": kit.reply("suicidal_ideation"),
        },
        # A tie: two runs, two labels.
        {
            "match": kit.turn("anxiety_crisis"),
            "kind": "reply",
            "times": 1,
            "text": kit.reply("anxiety_crisis"),
        },
        {
            "match": kit.turn("anxiety_crisis"),
            "kind": "reply",
            "times": 1,
            "text": kit.reply("no_crisis"),
        },
        # No valid run.
        {"match": kit.turn("violent_thoughts"), "kind": "reply", "text": "no idea"},
    ]
    items, ids = _prepare(kit, srv, ctx, labels, classify_rules=rules)
    assert len(kit.rows(ctx, "SELECT * FROM responses WHERE status = 'ok'")) == 3
    result = _judge(ctx, ids)
    assert result.unlabelled_items == 2
    assert result.responses == 1 and result.summary.total == 1
    assert {c["item_id"] for c in kit.cells(ctx, "judge")} == {items["suicidal_ideation"]}
    assert "2 items without a label" in "\n".join(result.lines())
    judged = kit.rows(ctx, "SELECT r.item_id FROM judgments j JOIN responses r USING (response_id)")
    assert judged == [{"item_id": items["suicidal_ideation"]}]


def test_warning_when_a_judge_also_answers(kit, srv) -> None:
    cfg = kit.config(
        classify={"models": ["m"], "runs": 1},
        respond={"runs": 1, "respondents": [{"name": "r", "model": "m"}]},
        judge={"judges": ["m"], "runs": 1},
    )
    ctx = kit.open(cfg)
    _items, ids = _prepare(kit, srv, ctx, ["self_harm"])
    result = _judge(ctx, ids)
    assert len(result.warnings) == 1 and "m" in result.warnings[0]
    assert any(line.startswith("  warning:") for line in result.lines())

    # A separate judge model raises no warning.
    ctx2 = kit.open(_config(kit), name="run2")
    _items2, ids2 = _prepare(kit, srv, ctx2, ["self_harm"])
    assert _judge(ctx2, ids2).warnings == []


def test_judging_again_sends_nothing(kit, srv) -> None:
    ctx = kit.open(_config(kit))
    _items, ids = _prepare(kit, srv, ctx, ["no_crisis", "self_harm"])
    first = _judge(ctx, ids)
    n = len(srv.requests())
    again = _judge(ctx, ids)
    assert len(srv.requests()) == n
    assert again.summary.cached == first.summary.total == 4
    assert len(kit.rows(ctx, "SELECT * FROM judgments")) == 4


def test_only_configured_respondents_and_runs_are_judged(kit, srv) -> None:
    ctx = kit.open(_config(kit))
    _items, ids = _prepare(kit, srv, ctx, ["self_harm"])
    # an answer from a respondent that is not in this configuration
    ctx.store.upsert_responses(
        [
            ResponseRecord(
                response_id="rs_other",
                item_id=ids[0],
                respondent="old",
                run_index=1,
                text="an old answer",
                status="ok",
                origin="respond",
            ),
            ResponseRecord(
                response_id="rs_run2",
                item_id=ids[0],
                respondent="r",
                run_index=2,
                text="a second run",
                status="ok",
                origin="respond",
            ),
        ]
    )
    _judge(ctx, ids, respondents=["r"], response_runs=1)
    judged = {row["response_id"] for row in kit.rows(ctx, "SELECT response_id FROM judgments")}
    assert "rs_other" not in judged and "rs_run2" not in judged and len(judged) == 1


def test_fewer_judge_runs_remove_the_extra_judgments(kit, srv) -> None:
    ctx = kit.open(_config(kit))
    _items, ids = _prepare(kit, srv, ctx, ["self_harm"])
    _judge(ctx, ids)
    fewer = kit.open(_config(kit, runs=1))
    run_judge(
        ctx,
        ids,
        ["j"],
        1,
        label_rater=fewer.label_rater(),
    )
    runs = kit.rows(ctx, "SELECT run_index FROM judgments")
    assert runs == [{"run_index": 1}]


def test_stale_judgments_are_removed_when_an_item_loses_its_label(kit, srv) -> None:
    ctx = kit.open(_config(kit))
    _items, ids = _prepare(kit, srv, ctx, ["self_harm"])
    _judge(ctx, ids)
    assert kit.rows(ctx, "SELECT COUNT(*) AS n FROM judgments") == [{"n": 2}]  # 2 judge runs
    with ctx.store.transaction() as c:
        c.execute("DELETE FROM labels WHERE rater LIKE 'majority:%'")
    result = _judge(ctx, ids)
    assert result.responses == 0
    assert kit.rows(ctx, "SELECT COUNT(*) AS n FROM judgments") == [{"n": 0}]
