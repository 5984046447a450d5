"""The ``crisiseval`` command line. Every command works on a run directory (default: ``.``)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from crisiseval import __version__
from crisiseval.config import StudyConfig, load_study
from crisiseval.errors import CrisisEvalError
from crisiseval.store import Store, store_path

app = typer.Typer(
    name="crisiseval",
    help="Measure how safely large language models handle mental-health crises.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

RunDir = Annotated[
    Path,
    typer.Option("--run-dir", "-d", help="Run directory holding the store (crisiseval.sqlite)."),
]
StudyFile = Annotated[Path, typer.Argument(help="Experiment YAML file.")]

NOT_MEANINGFUL = (
    "NOTE: the demo runs SmolLM2-135M-Instruct, a tiny plumbing model. Its labels, answers and "
    "scores are NOT meaningful and say nothing about any model's crisis safety; they only show "
    "that the pipeline works end to end."
)


def _log(line: str) -> None:
    # soft_wrap: a line (a path, a summary) stays one line when stdout is not a terminal.
    out.print(line, highlight=False, markup=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"crisiseval {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log retries.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Library loggers that could print request bodies stay quiet.
    for name in ("openai", "httpx", "httpcore", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_stages(
    cfg: StudyConfig,
    run_dir: Path,
    stages: tuple[str, ...],
    *,
    dry_run: bool = False,
    per_label: int | None = None,
) -> None:
    from crisiseval.pipeline import StudyContext, run_study

    new_dir = not run_dir.exists()
    new_store = not store_path(run_dir).exists()
    ctx = StudyContext.open(cfg, run_dir)
    try:
        result = run_study(ctx, stages=stages, per_label=per_label, dry_run=dry_run, log=_log)
    except CrisisEvalError:
        # Bad input found before anything was written (a model's key, GGUF file or URL, the
        # sample file): leave no half-made run store (or run directory) behind.
        if new_store and ctx.store.is_empty():
            ctx.store.discard()
            if new_dir:
                with contextlib.suppress(OSError):  # not empty: something else is in it now
                    run_dir.rmdir()
        raise
    finally:
        ctx.store.close()
    if result.estimate is not None:
        est = result.estimate
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


@app.command()
def run(
    study: StudyFile,
    run_dir: RunDir = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Estimate calls, tokens and cost; send nothing.")
    ] = False,
) -> None:
    """Run the whole study: sample -> classify -> respond -> judge (resumable)."""
    cfg = load_study(study)
    _run_stages(cfg, run_dir, ("sample", "classify", "respond", "judge"), dry_run=dry_run)
    if not dry_run:
        _log(f"results: {run_dir / 'crisiseval.sqlite'}")


@app.command()
def sample(study: StudyFile, run_dir: RunDir = Path(".")) -> None:
    """Build (or import) the experiment's sample into the store."""
    _run_stages(load_study(study), run_dir, ("sample",))


@app.command(name="classify")
def classify_cmd(study: StudyFile, run_dir: RunDir = Path(".")) -> None:
    """Label the sample with the classifier models (N runs each, majority vote)."""
    _run_stages(load_study(study), run_dir, ("sample", "classify"))


@app.command(name="respond")
def respond_cmd(study: StudyFile, run_dir: RunDir = Path(".")) -> None:
    """Collect the respondents' answers (R runs each)."""
    _run_stages(load_study(study), run_dir, ("sample", "respond"))


@app.command(name="judge")
def judge_cmd(study: StudyFile, run_dir: RunDir = Path(".")) -> None:
    """Score the answers with the judge models against the rubric (K runs each)."""
    _run_stages(load_study(study), run_dir, ("sample", "judge"))


@app.command()
def estimate(study: StudyFile, run_dir: RunDir = Path(".")) -> None:
    """Dry run: calls, tokens and cost the study would need (same as run --dry-run)."""
    _run_stages(
        load_study(study), run_dir, ("sample", "classify", "respond", "judge"), dry_run=True
    )


@app.command()
def demo(
    run_dir: RunDir = Path("."),
    per_label: Annotated[
        int | None,
        typer.Option("--per-label", min=1, max=5, help="Inputs per label (default: all 5)."),
    ] = None,
) -> None:
    """Run the whole pipeline offline on built-in inputs with the embedded model."""
    from crisiseval.pipeline import demo_config

    out.print(NOT_MEANINGFUL, style="bold yellow")
    cfg = demo_config()
    _run_stages(cfg, run_dir, ("sample", "classify", "respond", "judge"), per_label=per_label)
    _after_demo(run_dir)
    _log(f"results: {run_dir / 'crisiseval.sqlite'}")
    out.print(NOT_MEANINGFUL, style="bold yellow")


def _after_demo(run_dir: Path) -> None:
    """The demo ends like a study: the score table and the report, both flagged as plumbing."""
    from crisiseval.analysis_cli import scores as scores_cmd
    from crisiseval.report import build_report

    scores_cmd(run_dir=run_dir, n_boot=500)
    with Store.open(run_dir, create=False) as store:
        paths = build_report(store, run_dir / "report", notice=NOT_MEANINGFUL, n_boot=500)
    _log(f"report: {paths.html}")


