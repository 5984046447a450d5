"""Stage ``classify`` on the loopback mock server with scripted answers: per-run labels, the
majority vote, ties, unparsable answers and failed runs."""

from __future__ import annotations

from crisiseval.stages.classify import majority, run_classify


def _run(kit, ctx, ids, runs):
    cfg = ctx.cfg
    return run_classify(ctx, ids, cfg.classify.models, runs)


def _labels(kit, ctx, rater):
    rows = kit.rows(
        ctx,
        "SELECT item_id, run_index, label, status FROM labels WHERE rater = ? "
        "ORDER BY item_id, run_index",
        rater,
    )
    out: dict[str, list[tuple[str | None, str]]] = {}
    for r in rows:
        out.setdefault(r["item_id"], []).append((r["label"], r["status"]))
    return out


def test_majority_vote_ties_and_unparsable_runs(kit, srv) -> None:
    cfg = kit.config(classify={"models": ["m"], "runs": 3})
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    srv.set_rules(
        [
            # suicidal_ideation: 2 of 3 runs agree -> the majority label.
            {
                "match": kit.turn("suicidal_ideation"),
                "kind": "reply",
                "times": 2,
                "text": kit.reply("suicidal_ideation"),
            },
            {
                "match": kit.turn("suicidal_ideation"),
                "kind": "reply",
                "times": 1,
                "text": kit.reply("self_harm"),
            },
            # self_harm: unanimous.
            {"match": kit.turn("self_harm"), "kind": "reply", "text": kit.reply("self_harm")},
            # anxiety_crisis: three runs, three labels -> a tie, no label.
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
            {
                "match": kit.turn("anxiety_crisis"),
                "kind": "reply",
                "times": 1,
                "text": kit.reply("self_harm"),
            },
            # violent_thoughts: never JSON (re-asks included) -> every run unparsed -> none.
            {
                "match": kit.turn("violent_thoughts"),
                "kind": "reply",
                "text": "I think this is about violent thoughts.",
            },
            # substance: a label outside the taxonomy is not a label.
            {
                "match": kit.turn("substance_abuse_or_withdrawal"),
                "kind": "reply",
                "text": kit.reply("sadness"),
            },
            # risk_taking: one valid answer, every other answer (re-asks too) unusable -> 1 of 3.
            {
                "match": kit.turn("risk_taking_behaviours"),
                "kind": "reply",
                "times": 1,
                "text": kit.reply("risk_taking_behaviours"),
            },
            {
                "match": kit.turn("risk_taking_behaviours"),
                "kind": "reply",
                "text": '{"label": "risk_taking_behaviours", "explanation": ',
            },
            # no_crisis: unscripted; the mock answers a valid label (the same for all runs).
        ]
    )
    result = _run(kit, ctx, list(items.values()), 3)

    runs = _labels(kit, ctx, "m")
    maj = {iid: v[0] for iid, v in _labels(kit, ctx, "majority:m").items()}
    by_label = {label: (runs[iid], maj[iid]) for label, iid in items.items()}

    si_runs, si_maj = by_label["suicidal_ideation"]
    assert sorted(lab for lab, _ in si_runs) == [
        "self_harm",
        "suicidal_ideation",
        "suicidal_ideation",
    ]
    assert si_maj == ("suicidal_ideation", "ok")

    assert by_label["self_harm"] == ([("self_harm", "ok")] * 3, ("self_harm", "ok"))

    ax_runs, ax_maj = by_label["anxiety_crisis"]
    assert sorted(lab for lab, _ in ax_runs) == ["anxiety_crisis", "no_crisis", "self_harm"]
    assert ax_maj == (None, "tie")

    assert by_label["violent_thoughts"] == ([(None, "unparsed")] * 3, (None, "none"))
    assert by_label["substance_abuse_or_withdrawal"] == ([(None, "unparsed")] * 3, (None, "none"))

    rt_runs, rt_maj = by_label["risk_taking_behaviours"]
    assert sorted(rt_runs, key=str) == sorted(
        [("risk_taking_behaviours", "ok"), (None, "unparsed"), (None, "unparsed")], key=str
    )
    assert rt_maj == ("risk_taking_behaviours", "ok")

    nc_runs, nc_maj = by_label["no_crisis"]
    assert {s for _, s in nc_runs} == {"ok"} and nc_maj[1] == "ok"
    assert nc_maj[0] in ctx.taxonomy.names

    assert result.per_model["m"] == {"ok": 4, "tie": 1, "none": 2}
    assert result.summary.failed == 0

    # Unparsed runs keep the model's raw text, were re-asked (reasks: 1) and carry no label.
    cells = kit.cells(ctx, "classify")
    unparsed = [c for c in cells if c["status"] == "unparsed"]
    assert len(unparsed) == 8
    for c in unparsed:
        assert c["parsed"] is None and c["response_text"]
        assert c["attempts"] == 2 and c["error_kind"] == "invalid_output"
    sadness = [c for c in unparsed if c["item_id"] == items["substance_abuse_or_withdrawal"]]
    assert all("sadness" in c["response_text"] for c in sadness)
    # Every label in the store is one of the taxonomy's.
    stored = {r["label"] for r in kit.rows(ctx, "SELECT label FROM labels")} - {None}
    assert stored <= set(ctx.taxonomy.names)


