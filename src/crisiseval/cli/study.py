"""The study commands: ``run``, ``sample``, one command per registered stage, ``estimate`` and
``demo``. Each holds the run directory's writer lock while it runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crisiseval.cli._common import RunDir, RunDirOpt, log, out, progress_setting
from crisiseval.config import StudyConfig, load_study
from crisiseval.engine import RETRYABLE, Estimate, RunSummary
from crisiseval.stages import registered, stage_names
from crisiseval.store import store_path

StudyFile = Annotated[Path, typer.Argument(help="Experiment YAML file.")]
RebuildOpt = Annotated[
    bool,
    typer.Option(
        "--rebuild-sample",
        help="The sample's inputs changed: keep the old sample (and its records) under "
        "NAME@<time> and build it again.",
    ),
]

NOT_MEANINGFUL = (
    "NOTE: the demo runs SmolLM2-135M-Instruct, a tiny plumbing model. Its labels, answers and "
    "scores are NOT meaningful and say nothing about any model's crisis safety; they only show "
    "that the pipeline works end to end."
)

EXIT_FAILED_CELLS = 3


def run_stages(
    cfg: StudyConfig,
    run_dir: Path,
    stages: Sequence[str],
    *,
    dry_run: bool = False,
    per_label: int | None = None,
    rebuild_sample: bool = False,
) -> list[RunSummary]:
    """Run ``stages`` of ``cfg`` in ``run_dir`` under its lock; print the dry-run estimate."""
    from crisiseval.pipeline import StudyContext, run_study

    rd = RunDir(run_dir)
    new_store = not store_path(run_dir).exists()
    with rd.locked():
        ctx = StudyContext.open(cfg, run_dir, progress=progress_setting())
        try:
            result = run_study(
                ctx,
                stages=stages,
                per_label=per_label,
                dry_run=dry_run,
                rebuild_sample=rebuild_sample,
                log=log,
            )
        except BaseException:
            # Bad input found before anything was written (a key, a GGUF file, a URL, the
            # sample file): leave no half-made store behind.
            if new_store and ctx.store.is_empty():
                ctx.store.discard()
            else:
                ctx.store.close()
            raise
        ctx.store.close()
    if result.estimate is not None:
        print_estimate(result.estimate)
        for line in result.lines:  # what the sample can show (statistical power)
            log(line)
    return result.summaries


def print_estimate(est: Estimate) -> None:
    t = Table(title="Dry run: estimated calls and cost (nothing was sent)")
    for col in ("model", "calls", "input tokens (est.)", "output tokens (max)", "cost max $"):
        t.add_column(col, justify="right" if col != "model" else "left")
    for model, d in est.per_model.items():
        t.add_row(
            model,
            f"{int(d['calls'])}",
            f"{int(d['tokens_in'])}",
            f"{int(d['tokens_out_max'])}",
            f"{d.get('cost_usd_max', 0.0):.4f}" if "cost_usd_max" in d else "no price",
        )
    out.print(t)
    total = (
        "unknown (a model has no price)"
        if est.cost_usd_max is None
        else (f"${est.cost_usd_max:.4f}")
    )
    out.print(
        f"total: {est.calls} calls, ~{est.tokens_in} input tokens, "
        f"≤{est.tokens_out_max} output tokens, ≤ {total}. Token counts are estimates "
        "(~4 characters a token); judge calls assume max-length answers."
    )


def exit_on_failures(summaries: Sequence[RunSummary]) -> None:
    """Exit 3 when cells failed, saying how many of each kind and whether a re-run can help."""
    kinds: Counter[str] = Counter()
    for s in summaries:
        kinds.update(s.failures)
    n = sum(kinds.values())
    if not n:
        return
    transient = {k: v for k, v in kinds.items() if k in RETRYABLE}
    permanent = {k: v for k, v in kinds.items() if k not in RETRYABLE}
    parts = [f"{n} cells failed ({', '.join(f'{k}={v}' for k, v in sorted(kinds.items()))})"]
    if transient:
        parts.append(
            f"{sum(transient.values())} of them were transient (timeouts, rate limits, server "
            "or connection errors): running the same command again retries them"
        )
    if permanent:
        parts.append(
            f"{sum(permanent.values())} will fail again until their cause is fixed "
            f"({', '.join(sorted(permanent))}: a key, a request too large, a refused parameter; "
            "see `crisiseval status`)"
        )
    from crisiseval.cli._common import err

    err.print("; ".join(parts), style="yellow", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_FAILED_CELLS)


def run(
    study: StudyFile,
    run_dir: RunDirOpt = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Estimate calls, tokens and cost; send nothing.")
    ] = False,
    rebuild_sample: RebuildOpt = False,
) -> None:
    """Run the whole study: the sample, then every stage (resumable)."""
    cfg = load_study(study)
    summaries = run_stages(
        cfg, run_dir, stage_names(), dry_run=dry_run, rebuild_sample=rebuild_sample
    )
    if not dry_run:
        log(f"results: {run_dir / 'crisiseval.sqlite'}")
        exit_on_failures(summaries)


def sample(
    study: StudyFile, run_dir: RunDirOpt = Path("."), rebuild_sample: RebuildOpt = False
) -> None:
    """Build (or import) the experiment's sample into the store."""
    run_stages(load_study(study), run_dir, ("sample",), rebuild_sample=rebuild_sample)


