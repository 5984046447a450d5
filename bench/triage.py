"""Triage classifier: agreement with the study's experts and speed on one core, against a plain
word + character TF-IDF and logistic regression baseline, in one run.

Both classifiers learn gpt-4o-mini's majority labels of the study's test set, without the 206
validation items (left out by item id and by text), and are evaluated on those 206 items against
each of the four experts (mean Cohen's kappa, the study's headline metric). crisiseval's is
trained as `crisiseval triage train` trains it (choices by cross-validation on the training items
only). The baseline is the plain pipeline: scikit-learn's TfidfVectorizer word 1-2-grams and
char_wb 2-5-grams (sublinear tf) and LogisticRegression, twice: with scikit-learn's defaults, and
with balanced label weights and C chosen from crisiseval's logistic grid by the same 5-fold
cross-validation on the training items as crisiseval's. The row ``crisiseval-v1`` is crisiseval's
earlier recipe (square-root-scaled counts, n-grams in at least 2 texts, logistic regression), for
comparison with the current default (l2-normalised sublinear tf, n-grams in at least 3 texts, a
linear SVM).

Speed: both label the same inputs (the validation texts repeated to --inputs) in the same
process, pinned to one core with one BLAS thread, in alternating rounds after a warm-up; the
script prints inputs per second of elapsed time and of CPU time (the machine may be shared: CPU
time is what one core does for the process), each the best and the median of the rounds, and the
load average.

    python bench/triage.py                                # imports ../shared's study data
    python bench/triage.py --run-dir runs/paper --rounds 7 --inputs 10000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline, make_union
from threadpoolctl import threadpool_limits

from crisiseval import triage
from crisiseval.analysis.classifiers import FPR_TARGETS, crisis_recall_at_fpr, is_crisis_label
from crisiseval.store import Store

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT.parent / "shared" / "data" / "between-help-and-harm"
EXPERTS = ("human:H1", "human:H2", "human:H3", "human:H4")
KAPPA_GOAL, SPEED_GOAL = 0.55, 5000.0


def open_study(run_dir: Path | None, study: Path, tmp: Path) -> Store:
    if run_dir is not None:
        return Store.open(run_dir, create=False)
    from crisiseval.importers import import_study

    store = Store.open(tmp / "run")
    print(f"importing {study} ...", flush=True)
    import_study(store, study)
    return store


def expert_kappas(store: Store, items: Sequence[str], labels: Sequence[str]) -> list[float]:
    out = []
    for expert in EXPERTS:
        theirs = store.item_labels(expert)
        pairs = [(theirs[i], lab) for i, lab in zip(items, labels, strict=True) if i in theirs]
        a, b = zip(*pairs, strict=True)
        out.append(float(cohen_kappa_score(a, b)))
    return out


def plain(**lr: object) -> Any:
    return make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=3000, **lr),  # type: ignore[arg-type]
    )


def crisis_recall(
    store: Store, items: Sequence[str], scores: Sequence[float]
) -> dict[float, tuple[float, float]]:
    """Mean over the experts of (recall, false-positive rate) of the crisis score at FPR 5%, 10%."""
    out: dict[float, tuple[float, float]] = {}
    for target in FPR_TARGETS:
        got = []
        for expert in EXPERTS:
            theirs = store.item_labels(expert)
            keep = [k for k, i in enumerate(items) if i in theirs]
            truth = [is_crisis_label(theirs[items[k]]) for k in keep]
            got.append(crisis_recall_at_fpr([scores[k] for k in keep], truth, target)[:2])
        out[target] = (float(np.mean([g[0] for g in got])), float(np.mean([g[1] for g in got])))
    return out


def baseline(
    texts: Sequence[str], labels: Sequence[str], *, tuned: bool
) -> tuple[Callable[[Sequence[str]], list[str]], str]:
    """The plain pipeline, fitted: scikit-learn's defaults, or (``tuned``) balanced label
    weights and C chosen by 5-fold CV kappa on the training items, as crisiseval chooses."""
    if tuned:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        scores = {}
        for c in triage.LOGISTIC_CS:
            pred = cross_val_predict(
                plain(C=c, class_weight="balanced"), list(texts), list(labels), cv=folds
            )
            scores[c] = float(cohen_kappa_score(list(labels), pred))
        c = max(scores, key=lambda k: scores[k])
        model = plain(C=c, class_weight="balanced")
        how = f"balanced, C={c:g} by CV (CV kappa {scores[c]:.3f})"
    else:
        model = plain()
        how = "scikit-learn defaults"
    model.fit(list(texts), list(labels))
    return (lambda batch: [str(x) for x in model.predict(list(batch))]), how


def timed(fn: Callable[[Sequence[str]], object], batch: Sequence[str]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn(batch)
    t1, c1 = time.perf_counter(), time.process_time()
    return len(batch) / max(t1 - t0, 1e-9), len(batch) / max(c1 - c0, 1e-9)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--study", type=Path, default=STUDY, help="the study's released data")
    p.add_argument("--run-dir", type=Path, help="a run directory holding the imported study")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per classifier")
    p.add_argument("--inputs", type=int, default=6000, help="inputs per timed round")
    p.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last)")
    args = p.parse_args()
    if args.run_dir is None and not args.study.is_dir():
        sys.exit(f"the study's released data is not at {args.study} (--study)")

    with tempfile.TemporaryDirectory() as tmp:
        store = open_study(args.run_dir, args.study, Path(tmp))
        sel = triage.select_training(store, "majority:gpt-4o-mini", sample="test")
        data = sel.data
        left = ", ".join(f"{k} {v}" for k, v in sel.left_out.items() if v)
        print(
            f"training items: {len(data.item_ids)} (left out: {left}); evaluation items: "
            f"{len(sel.evaluation_items)} labelled by {len(EXPERTS)} experts",
            flush=True,
        )
        val_ids = sel.evaluation_items
        turns = store.item_turns(val_ids)
        val_texts = [triage.text_of(turns[i]) for i in val_ids]
        assert not set(val_ids) & set(data.item_ids)
        assert not {triage.text_key(turns[i]) for i in val_ids} & {
            triage.text_key([t]) for t in data.texts
        }

        t0 = time.perf_counter()
        result = triage.train(data, triage.Recipe())
        ours = result.model
        print(
            f"crisiseval triage: trained in {time.perf_counter() - t0:.0f} s; CV kappa vs the "
            f"training labels {result.metrics['cross_validation']['kappa']:.3f} "
            f"({ours.recipe.learner}, c={ours.recipe.c:g})",
            flush=True,
        )
        prediction = ours.predict(val_texts)
        kappas = {"crisiseval": expert_kappas(store, val_ids, prediction.labels)}
        recall = crisis_recall(store, val_ids, prediction.crisis)
        fns: dict[str, Callable[[Sequence[str]], object]] = {"crisiseval": ours.predict}
        t0 = time.perf_counter()
        v1 = triage.train(data, triage.Recipe(norm="sqrt", min_df=2, learner="logistic", c=10.0))
        print(
            f"crisiseval-v1: trained in {time.perf_counter() - t0:.0f} s; CV kappa vs the "
            f"training labels {v1.metrics['cross_validation']['kappa']:.3f} (c="
            f"{v1.model.recipe.c:g})",
            flush=True,
        )
        kappas["crisiseval-v1"] = expert_kappas(store, val_ids, v1.model.predict(val_texts).labels)
        fns["crisiseval-v1"] = v1.model.predict
        for name, tuned in (("baseline", False), ("baseline-cv", True)):
            t0 = time.perf_counter()
            fn, how = baseline(data.texts, data.labels, tuned=tuned)
            print(f"{name}: {how}; trained in {time.perf_counter() - t0:.0f} s", flush=True)
            kappas[name] = expert_kappas(store, val_ids, fn(val_texts))
            fns[name] = fn

        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        batch = (val_texts * (args.inputs // len(val_texts) + 1))[: args.inputs]
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
        load_before = os.getloadavg()[0]
        with threadpool_limits(limits=1):
            for fn in fns.values():
                fn(batch)  # warm-up
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    runs[name].append(timed(fn, batch))
        load_after = os.getloadavg()[0]

    print()
    print(
        f"speed: {len(batch)} inputs a round, {args.rounds} rounds each, alternating, pinned to "
        f"core {cpu}, one thread; load average {load_before:.1f} before, {load_after:.1f} after "
        f"({os.cpu_count()} cores)"
    )
    header = (
        f"{'classifier':<14} {'mean kappa':>10} {'min':>6} {'max':>6} "
        f"{'inputs/s elapsed (best, median)':>32} {'inputs/s CPU (best, median)':>28}"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, float]] = {}
    for name, ks in kappas.items():
        wall = [w for w, _ in runs[name]]
        cpu_rates = [c for _, c in runs[name]]
        summary[name] = {
            "kappa": float(np.mean(ks)),
            "wall": max(wall),
            "cpu": max(cpu_rates),
            "wall_median": statistics.median(wall),
            "cpu_median": statistics.median(cpu_rates),
        }
        s = summary[name]
        print(
            f"{name:<14} {s['kappa']:>10.3f} {min(ks):>6.3f} {max(ks):>6.3f} "
            f"{s['wall']:>20,.0f}, {s['wall_median']:>9,.0f} "
            f"{s['cpu']:>16,.0f}, {s['cpu_median']:>9,.0f}"
        )
    o = summary["crisiseval"]
    print()
    print(
        "crisiseval crisis score (1 - P(no_crisis)) against the experts: "
        + "; ".join(
            f"recall {r:.1%} at FPR {f:.1%} (target {t:.0%})" for t, (r, f) in recall.items()
        )
    )
    for name in ("crisiseval-v1", "baseline", "baseline-cv"):
        b = summary[name]
        print(
            f"ratios crisiseval/{name}: kappa {o['kappa'] / b['kappa']:.3f}, inputs/s elapsed "
            f"{o['wall'] / b['wall']:.2f} (medians {o['wall_median'] / b['wall_median']:.2f}), "
            f"inputs/s CPU {o['cpu'] / b['cpu']:.2f} (medians "
            f"{o['cpu_median'] / b['cpu_median']:.2f})"
        )
    print(
        f"goals: mean kappa >= {KAPPA_GOAL}: {'met' if o['kappa'] >= KAPPA_GOAL else 'NOT met'} "
        f"({o['kappa']:.3f}); >= {SPEED_GOAL:,.0f} inputs/s on one core: "
        f"{'met' if o['cpu'] >= SPEED_GOAL else 'NOT met'} by CPU time ({o['cpu']:,.0f}), "
        f"{'met' if o['wall'] >= SPEED_GOAL else 'NOT met'} by elapsed time ({o['wall']:,.0f})"
    )


if __name__ == "__main__":
    main()
