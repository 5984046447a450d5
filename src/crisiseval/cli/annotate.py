"""The human-review commands: ``annotate`` (the blinded annotation web app), ``annotate-export``
(CSV, JSONL, Label Studio JSON) and ``annotate-import`` (Label Studio JSON).

``annotate`` holds the run directory's lock for as long as it serves (it is the one writer);
``annotate-export`` only reads; ``annotate-import`` checks the whole file before writing anything
and writes it in one transaction. FastAPI, uvicorn and the statistics libraries are imported
inside the commands.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crisiseval.cli._common import RunDir, RunDirOpt, atomic_write, err, log
from crisiseval.errors import InputError

if TYPE_CHECKING:
    from crisiseval.annotate import Prepared

__all__ = ["annotate", "annotate_export", "annotate_import", "register"]


class TaskName(StrEnum):
    labels = "labels"
    scores = "scores"
    conversations = "conversations"


class StrategyName(StrEnum):
    lowest = "lowest"
    disagreement = "disagreement"
    stratified = "stratified"
    random = "random"


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    labelstudio = "labelstudio"


TaskOpt = Annotated[
    TaskName,
    typer.Option(
        "--task",
        help="labels: a crisis label per input; scores: a 1-5 score per answer; "
        "conversations: a 1-5 score per conversation.",
    ),
]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option("--taxonomy", help="Taxonomy YAML (default: crisiseval's seven labels)."),
]
RubricOpt = Annotated[
    Path | None,
    typer.Option("--rubric", help="Rubric YAML, or the study's protocol.csv (default: ours)."),
]

_SUFFIX = {
    ".csv": ExportFormat.csv,
    ".jsonl": ExportFormat.jsonl,
    ".json": ExportFormat.labelstudio,
}


def _names(raw: str | None, option: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if not names:
        raise InputError(f"{option}: give one name or more, separated by commas")
    return names


def annotate(
    task: TaskOpt,
    run_dir: RunDirOpt = Path("."),
    annotators: Annotated[
        str | None,
        typer.Option(
            "--annotators",
            help="Annotator names, comma-separated (each gets its own secret link). On a "
            "restart: new names get links, names left out lose theirs.",
        ),
    ] = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="Only the inputs of this sample.")
    ] = None,
    strategy: Annotated[
        StrategyName | None,
        typer.Option(
            "--strategy",
            help="Queue: lowest (the lowest-scored answer per input, the study's rule; scores), "
            "disagreement (classifier runs or judges disagree most), stratified (by category), "
            "random. Default: random.",
        ),
    ] = None,
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="At most N targets (default: all).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the draw and of each annotator's order.")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            "-j",
            help="Judge that ranks answers for --strategy lowest (default: as "
            "`scores` chooses it).",
        ),
    ] = None,
    labels_from: Annotated[
        str | None,
        typer.Option(
            "--labels-from",
            help="Rater whose labels are the categories (e.g. majority:gpt-4o-mini; default: the "
            "store's only classifier majority).",
        ),
    ] = None,
    taxonomy_path: TaxonomyOpt = None,
    rubric_path: RubricOpt = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but loopback exposes the app to the network "
            "(a warning is printed).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")
    ] = 8765,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Base URL the annotators use (e.g. https://review.example.org behind a TLS "
            "proxy): the links are printed with it and only its host name is served.",
        ),
    ] = None,
    new_tokens: Annotated[
        str | None,
        typer.Option(
            "--new-tokens",
            help="Issue new links (old ones stop working): annotator names, admin, or all.",
        ),
    ] = None,
    new_queue: Annotated[
        bool,
        typer.Option("--new-queue", help="Build the queue again (answers given so far are kept)."),
    ] = False,
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Set up the queue and print the links; do not serve."),
    ] = False,
) -> None:
    """Serve the blinded annotation app: one secret link per annotator and one for the admin
    page. Every answer is saved to the run store at once, as a human label or score."""
    from crisiseval.annotate import (
        ProjectRequest,
        create_app,
        listen,
        prepare_project,
        run_server,
    )
    from crisiseval.annotate._desk import Desk
    from crisiseval.annotate._server import is_loopback, is_wildcard, url_host
    from crisiseval.store import Store
    from crisiseval.taxonomy import load_rubric, load_taxonomy

    taxonomy = load_taxonomy(taxonomy_path)
    rubric = load_rubric(rubric_path)
    base = None
    local = ("127.0.0.1", "localhost", "::1")
    allowed: tuple[str, ...] | None = local
    if public_url is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--public-url {public_url!r}: expected http(s)://host[:port]")
        base = public_url.rstrip("/")
        allowed = (*local, parts.hostname)
    elif is_wildcard(host):
        allowed = None
    elif not is_loopback(host):
        allowed = (*local, host.strip("[]"))
    req = ProjectRequest(
        task=task.value,
        annotators=_names(annotators, "--annotators"),
        strategy=strategy.value if strategy is not None else None,
        sample=sample,
        n=n,
        seed=seed,
        judge=judge,
        labels_from=labels_from,
        new_queue=new_queue,
        new_tokens=_names(new_tokens, "--new-tokens") or (),
    )
    rd = RunDir(run_dir)
    with rd.locked():
        with Store.open(run_dir, create=False) as store:
            prepared = prepare_project(store, req)
            Desk(store, req.task, taxonomy, rubric)  # every target's text is there to show
        sock = None if no_serve else listen(host, port)
        if base is None:
            bound = sock.getsockname()[1] if sock is not None else port
            base = f"http://{url_host(host)}:{bound}"
        _print_project(prepared, base)
        if sock is None:
            log(
                f"not serving (--no-serve); `crisiseval annotate -d {run_dir} --task {task.value}` "
                "serves these links"
            )
            return
        try:
            if not is_loopback(host):
                err.print(
                    f"warning: listening on {host}: anyone who can reach this machine on port "
                    f"{sock.getsockname()[1]} can reach the app, and plain http is not encrypted "
                    "— put it behind a TLS proxy (--public-url) or keep the default 127.0.0.1",
                    style="yellow",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            app = create_app(
                run_dir,
                req.task,
                taxonomy=taxonomy,
                rubric=rubric,
                allowed_hosts=allowed,
                secure_cookie=base.startswith("https://"),
            )
            log(f"serving on {base} — Ctrl-C stops (every answer is already saved)")
            run_server(app, sock)
        except KeyboardInterrupt:
            log("stopped: every answer is saved; the same command serves the same links again")
        finally:
            sock.close()


def _print_project(prepared: Prepared, base: str) -> None:
    p = prepared.project
    q = p.queue
    what = (
        "items"
        if p.task == "labels"
        else ("conversations" if p.task == "conversations" else "answers")
    )
    how = f"strategy {q.strategy}, seed {q.seed}"
    if q.sample:
        how += f", sample {q.sample}"
    if q.n:
        how += f", n {q.n}"
    if q.judge:
        how += f", ranked by judge {q.judge}"
        if prepared.judge_reason:
            how += f" ({prepared.judge_reason})"
    if q.labels_from:
        how += f", categories from {q.labels_from}"
    state = "new queue" if prepared.created else "queue kept from the first start"
    log(f"task {p.task}: {len(p.targets)} {what} ({how}; {state})")
    width = max((len(n) for n in prepared.issued), default=0)
    for name, token in prepared.issued.items():
        log(f"  {name.ljust(width)}  {base}/t/{token}")
    if prepared.issued:
        log(
            "each link is secret and opens one queue: send it to that person only (the store "
            "keeps only its hash, so it is shown this once)"
        )
    if prepared.kept:
        log(
            f"links issued earlier still work: {', '.join(prepared.kept)} (--new-tokens NAME "
            "issues a new one)"
        )
    if prepared.revoked:
        log(f"links revoked: {', '.join(prepared.revoked)} (their answers are kept)")


def annotate_export(
    task: TaskOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    run_dir: RunDirOpt = Path("."),
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="csv, jsonl or labelstudio (default: from the file's suffix: .csv, .jsonl, "
            ".json).",
        ),
    ] = None,
    history: Annotated[
        bool,
        typer.Option("--history", help="Every annotation, not only each annotator's current one."),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--labelstudio-config",
            help="Also write the Label Studio labelling interface (XML) for these tasks here.",
        ),
    ] = None,
    taxonomy_path: TaxonomyOpt = None,
    rubric_path: RubricOpt = None,
) -> None:
    """Export annotations: CSV or JSONL rows (annotator, target, value, note, flag, skip, time),
    or Label Studio tasks with their annotations."""
    import json

    from crisiseval.annotate import (
        annotation_rows,
        label_studio_config,
        label_studio_tasks,
        load_project,
        to_csv,
        to_jsonl,
    )
    from crisiseval.taxonomy import load_rubric, load_taxonomy

    chosen = fmt or _SUFFIX.get(out.suffix.lower())
    if chosen is None:
        raise InputError(f"{out}: say --format csv, jsonl or labelstudio (unknown suffix)")
    if history and chosen == ExportFormat.labelstudio:
        raise InputError("--history: Label Studio tasks hold each annotator's current answer")
    taxonomy = load_taxonomy(taxonomy_path)
    rubric = load_rubric(rubric_path)
    with RunDir(run_dir).reader() as store:
        project = load_project(store, task.value)
        if chosen == ExportFormat.labelstudio:
            tasks = label_studio_tasks(store, task.value, project)
            text = json.dumps(tasks, ensure_ascii=False, indent=1)
            count = f"{len(tasks)} tasks, {sum(len(t['annotations']) for t in tasks)} annotations"
        else:
            rows = annotation_rows(store, task.value, project, history=history)
            text = to_csv(rows) if chosen == ExportFormat.csv else to_jsonl(rows)
            count = f"{len(rows)} annotations"
    atomic_write(out, text)
    if config is not None:
        atomic_write(config, label_studio_config(task.value, taxonomy, rubric))
        log(f"{config}: the Label Studio labelling interface")
    log(f"{out}: {count} ({chosen.value})")


def annotate_import(
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON export.")],
    task: TaskOpt,
    run_dir: RunDirOpt = Path("."),
    taxonomy_path: TaxonomyOpt = None,
) -> None:
    """Import annotations made in Label Studio (JSON export) as human labels or scores."""
    from crisiseval.annotate import apply_import, load_project, read_label_studio
    from crisiseval.store import Store
    from crisiseval.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(taxonomy_path)
    with RunDir(run_dir).locked(), Store.open(run_dir, create=False) as store:
        answers = read_label_studio(
            file, store, task.value, taxonomy, load_project(store, task.value)
        )
        written, unchanged = apply_import(store, task.value, answers)
    who = sorted({a.annotator for a in answers})
    log(
        f"{file}: {written} answers imported, {unchanged} unchanged"
        + (f" (annotators: {', '.join(who)})" if who else "")
    )


def register(app: typer.Typer) -> None:
    app.command(name="annotate")(annotate)
    app.command(name="annotate-export")(annotate_export)
    app.command(name="annotate-import")(annotate_import)
