"""Commands that read the store (``status``) or derive samples and files from it
(``stratify``, ``lowest-sample``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crisiseval.cli._common import RunDir, RunDirOpt, atomic_write, log, out
from crisiseval.engine import RETRYABLE
from crisiseval.errors import InputError


def status(run_dir: RunDirOpt = Path(".")) -> None:
    """What the store holds: items, samples, cells by role and status, tokens and cost."""
    with RunDir(run_dir).reader() as store:
        counts = store.counts()
        out.print(
            ", ".join(f"{k}: {v}" for k, v in counts.items())
            + f" (schema v{store.schema_version()})",
            markup=False,
        )
        t = Table(title="cells")
        for col in ("role", "model", "status", "n", "tokens in", "tokens out", "cost $"):
            t.add_column(col)
        for role, model, st, n, tin, tout, cost in store.cells.totals():
            t.add_row(role, model, st, str(n), str(tin), str(tout), f"{cost:.4f}")
        out.print(t)
        for role, kind, n, message in store.cells.failures():
            hint = (
                "re-run the stage to retry"
                if kind in RETRYABLE
                else "a re-run fails again until the cause is fixed"
            )
            out.print(f"failed: {role}: {kind} x{n} ({hint}); e.g. {message[:160]}", markup=False)
        for batch in store.cells.batches(open_only=True):
            out.print(
                f"batch {batch.batch_id} ({batch.model}): {batch.state}, {batch.n_cells} cells",
                markup=False,
            )


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
    run_dir: RunDirOpt = Path("."),
) -> None:
    """Save a per-label stratified sample, drawn (seeded) from items that have labels."""
    from crisiseval.corpus import save_stratified_sample

    with RunDir(run_dir).writer() as store:
        labels = store.item_labels(labels_from)
        if not labels:
            raise InputError(f"{store.path}: no labels from rater {labels_from!r}")
        if from_sample is not None:
            pool = set(store.sample_items(from_sample))
            if not pool:
                raise InputError(f"{store.path}: no sample named {from_sample!r}")
            labels = {k: v for k, v in labels.items() if k in pool}
        ids = save_stratified_sample(
            store, name, labels, n_per_label, seed, label_source=labels_from
        )
    log(f"sample {name!r}: {len(ids)} items ({n_per_label} per label at most, seed {seed})")


def lowest_sample(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="JSON file to write.")],
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            "-j",
            help="Model judge whose scores rank (default: as `scores` chooses it).",
        ),
    ] = None,
    sample_name: Annotated[
        str | None, typer.Option("--sample", help="Only the items of this sample.")
    ] = None,
    run_dir: RunDirOpt = Path("."),
) -> None:
    """Per input, the lowest-scored answer over respondents and runs: the set for human raters.

    Writes a JSON list in the study's layout (inputs, label, answer, respondent, evaluation) that
    experts can score; their files come back with `import-study`-style fields.
    """
    from crisiseval.analysis.judge_validity import lowest_score_sample
    from crisiseval.analysis.judges import choose_judge

    with RunDir(run_dir).reader() as store:
        items = store.sample_items(sample_name) if sample_name else None
        judgments = store.judgments_frame()
        choice = choose_judge(
            judgments,
            store.responses_frame(),
            configured=store.configured_judges(),
            requested=judge,
        )
        log(f"judge: {choice}")
        picked = lowest_score_sample(judgments, choice.judge, items=items)
        texts = store.response_texts()
        turns = store.item_turns(list(picked["item_id"]))
    records = [
        {
            "inputs": turns[str(r["item_id"])],
            "label": r["label"],
            "answer": texts.get(str(r["response_id"])),
            "respondent": r["respondent"],
            "response_run": int(r["response_run"]),
            "evaluation": float(r["score"]),
            "judge": choice.judge,
            "item_id": r["item_id"],
            "response_id": r["response_id"],
        }
        for r in picked.to_dict("records")
    ]
    atomic_write(out_file, json.dumps(records, ensure_ascii=False, indent=1))
    log(f"{out_file}: {len(records)} responses (the lowest-scored per input by {choice.judge})")


def safeguards(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with the prompts).")] = False,
    show: Annotated[
        str | None, typer.Option("--show", help="Print one safeguard's full prompt.")
    ] = None,
) -> None:
    """The safeguard system prompts a respondent can use (system_prompt: safeguard:NAME)."""
    from crisiseval.safeguards import load_safeguards

    library = load_safeguards()
    if show is not None:
        if show not in library:
            raise InputError(f"unknown safeguard {show!r} (known: {', '.join(sorted(library))})")
        out.print(library[show].prompt or "(no system prompt)", markup=False, highlight=False)
        return
    if as_json:
        out.print_json(json.dumps({k: v.model_dump() for k, v in library.items()}))
        return
    t = Table(title="Safeguard prompts (system_prompt: safeguard:NAME)")
    for col in ("name", "title", "what it does"):
        t.add_column(col)
    for name, sg in library.items():
        t.add_row(name, sg.title, sg.description)
    out.print(t)


def mock_server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    latency: Annotated[float, typer.Option(help="Seconds added to each reply.")] = 0.0,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """Serve a scripted OpenAI-compatible mock endpoint (dry runs of a study without keys)."""
    from crisiseval.testing.mockserver import main as serve

    serve(["--port", str(port), "--latency", str(latency), "--host", host])


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(stratify)
    app.command(name="lowest-sample")(lowest_sample)
    app.command(name="mock-server")(mock_server)
    app.command()(safeguards)
