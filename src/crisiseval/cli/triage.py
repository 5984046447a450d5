"""``crisiseval triage``: train a fast local crisis classifier on labels in a run store, label text
with it, and show what a model file holds (:mod:`crisiseval.triage`)."""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crisiseval.cli._common import RunDir, RunDirOpt, err, log, out, print_json
from crisiseval.errors import InputError

if TYPE_CHECKING:
    from crisiseval.store import Store
    from crisiseval.triage import TriageModel

triage_app = typer.Typer(
    help="A fast local crisis classifier: train it on labels in a run store, label text with it.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
NameOpt = Annotated[
    str,
    typer.Option(
        "--name", help="The classifier's name as a rater in the store (agreement, report)."
    ),
]


class InputFormat(StrEnum):
    auto = "auto"
    lines = "lines"
    jsonl = "jsonl"
    json = "json"


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pct(x: Any) -> str:
    return "n/a" if x is None or x != x else f"{100 * float(x):.1f}%"


def _f(x: Any) -> str:
    return "n/a" if x is None or x != x else f"{float(x):.3f}"


@triage_app.command("train")
def train_cmd(
    labels_from: Annotated[
        str,
        typer.Option(
            "--labels-from",
            help="The rater whose labels are learned, e.g. majority:gpt-4o-mini.",
        ),
    ],
    run_dir: RunDirOpt = Path("."),
    sample: Annotated[
        str | None,
        typer.Option("--sample", help="Train on this sample's items (default: every item)."),
    ] = None,
    evaluate_on: Annotated[
        list[str] | None,
        typer.Option(
            "--evaluate-on",
            help="Samples to evaluate on, left out of training by id and by text (repeatable; "
            "default: every item a human labelled).",
        ),
    ] = None,
    name: NameOpt = "triage",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The model file (default: RUN_DIR/triage/NAME.skops)."),
    ] = None,
    cs: Annotated[
        list[float] | None,
        typer.Option(
            "--c",
            help="Regularisation strengths cross-validation chooses from (repeatable; default "
            "0.03, 0.1, 0.3 for the linear SVM recipe).",
        ),
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="CV folds.")] = 5,
    target_fpr: Annotated[
        float,
        typer.Option(
            "--target-fpr",
            min=0.0,
            max=1.0,
            help="The default operating point: the crisis threshold whose out-of-fold "
            "false-positive rate on the training labels stays within this.",
        ),
    ] = 0.10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the CV folds.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train a classifier on LABELS_FROM's labels, save it, and label the evaluation items.

    The evaluation items (default: every item a human labelled, e.g. the study's 206 validation
    items) are left out of training by item id and by text; the classifier's labels of them are
    written to the store, so `crisiseval agreement` and the report compare it with the experts.
    """
    from crisiseval import triage

    with RunDir(run_dir).writer() as store:
        selection = triage.select_training(
            store, labels_from, sample=sample, evaluate_on=evaluate_on
        )
        if not as_json:
            _print_selection(selection)
        recipe = triage.Recipe(folds=folds, seed=seed)
        result = triage.train(
            selection.data,
            recipe,
            cs=tuple(cs) if cs else triage.DEFAULT_CS,
            target_fpr=target_fpr,
            log=(lambda _line: None) if as_json else log,
        )
        model = result.model
        speed = triage.measure_throughput(model, selection.data.texts)
        result.metrics["throughput"] = speed
        result.metrics["inputs_per_s"] = speed["cpu"]
        model.meta.update(
            {
                "name": name,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "training": selection.summary(),
                "metrics": result.metrics,
            }
        )
        path = out_path if out_path is not None else run_dir / "triage" / f"{name}.skops"
        digest = triage.save_model(model, path)
        ids, prediction = triage.predict_items(store, model, selection.evaluation_items)
        if ids:
            triage.write_labels(
                store,
                model,
                name,
                ids,
                prediction,
                origin=f"triage:{name}",
                inputs_per_s=speed["cpu"],
                replace=True,
            )
        evaluation = _versus_humans(store, name, ids)
    report = {
        "model": str(path),
        "digest": digest,
        "name": name,
        "training": selection.summary(),
        "metrics": result.metrics,
        "evaluation": evaluation,
    }
    if as_json:
        print_json(_clean(report))
        return
    _print_training(report)


def _print_selection(selection: Any) -> None:
    d = selection.data
    log(
        f"training on {len(d.item_ids)} items labelled by {selection.labels_from}"
        + (f" in sample {selection.sample}" if selection.sample else "")
    )
    left = ", ".join(f"{k}: {v}" for k, v in selection.left_out.items() if v)
    log(
        f"left out: {left or 'nothing'}; {len(selection.evaluation_items)} evaluation items are "
        "never trained on (by id and by text)"
    )


def _versus_humans(store: Store, name: str, ids: list[str]) -> dict[str, Any] | None:
    """Mean Cohen's kappa of the new labels against every human on the evaluation items."""
    from crisiseval.analysis.agreement import kappa_vs_reference
    from crisiseval.analysis.common import AnalysisError

    labels = store.labels_frame()
    humans = sorted(set(labels.loc[labels["rater_kind"] == "human", "rater"]))
    if not humans or not ids:
        return None
    wanted = set(ids)
    items = sorted(
        set.intersection(
            *(set(labels.loc[labels["rater"] == h, "item_id"]) & wanted for h in humans)
        )
    )
    if not items:
        return None
    try:
        ref = kappa_vs_reference(labels, name, humans, items=items)
    except AnalysisError as exc:
        return {"error": str(exc)}
    return {
        "items": len(items),
        "humans": humans,
        "mean_kappa": ref.mean_kappa,
        "per_human": dict(zip(ref.pairs["rater_b"], ref.pairs["kappa"], strict=True)),
    }