def stage_command(name: str, help_text: str) -> Callable[..., None]:
    """The command of one registered stage: the sample, then that stage."""

    def command(
        study: StudyFile, run_dir: RunDirOpt = Path("."), rebuild_sample: RebuildOpt = False
    ) -> None:
        summaries = run_stages(
            load_study(study), run_dir, ("sample", name), rebuild_sample=rebuild_sample
        )
        exit_on_failures(summaries)

    command.__doc__ = help_text
    command.__name__ = f"{name}_cmd"
    return command


STAGE_HELP = {
    "classify": "Label the sample with the classifier models (N runs each, majority vote).",
    "respond": "Collect the respondents' answers (R runs each).",
    "judge": "Score the answers with the judge models against the rubric (K runs each).",
    "behaviour": "Name each answer's behaviour (supportive, refusal, informative, harmful, "
    "pseudo-alignment, over-reaction) with the behaviour judges (K runs each, majority).",
}


def estimate(study: StudyFile, run_dir: RunDirOpt = Path(".")) -> None:
    """Dry run: calls, tokens and cost the study would need (same as run --dry-run)."""
    run_stages(load_study(study), run_dir, stage_names(), dry_run=True)


def demo(
    run_dir: RunDirOpt = Path("."),
    per_label: Annotated[
        int | None,
        typer.Option(
            "--per-label",
            min=1,
            max=5,
            help="Inputs per label (default: 1, the 7-input demo; 5 runs all 35).",
        ),
    ] = None,
) -> None:
    """Run the whole pipeline offline on built-in inputs with the embedded model."""
    from crisiseval.pipeline import demo_config

    out.print(NOT_MEANINGFUL, style="bold yellow", markup=False)
    cfg = demo_config()
    from crisiseval.demo import default_per_label

    summaries = run_stages(cfg, run_dir, stage_names(), per_label=per_label or default_per_label())
    _after_demo(run_dir)
    log(f"results: {run_dir / 'crisiseval.sqlite'}")
    out.print(NOT_MEANINGFUL, style="bold yellow", markup=False)
    exit_on_failures(summaries)


def _after_demo(run_dir: Path) -> None:
    """The demo ends like a study: the score table and the report, both flagged as plumbing."""
    from crisiseval.cli.analysis import scores as scores_cmd
    from crisiseval.report import build_report

    scores_cmd(run_dir=run_dir, n_boot=500)
    with RunDir(run_dir).reader() as store:
        paths = build_report(store, run_dir / "report", notice=NOT_MEANINGFUL, n_boot=500)
    log(f"report: {paths.html}")


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(sample)
    for stage in registered():
        app.command(name=stage.name)(
            stage_command(stage.name, STAGE_HELP.get(stage.name, f"Run the {stage.name} stage."))
        )
    app.command()(estimate)
    app.command()(demo)
