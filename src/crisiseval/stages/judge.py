"""Stage ``judge``: J judges x K runs score every response against its label's rubric.

The judge sees the user's input, the crisis label the input was given, the response, and the five
rubric levels of that label; it returns ``{score: 1..5, explanation}`` (a judge model's
``explanation_chars`` caps the explanation, or drops it at 0, in the schema and in the prompt). A
response's score for a judge is the mean of its valid runs (computed in the analysis). Responses
to items without a label (classifier tie or no valid run) are not judged and are reported.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from crisiseval.config import StudyConfig, endpoint_identity
from crisiseval.engine import CallSpec, RunSummary
from crisiseval.prompts import render_each
from crisiseval.stages.base import StageOutcome, StudyContext, planned_answers, register_stage
from crisiseval.stages.outputs import explanation_caps, judge_output_for, run_by_output
from crisiseval.store import JudgmentRecord, Store, record_run
from crisiseval.taxonomy import Rubric, Taxonomy

PROMPT_VERSION = "judge-v1"
ORIGIN = "judge"


def build_messages(
    taxonomy: Taxonomy,
    rubric: Rubric,
    label: str,
    turns: Sequence[str],
    response: str,
    explanation_chars: int | None = None,
) -> list[dict[str, str]]:
    """The judge's messages; ``explanation_chars`` as the judge model's (None: the usual
    explanation is asked for, 0: the score only)."""
    return build_messages_each(taxonomy, rubric, label, turns, [response], explanation_chars)[0]


def build_messages_each(
    taxonomy: Taxonomy,
    rubric: Rubric,
    label: str,
    turns: Sequence[str],
    responses: Sequence[str],
    explanation_chars: int | None = None,
) -> list[list[dict[str, str]]]:
    """:func:`build_messages` of each of several answers to one input (the prompt is rendered
    once and each answer put in its place: the same messages, byte for byte)."""
    levels = rubric.for_label(label)
    return render_each(
        "judge",
        "response",
        responses,
        label=taxonomy.get(label),
        levels=[
            {"level": lv, "anchor": rubric.scale[lv], "text": levels[lv]}
            for lv in sorted(levels, reverse=True)
        ],
        turns=list(turns),
        explanation_chars=explanation_chars,
    )


@dataclass
class JudgeResult:
    summary: RunSummary
    unlabelled_items: int = 0
    responses: int = 0
    per_judge: dict[str, Counter[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"judge: {self.summary.line()}"]
        out.append(
            f"  {self.responses} responses judged; {self.unlabelled_items} items without a label "
            "(classifier tie or no valid run) were not judged"
        )
        for name, c in self.per_judge.items():
            out.append(
                f"  {name}: {c.get('ok', 0)} scores, {c.get('unparsed', 0)} unparsed, "
                f"{c.get('failed', 0)} failed"
            )
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def item_labels(store: Store, rater: str) -> dict[str, str]:
    """The label of each item according to ``rater`` (e.g. ``majority:gpt-4o-mini``)."""
    return store.item_labels(rater)


def _answers(
    store: Store,
    item_ids: Sequence[str],
    respondents: Sequence[str] | None,
    response_runs: int | None,
) -> list[tuple[str, str, str]]:
    """(response_id, item_id, text) of the answers in scope."""
    wanted = set(item_ids)
    keep = set(respondents) if respondents is not None else None
    return [
        (rid, iid, text)
        for rid, iid, text, who, run in store.ok_responses()
        if iid in wanted
        and (keep is None or who in keep)
        and (response_runs is None or run <= response_runs)
    ]


def make_specs(
    ctx: StudyContext,
    answers: Sequence[tuple[str, str, str]],
    labels: dict[str, str],
    judges: Sequence[str],
    runs: int,
) -> list[CallSpec]:
    turns = ctx.store.item_turns(list(dict.fromkeys(a[1] for a in answers)))
    version = f"{PROMPT_VERSION}:{ctx.rubric.version}:{ctx.taxonomy.version}"
    caps = explanation_caps(ctx.engine, judges)
    specs: list[CallSpec] = []
    # Grouped by label so that consecutive prompts share the rubric prefix; the answers to one
    # input share one rendering of its prompt.
    ordered = sorted(answers, key=lambda r: (labels.get(r[1], ""), r[1], r[0]))
    for iid, grouped in itertools.groupby(ordered, key=lambda r: r[1]):
        label = labels.get(iid)
        if label is None:
            continue
        group = list(grouped)
        texts = [text for _, _, text in group]
        messages = {
            cap: build_messages_each(ctx.taxonomy, ctx.rubric, label, turns[iid], texts, cap)
            for cap in set(caps.values())
        }
        for n, (response_id, _, _) in enumerate(group):
            for judge in judges:
                for run in range(runs):
                    specs.append(
                        CallSpec(
                            role="judge",
                            model=judge,
                            messages=messages[caps[judge]][n],
                            run_index=run,
                            prompt_version=version,
                            item_id=iid,
                            context={"response_id": response_id, "judge": judge, "label": label},
                        )
                    )
    return specs


def run_judge(
    ctx: StudyContext,
    item_ids: Sequence[str],
    judges: Sequence[str],
    runs: int,
    *,
    label_rater: str,
    respondents: Sequence[str] | None = None,
    response_runs: int | None = None,
    self_judges: Sequence[str] = (),
) -> JudgeResult:
    """Judge the answers of ``respondents`` (all when None), runs 1..``response_runs``.

    Judgments this stage wrote earlier for the same items and judges that are out of scope now
    (an item that lost its label, fewer judge runs, a respondent no longer configured) are
    removed, so the scores always describe the current configuration. ``self_judges``: judges that
    share an endpoint with a respondent (warned about).
    """
    store, engine = ctx.store, ctx.engine
    labels = store.item_labels(label_rater)
    answers = _answers(store, item_ids, respondents, response_runs)
    specs = make_specs(ctx, answers, labels, judges, runs)
    wanted = set(item_ids)
    caps = explanation_caps(ctx.engine, judges)
    summary = run_by_output(
        engine, specs, lambda model: judge_output_for(caps[model]), description="judge"
    )
    results = engine.results(summary.keys)
    out = JudgeResult(
        summary=summary,
        unlabelled_items=len([i for i in wanted if i not in labels]),
        responses=sum(1 for a in answers if a[1] in labels),
        per_judge={j: Counter() for j in judges},
    )
    if self_judges:
        out.warnings.append(
            f"judge {', '.join(sorted(self_judges))} is also a respondent (the same model "
            "behind both roles): a model may rate its own answers leniently"
        )
    records: list[JudgmentRecord] = []
    for spec, key in zip(specs, summary.keys, strict=True):
        res = results[key]
        rec = JudgmentRecord.from_cell(
            response_id=str(spec.context["response_id"]),
            judge=spec.model,
            cell_run_index=spec.run_index,
            label=str(spec.context["label"]),
            cell_status=res.status,
            parsed=res.parsed,
            cell_key=key,
        )
        if rec is None:
            continue
        out.per_judge[spec.model][rec.status] += 1
        records.append(rec)
    current = {(s.context["response_id"], s.model, record_run(s.run_index)) for s in specs}
    stale = [
        (rid, judge, run)
        for rid, judge, run, iid in store.judgment_keys(judges, ORIGIN)
        if iid in wanted and (rid, judge, run) not in current
    ]
    with store.transaction():
        store.upsert_judgments(records)
        store.delete_judgments(stale)
    return out


def self_judges(cfg: StudyConfig) -> list[str]:
    """Judges that are also respondents: the same endpoint and model, whatever the names."""
    if cfg.judge is None or cfg.respond is None:
        return []
    answering = {endpoint_identity(cfg.models[r.model]) for r in cfg.respond.respondents}
    return [j for j in cfg.judge.judges if endpoint_identity(cfg.models[j]) in answering]


@register_stage
class JudgeStage:
    name = "judge"
    needs: tuple[str, ...] = ("classify", "respond")

    def enabled(self, cfg: StudyConfig) -> bool:
        return cfg.judge is not None

    def models(self, cfg: StudyConfig) -> list[str]:
        return list(cfg.judge.judges) if cfg.judge else []

    def plan(self, ctx: StudyContext, item_ids: Sequence[str]) -> list[CallSpec]:
        """The judge calls of the configured answers. An answer not collected yet is sized as a
        max-length reply; an item not labelled yet is judged under the label with the longest
        rubric (so the estimate is an upper bound)."""
        cfg = ctx.cfg
        j = cfg.judge
        assert j is not None
        if cfg.respond is None:
            return []
        labels = ctx.store.item_labels(ctx.label_rater()) if cfg.classify else {}
        longest = max(
            ctx.taxonomy.names, key=lambda n: sum(len(t) for t in ctx.rubric.for_label(n).values())
        )
        answers = planned_answers(ctx, item_ids)
        full = {iid: labels.get(iid, longest) for iid in item_ids}
        return make_specs(ctx, answers, full, j.judges, j.runs)

    def run(self, ctx: StudyContext, item_ids: Sequence[str]) -> StageOutcome:
        cfg = ctx.cfg
        j = cfg.judge
        assert j is not None
        result = run_judge(
            ctx,
            item_ids,
            j.judges,
            j.runs,
            label_rater=ctx.label_rater(),
            respondents=[r.name for r in cfg.respond.respondents] if cfg.respond else None,
            response_runs=cfg.respond.runs if cfg.respond else None,
            self_judges=self_judges(cfg),
        )
        return StageOutcome(result.summary, result.lines())