def _print_training(report: dict[str, Any]) -> None:
    m = report["metrics"]
    cv = m["cross_validation"]
    op = m["operating_point"]
    t = Table(title=f"triage classifier {report['name']}", title_justify="left")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("training items", str(m["n_items"]))
    t.add_row("CV folds", str(m["folds"]))
    t.add_row("CV kappa vs training labels", _f(cv["kappa"]))
    t.add_row("CV accuracy", _pct(cv["accuracy"]))
    t.add_row("CV macro F1", _f(cv["macro_f1"]))
    t.add_row(
        "CV log loss (uncalibrated -> calibrated)",
        f"{_f(cv['log_loss_uncalibrated'])} -> {_f(cv['log_loss_calibrated'])}",
    )
    t.add_row(
        f"crisis threshold (CV FPR <= {op['target_fpr']:g})",
        f"{_f(op['threshold'])} (FPR {_pct(op['fpr'])}, recall {_pct(op['recall'])})",
    )
    tp = m["throughput"]
    t.add_row(
        "inputs/s, one core (per CPU second; elapsed)",
        f"{tp['cpu']:,.0f}; {tp['wall']:,.0f}",
    )
    ev = report["evaluation"]
    if ev and "mean_kappa" in ev:
        t.add_row(
            f"mean kappa vs {len(ev['humans'])} humans ({ev['items']} held-out items)",
            _f(ev["mean_kappa"]),
        )
    out.print(t)
    if ev and "error" in ev:
        log(f"note: kappa against the humans not computed: {ev['error']}")
    log(f"model: {report['model']} (sha256 of content {report['digest'][:16]}...)")


# ---------------------------------------------------------------------------- predict
def _read_inputs(source: str, fmt: InputFormat) -> Iterator[tuple[str | None, str]]:
    """(id, text) of every input in ``source`` (a file, or ``-`` for stdin)."""
    from crisiseval.textio import read_text

    if source == "-":
        text = sys.stdin.read()
        where = "<stdin>"
        suffix = ""
    else:
        path = Path(source)
        text = read_text(path)
        where = str(path)
        suffix = path.suffix.lower()
    if fmt == InputFormat.auto:
        fmt = {".jsonl": InputFormat.jsonl, ".json": InputFormat.json}.get(
            suffix, InputFormat.lines
        )
    if fmt == InputFormat.lines:
        for line in text.splitlines():
            if line.strip():
                yield None, line
        return
    if fmt == InputFormat.json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise InputError(f"{where}: expected a JSON list of inputs")
        for i, rec in enumerate(data):
            yield _one_input(rec, f"{where}: record {i}")
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: line {n}: invalid JSON ({exc.msg})") from None
        yield _one_input(rec, f"{where}: line {n}")


def _one_input(rec: Any, where: str) -> tuple[str | None, str]:
    from crisiseval.triage import text_of

    if isinstance(rec, str):
        return None, rec
    if not isinstance(rec, dict):
        raise InputError(f"{where}: expected a string or an object with text or inputs")
    rid = rec.get("id")
    for key in ("text", "inputs", "turns"):
        value = rec.get(key)
        if isinstance(value, str):
            return (None if rid is None else str(rid)), value
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return (None if rid is None else str(rid)), text_of(value)
    raise InputError(f"{where}: no text: give 'text' (a string) or 'inputs' (a list of turns)")


