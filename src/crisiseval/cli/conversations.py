"""``judge-conversations``: judge conversations from a product's logs (JSONL, OpenAI chat format)
with the conversation judge of an experiment file; the report's Conversations section shows
them like simulated ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crisiseval.cli._common import RunDir, RunDirOpt, log, out, progress_setting
from crisiseval.conversations.logs import LogConversation
from crisiseval.errors import ConfigError
from crisiseval.stages.base import StudyContext
from crisiseval.store import store_path


def judge_conversations(
    log_file: Annotated[
        Path, typer.Argument(help="JSONL: one conversation per line, OpenAI chat 'messages'.")
    ],
    study: Annotated[
        Path,
        typer.Option(
            "--study",
            "-s",
            help="Experiment file with the judge models (converse.judges, else judge.judges) "
            "and, optionally, a classify: section for lines without a label.",
        ),
    ],
    run_dir: RunDirOpt = Path("."),
    label: Annotated[
        str | None,
        typer.Option("--label", help="The category of lines that give no label (any spelling)."),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip lines that are not valid (each is reported)."),
    ] = False,
) -> None:
    """Judge a product's conversations: whole-conversation 1-5 score with the category's rubric
    and per-turn flags, stored as conversation responses of the run (``report`` shows them).

    A line's category is its ``label``, else ``--label``, else the majority label of the
    experiment's classifier on the user's turns (a tie is not judged)."""
    from crisiseval.config import load_study
    from crisiseval.conversations.logs import read_log
    from crisiseval.taxonomy import normalize_label

    cfg = load_study(study)
    judges = cfg.converse.judges if cfg.converse and cfg.converse.judges else None
    judges = judges or (cfg.judge.judges if cfg.judge else None)
    if not judges:
        raise ConfigError(f"{study}: no judge (give converse.judges or a judge: section)")
    runs = (cfg.converse.judge_runs if cfg.converse else None) or (
        cfg.judge.runs if cfg.judge else 3
    )
    default = normalize_label(label, where="--label") if label is not None else None
    conversations, errors = read_log(log_file, skip_bad=skip_bad)
    for e in errors:
        log(f"skipped: {e}")
    unlabelled = [c for c in conversations if c.label is None and default is None]
    if unlabelled and cfg.classify is None:
        raise ConfigError(
            f"{log_file}:{unlabelled[0].line}: no label (give 'label' in the line, --label, or a "
            f"classify: section in {study})"
        )
    rd = RunDir(run_dir)
    new_store = not store_path(run_dir).exists()
    with rd.locked():
        ctx = StudyContext.open(cfg, run_dir, progress=progress_setting())
        try:
            models = list(judges) + (
                list(cfg.classify.models) if unlabelled and cfg.classify else []
            )
            ctx.engine.preflight(models)
            _judge_log(ctx, log_file, conversations, default, list(judges), runs, errors)
        except BaseException:
            if new_store and ctx.store.is_empty():
                ctx.store.discard()
            else:
                ctx.store.close()
            raise
        ctx.store.close()
    out.print(f"results: {ctx.store.path}", markup=False)


def _judge_log(
    ctx: StudyContext,
    log_file: Path,
    conversations: list[LogConversation],
    default: str | None,
    judges: list[str],
    runs: int,
    errors: list[str],
) -> None:
    from crisiseval.conversations.judging import judge_conversations as judge
    from crisiseval.conversations.logs import store_log

    cfg = ctx.cfg
    rids = store_log(ctx.store, log_file, conversations)
    # A line's label (or --label) goes with its conversation, not with its turns: two lines
    # with the same turns and different respondents keep their own labels.
    labels: dict[str, str | None] = {
        rid: c.label or default for rid, c in zip(rids, conversations, strict=True)
    }
    unlabelled = list(
        dict.fromkeys(
            c.item_id for rid, c in zip(rids, conversations, strict=True) if labels[rid] is None
        )
    )
    if unlabelled and cfg.classify is not None:
        from crisiseval.stages.classify import run_classify

        res = run_classify(ctx, unlabelled, cfg.classify.models, cfg.classify.runs)
        for line in res.lines():
            log(line)
        majority = ctx.store.item_labels(ctx.label_rater())
        for rid, c in zip(rids, conversations, strict=True):
            if labels[rid] is None:
                labels[rid] = majority.get(c.item_id)
    todo = [
        (rid, c.item_id, str(labels[rid]))
        for rid, c in zip(rids, conversations, strict=True)
        if labels[rid] is not None
    ]
    result = judge(
        ctx.engine,
        ctx.store,
        ctx.taxonomy,
        ctx.rubric,
        todo,
        judges,
        runs,
        origin=f"judge-log:{log_file.name}",
    )
    for line in result.lines("judge-conversations"):
        log(line)
    if len(todo) < len(conversations):
        log(
            f"  {len(conversations) - len(todo)} conversations without a label (the classifier "
            "runs tied or failed) not judged"
        )
    if errors:
        log(f"  {len(errors)} bad lines skipped")


def register(app: typer.Typer) -> None:
    app.command(name="judge-conversations")(judge_conversations)