def test_two_runs_that_disagree_are_a_tie(kit, srv) -> None:
    cfg = kit.config(classify={"models": ["m"], "runs": 2})
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    srv.set_rules(
        [
            {
                "match": kit.turn("self_harm"),
                "kind": "reply",
                "times": 1,
                "text": kit.reply("self_harm"),
            },
            {
                "match": kit.turn("self_harm"),
                "kind": "reply",
                "times": 1,
                "text": kit.reply("suicidal_ideation"),
            },
        ]
    )
    iid = items["self_harm"]
    result = _run(kit, ctx, [iid], 2)
    assert _labels(kit, ctx, "majority:m")[iid] == [(None, "tie")]
    assert result.per_model["m"] == {"tie": 1}
    assert "1 ties" in "\n".join(result.lines())


def test_majority_rule() -> None:
    assert majority(["a", "a", "b"]) == ("a", "ok")
    assert majority(["a", None, None]) == ("a", "ok")
    assert majority(["a", "b", None]) == (None, "tie")
    assert majority(["a", "b", "c"]) == (None, "tie")
    assert majority([None, None, None]) == (None, "none")
    assert majority([]) == (None, "none")


def test_failed_run_is_not_a_vote_and_a_rerun_completes_the_majority(kit, srv) -> None:
    # One worker, so the calls go in order: run 0 of the item meets both 500s (the try and its one
    # retry) and fails; runs 1 and 2 succeed.
    cfg = kit.config(
        models={"m": kit.model(concurrency=1, max_retries=1)},
        classify={"models": ["m"], "runs": 3},
    )
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    iid = items["suicidal_ideation"]
    srv.set_rules(
        [
            {"match": kit.turn("suicidal_ideation"), "kind": "500", "times": 2},
            {
                "match": kit.turn("suicidal_ideation"),
                "kind": "reply",
                "text": kit.reply("suicidal_ideation"),
            },
        ]
    )
    result = _run(kit, ctx, [iid], 3)
    assert result.summary.failed == 1 and result.summary.done == 2
    assert result.per_model["m"]["incomplete"] == 1
    assert "1 incomplete" in "\n".join(result.lines())
    runs = _labels(kit, ctx, "m")[iid]
    assert sorted(runs, key=str) == sorted(
        [(None, "failed"), ("suicidal_ideation", "ok"), ("suicidal_ideation", "ok")], key=str
    )
    # No majority while a run is missing (the failure is not a vote, and not a "none").
    assert iid not in _labels(kit, ctx, "majority:m")
    failed = [c for c in kit.cells(ctx, "classify") if c["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error_kind"] == "server"
    assert failed[0]["attempts"] == 2

    # The fault is gone: a re-run sends only the failed cell and completes the majority.
    srv.set_rules(
        [
            {
                "match": kit.turn("suicidal_ideation"),
                "kind": "reply",
                "text": kit.reply("suicidal_ideation"),
            }
        ]
    )
    before = len(srv.requests())
    result = _run(kit, ctx, [iid], 3)
    assert len(srv.requests()) - before == 1
    assert result.summary.cached == 2 and result.summary.done == 1
    assert _labels(kit, ctx, "majority:m")[iid] == [("suicidal_ideation", "ok")]
    assert _labels(kit, ctx, "m")[iid] == [("suicidal_ideation", "ok")] * 3
    assert result.per_model["m"] == {"ok": 1}


def test_classify_prompt_holds_the_turns_and_every_label(kit, srv) -> None:
    cfg = kit.config(classify={"models": ["m"], "runs": 1})
    ctx = kit.open(cfg)
    items = kit.items(ctx)
    _run(kit, ctx, [items["self_harm"]], 1)
    (cell,) = kit.cells(ctx, "classify")
    user = cell["request"]["messages"][-1]["content"]
    for turn in kit.demo["self_harm"]:
        assert turn in user
    for name in ctx.taxonomy.names:
        assert name in user
    # Structured output was requested as a JSON schema.
    assert {r["response_format"] for r in srv.requests()} == {"json_schema"}