@triage_app.command("predict")
def predict_cmd(
    model_path: Annotated[Path, typer.Argument(help="A model file from `triage train`.")],
    source: Annotated[
        str | None,
        typer.Argument(
            help="Inputs: a file (one text a line; .jsonl/.json: objects with text or inputs), "
            "or - for stdin. Leave out with --run-dir and --sample."
        ),
    ] = None,
    fmt: Annotated[
        InputFormat, typer.Option("--format", help="How to read the inputs (auto: by suffix).")
    ] = InputFormat.auto,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Crisis threshold of the binary 'crisis' flag (default: the model's).",
        ),
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", "-d", help="Label a sample of this run store instead."),
    ] = None,
    sample: Annotated[
        str | None, typer.Option("--sample", help="With --run-dir: the sample to label.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="With --run-dir: the rater name (default: the model's)."),
    ] = None,
) -> None:
    """Label text: one JSON line per input (label, crisis score, crisis flag at the threshold,
    every label's probability) on stdout, a summary with inputs/s on stderr. With --run-dir and
    --sample, label that sample's items and write the labels to the store instead."""
    from crisiseval import triage

    model = triage.load_model(model_path)
    if threshold is not None:
        model.threshold = threshold
    if run_dir is not None:
        if source is not None or sample is None:
            raise InputError("give either INPUT, or --run-dir with --sample")
        _predict_sample(model, run_dir, sample, name or str(model.meta.get("name", "triage")))
        return
    if source is None:
        raise InputError("give INPUT (a file, or - for stdin), or --run-dir with --sample")
    inputs = list(_read_inputs(source, fmt))
    ids = [i for i, _ in inputs]
    texts = [t for _, t in inputs]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    prediction = triage.predict_texts(model, texts)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    write = sys.stdout.write
    for i in range(len(texts)):
        rec: dict[str, Any] = {"index": i}
        if ids[i] is not None:
            rec["id"] = ids[i]
        rec.update(prediction.record(i, model.threshold))
        write(json.dumps(rec, ensure_ascii=False) + "\n")
    flagged = int((prediction.crisis >= model.threshold).sum()) if texts else 0
    counts = Counter(prediction.labels)
    err.print(
        f"{len(texts)} inputs in {seconds:.3f} s ({len(texts) / max(seconds, 1e-9):,.0f} inputs/s; "
        f"{len(texts) / max(cpu, 1e-9):,.0f} per CPU second); {flagged} flagged as a crisis at "
        f"threshold {model.threshold:.3f}; labels: "
        + ", ".join(f"{k} {v}" for k, v in counts.most_common()),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _predict_sample(model: TriageModel, run_dir: Path, sample: str, name: str) -> None:
    from crisiseval import triage

    with RunDir(run_dir).writer() as store:
        if sample not in store.sample_names():
            raise InputError(
                f"--sample: no sample {sample!r} in the store (samples: "
                f"{', '.join(store.sample_names()) or 'none'})"
            )
        items = store.sample_items(sample)
        cpu0 = time.process_time()
        ids, prediction = triage.predict_items(store, model, items)
        cpu = time.process_time() - cpu0
        speed = len(ids) / cpu if cpu > 0 else float("nan")
        triage.write_labels(
            store,
            model,
            name,
            ids,
            prediction,
            origin=f"triage:{name}",
            inputs_per_s=speed,
            replace=False,
        )
    log(f"{len(ids)} items of sample {sample} labelled as rater {name}")


# ---------------------------------------------------------------------------- evaluate
@triage_app.command("evaluate")
def evaluate_cmd(run_dir: RunDirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """The classifier comparison: every classifier in the store (LLM runs and majorities, guards,
    moderation, trained) against the human experts, as in the report."""
    from crisiseval.cli.analysis import print_section
    from crisiseval.sections.classifiers import classifier_facts, classifiers_section

    with RunDir(run_dir).reader() as store:
        labels = store.labels_frame()
        section = classifiers_section(labels, facts=classifier_facts(store, labels))
    if as_json:
        table = section.tables[0]
        print_json(
            _clean(
                {
                    "summary": section.summary,
                    "classifiers": table.data.to_dict(orient="records"),
                    "notes": section.notes,
                }
            )
        )
        return
    print_section(section)


# ---------------------------------------------------------------------------- show
@triage_app.command("show")
def show_cmd(
    model_path: Annotated[Path, typer.Argument(help="A model file from `triage train`.")],
    as_json: JsonOpt = False,
) -> None:
    """What a model file holds: recipe, training data and its digest, metrics, threshold."""
    from crisiseval import triage

    model = triage.load_model(model_path)
    meta = dict(model.meta)
    if as_json:
        print_json(_clean(meta))
        return
    training = meta.get("training") or {}
    metrics = meta.get("metrics") or {}
    cv = metrics.get("cross_validation") or {}
    t = Table(title=f"{model_path}", title_justify="left")
    t.add_column("what")
    t.add_column("value", overflow="fold")
    t.add_row("name", str(meta.get("name")))
    t.add_row("created", str(meta.get("created")))
    t.add_row("content sha256", str(meta.get("digest")))
    t.add_row("recipe", json.dumps(meta.get("recipe")))
    t.add_row("labels", ", ".join(model.labels))
    t.add_row("trained on", f"{training.get('n_items')} items by {training.get('labels_from')}")
    t.add_row("training data sha256", str(training.get("digest")))
    t.add_row("left out", json.dumps(training.get("left_out")))
    t.add_row("CV kappa", _f(cv.get("kappa")))
    t.add_row("crisis threshold", _f(model.threshold))
    t.add_row("inputs/s when trained", f"{float(metrics.get('inputs_per_s', 'nan')):,.0f}")
    out.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(triage_app, name="triage")