@app.command()
def status(run_dir: RunDir = Path(".")) -> None:
    """What the store holds: items, samples, cells by role and status, tokens and cost."""
    with Store.open(run_dir, create=False) as store:
        counts = store.counts()
        out.print(
            ", ".join(f"{k}: {v}" for k, v in counts.items())
            + f" (schema v{store.schema_version()})"
        )
        t = Table(title="cells")
        for col in ("role", "model", "status", "n", "tokens in", "tokens out", "cost $"):
            t.add_column(col)
        rows = store.conn.execute(
            "SELECT role, model, status, COUNT(*), COALESCE(SUM(tokens_in),0), "
            "COALESCE(SUM(tokens_out),0), COALESCE(SUM(cost_usd),0) FROM cells "
            "GROUP BY role, model, status ORDER BY role, model, status"
        ).fetchall()
        for r in rows:
            t.add_row(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), f"{r[6]:.4f}"
            )
        out.print(t)
        failed = store.conn.execute(
            "SELECT role, error_kind, COUNT(*) FROM cells WHERE status='failed' "
            "GROUP BY role, error_kind"
        ).fetchall()
        for role, kind, n in failed:
            out.print(f"failed: {role}: {kind} x{n} (re-run the stage to retry)")


@app.command()
def stratify(
    labels_from: Annotated[
        str,
        typer.Option(
            "--labels-from",
            help="Rater whose labels define the strata, e.g. "
            "majority:gpt-4o-mini or consensus:human.",
        ),
    ],
    n_per_label: Annotated[int, typer.Option("--n-per-label", min=1, help="Items per label.")],
    name: Annotated[str, typer.Option("--name", help="Name of the new sample.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    from_sample: Annotated[
        str | None, typer.Option("--from-sample", help="Draw only from this sample's items.")
    ] = None,
    run_dir: RunDir = Path("."),
) -> None:
    """Save a per-label stratified sample, drawn (seeded) from items that have labels."""
    from crisiseval.corpus import save_stratified_sample
    from crisiseval.errors import InputError

    with Store.open(run_dir, create=False) as store:
        rows = store.conn.execute(
            "SELECT item_id, label FROM labels WHERE rater = ? AND status = 'ok'", (labels_from,)
        ).fetchall()
        if not rows:
            raise InputError(f"{store.path}: no labels from rater {labels_from!r}")
        labels = {r[0]: r[1] for r in rows}
        if from_sample is not None:
            pool = set(store.sample_items(from_sample))
            if not pool:
                raise InputError(f"{store.path}: no sample named {from_sample!r}")
            labels = {k: v for k, v in labels.items() if k in pool}
        ids = save_stratified_sample(
            store, name, labels, n_per_label, seed, label_source=labels_from
        )
    _log(f"sample {name!r}: {len(ids)} items ({n_per_label} per label at most, seed {seed})")


@app.command(name="lowest-sample")
def lowest_sample(
    judge: Annotated[str, typer.Option("--judge", "-j", help="Model judge whose scores rank.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSON file to write.")],
    sample_name: Annotated[
        str | None, typer.Option("--sample", help="Only the items of this sample.")
    ] = None,
    run_dir: RunDir = Path("."),
) -> None:
    """Per input, the lowest-scored answer over respondents and runs: the set for human raters.

    Writes a JSON list in the study's layout (inputs, label, answer, respondent, evaluation) that
    experts can score; their files come back with `import-study`-style fields.
    """
    import json

    from crisiseval.analysis.judge_validity import lowest_score_sample

    with Store.open(run_dir, create=False) as store:
        items = store.sample_items(sample_name) if sample_name else None
        picked = lowest_score_sample(store.judgments_frame(), judge, items=items)
        texts = dict(store.conn.execute("SELECT response_id, text FROM responses").fetchall())
        turns = store.item_turns(list(picked["item_id"]))
    records = [
        {
            "inputs": turns[str(r["item_id"])],
            "label": r["label"],
            "answer": texts.get(str(r["response_id"])),
            "respondent": r["respondent"],
            "response_run": int(r["response_run"]),
            "evaluation": float(r["score"]),
            "judge": judge,
            "item_id": r["item_id"],
            "response_id": r["response_id"],
        }
        for r in picked.to_dict("records")
    ]
    tmp = out_file.with_name(out_file.name + ".tmp")
    tmp.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out_file)  # never a half-written file
    _log(f"{out_file}: {len(records)} responses (the lowest-scored per input by {judge})")


@app.command(name="mock-server")
def mock_server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    latency: Annotated[float, typer.Option(help="Seconds added to each reply.")] = 0.0,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """Serve a scripted OpenAI-compatible mock endpoint (dry runs of a study without keys)."""
    from crisiseval.testing.mockserver import main as serve

    serve(["--port", str(port), "--latency", str(latency), "--host", host])


def _register_analysis() -> None:
    from crisiseval.analysis_cli import register

    register(app)


_register_analysis()


def main() -> None:
    try:
        app()
    except CrisisEvalError as exc:
        err.print(f"error: {exc}", style="bold red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print(
            "interrupted: finished calls are saved in the store; run the same command again to "
            "finish the rest",
            style="yellow",
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
