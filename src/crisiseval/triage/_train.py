"""Training a triage classifier: cross-validated choices, the final fit, calibration, metrics.

Every choice is made by cross-validation on the training items alone (stratified folds): the
regularisation ``c`` and the label weighting among the candidates (by default the grid of the
recipe's learner: :data:`DEFAULT_CS` for the linear SVM, :data:`LOGISTIC_CS` for logistic
regression), the calibration
(temperature and per-label bias, fitted on the out-of-fold scores by log loss) and the default
operating threshold of the crisis score (the lowest threshold whose out-of-fold false-positive
rate against the training labels stays within ``target_fpr``). The items a classifier is
evaluated on are never among them (:mod:`crisiseval.triage._data` removes them).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crisiseval.errors import InputError
from crisiseval.taxonomy import NO_CRISIS
from crisiseval.triage._features import Batch
from crisiseval.triage._model import Block, Learner, Recipe, TriageModel, Weighting

DEFAULT_CS: tuple[float, ...] = (0.03, 0.1, 0.3)
"""The regularisation strengths cross-validation chooses from by default (for the default
learner, the linear SVM)."""
LOGISTIC_CS: tuple[float, ...] = (3.0, 10.0, 30.0)
"""The default grid when the recipe's learner is logistic regression."""
TARGET_FPR = 0.10
"""The default operating point: at most this share of no-crisis training items flagged."""
MIN_ITEMS = 10


@dataclass(frozen=True)
class TrainingData:
    """Texts and labels to train on, and what the training data digest covers."""

    item_ids: list[str]
    texts: list[str]
    labels: list[str]

    def digest(self) -> str:
        """sha256 over (item id, label, sha256 of the text) of every training item, in order."""
        h = hashlib.sha256()
        for iid, text, label in zip(self.item_ids, self.texts, self.labels, strict=True):
            text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
            h.update(json.dumps([iid, label, text_sha]).encode("utf-8") + b"\n")
        return h.hexdigest()


@dataclass
class TrainResult:
    model: TriageModel
    metrics: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- features
def count_matrices(batch: Batch, blocks: Sequence[str], bits: int) -> dict[str, sp.csr_matrix]:
    """Per block: texts x buckets counts."""
    out: dict[str, sp.csr_matrix] = {}
    for name in blocks:
        b = batch.buckets[name]
        m = sp.csr_matrix(
            (np.ones(len(b)), b, batch.indptr[name]), shape=(batch.n_texts, 1 << bits)
        )
        m.sum_duplicates()
        out[name] = m
    return out


@dataclass(frozen=True)
class _Vocabulary:
    """The kept buckets and their idf, per block, learned from some training rows."""

    columns: dict[str, npt.NDArray[np.int64]]
    idf: dict[str, npt.NDArray[np.float64]]

    @classmethod
    def fit(
        cls, counts: dict[str, sp.csr_matrix], rows: npt.NDArray[np.int64], min_df: int
    ) -> _Vocabulary:
        columns: dict[str, npt.NDArray[np.int64]] = {}
        idf: dict[str, npt.NDArray[np.float64]] = {}
        n = len(rows)
        for name, m in counts.items():
            sub = m[rows]
            df = np.bincount(sub.indices, minlength=m.shape[1])
            keep = np.flatnonzero(df >= min_df).astype(np.int64)
            columns[name] = keep
            idf[name] = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0
        return cls(columns, idf)

    def transform(
        self, counts: dict[str, sp.csr_matrix], rows: npt.NDArray[np.int64], recipe: Recipe
    ) -> sp.csr_matrix:
        parts = []
        for name, m in counts.items():
            x = m[rows][:, self.columns[name]].tocsr().astype(np.float64)
            if recipe.norm == "sqrt":
                n = np.asarray(x.sum(axis=1)).ravel()
                x = sp.diags(1.0 / np.sqrt(np.maximum(n, 1.0))) @ x @ sp.diags(self.idf[name])
            else:
                x.data = 1.0 + np.log(x.data)
                x = x @ sp.diags(self.idf[name])
                norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
                x = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x
            parts.append(x)
        return sp.hstack(parts).tocsr()


# ---------------------------------------------------------------------------- the linear model
def default_cs(learner: Learner) -> tuple[float, ...]:
    """The regularisation grid cross-validation chooses from for ``learner``."""
    return DEFAULT_CS if learner == "svm" else LOGISTIC_CS


def _fit_linear(
    x: sp.csr_matrix, y: npt.NDArray[np.int64], c: float, weighting: Weighting, learner: Learner
) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    class_weight = "balanced" if weighting == "balanced" else None
    model: Any
    if learner == "svm":
        model = LinearSVC(C=c, class_weight=class_weight, max_iter=5000)
    else:
        model = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight)
    with warnings.catch_warnings():
        # A fold may converge slowly; its scores are still usable and the choice is by kappa.
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return model


def _scores(model: Any, x: sp.csr_matrix, n_labels: int) -> npt.NDArray[np.float64]:
    """Decision scores for every label (columns in label order, also for a binary model)."""
    z = np.asarray(model.decision_function(x), dtype=np.float64)
    if n_labels == 2:
        z = np.column_stack([-z / 2, z / 2])
    full = np.full((x.shape[0], n_labels), -1e9)
    full[:, model.classes_] = z
    return full


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    out: npt.NDArray[np.float64] = p / p.sum(axis=1, keepdims=True)
    return out


def _log_loss(z: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def calibrate(
    scores: npt.NDArray[np.float64], y: npt.NDArray[np.int64]
) -> tuple[float, npt.NDArray[np.float64]]:
    """Temperature and per-label bias minimising the log loss of ``softmax(scores / T + b)``."""
    from scipy.optimize import minimize

    k = scores.shape[1]

    def loss(theta: npt.NDArray[np.float64]) -> float:
        t = float(np.exp(theta[0]))
        return _log_loss(scores / t + theta[1:], y) + 1e-4 * float(theta[1:] @ theta[1:])

    res = minimize(loss, np.zeros(k + 1), method="L-BFGS-B")
    bias = np.asarray(res.x[1:], dtype=np.float64)
    return float(np.exp(res.x[0])), bias - bias.mean()


def _kappa(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(y, pred))


def operating_threshold(
    crisis: npt.NDArray[np.float64], is_crisis: npt.NDArray[np.bool_], target_fpr: float
) -> dict[str, float]:
    """The lowest threshold whose false-positive rate stays within ``target_fpr`` (a text is
    flagged when its score is at or above the threshold), with its rates."""
    negatives = crisis[~is_crisis]
    positives = crisis[is_crisis]
    if len(negatives) == 0 or len(positives) == 0:
        return {"threshold": 0.5, "fpr": float("nan"), "recall": float("nan")}
    best = 1.0 + 1e-9
    for t in np.unique(crisis)[::-1]:
        if float(np.mean(negatives >= t)) > target_fpr:
            break
        best = float(t)
    return {
        "threshold": best,
        "fpr": float(np.mean(negatives >= best)),
        "recall": float(np.mean(positives >= best)),
    }


# ---------------------------------------------------------------------------- training
def train(
    data: TrainingData,
    recipe: Recipe,
    *,
    cs: Sequence[float] | None = None,
    weightings: Sequence[Weighting] = ("balanced",),
    target_fpr: float = TARGET_FPR,
    log: Callable[[str], None] = lambda _line: None,
) -> TrainResult:
    """Train a triage classifier on ``data`` (see the module docstring); ``cs``: the
    regularisation grid (default: :func:`default_cs` of the recipe's learner)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from crisiseval.triage._features import featurize

    started = time.perf_counter()
    label_names = tuple(sorted(set(data.labels)))
    if len(data.labels) < MIN_ITEMS or len(label_names) < 2:
        raise InputError(
            f"too little to train on: {len(data.labels)} items with {len(label_names)} distinct "
            f"label(s) (need at least {MIN_ITEMS} items and 2 labels)"
        )
    y = np.array([label_names.index(lab) for lab in data.labels], dtype=np.int64)
    k = len(label_names)
    batch = featurize(
        data.texts, bits=recipe.bits, chars=recipe.chars, words=recipe.words, bigrams=recipe.bigrams
    )
    counts = count_matrices(batch, recipe.blocks, recipe.bits)
    smallest = int(np.bincount(y).min())
    folds = max(2, min(recipe.folds, smallest))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=recipe.seed)
    splits = list(splitter.split(np.zeros(len(y)), y))
    cs = tuple(cs) if cs else default_cs(recipe.learner)
    grid = [(float(c), w) for w in weightings for c in cs]
    oof = {g: np.zeros((len(y), k)) for g in grid}
    for fold, (tr, te) in enumerate(splits, 1):
        vocab = _Vocabulary.fit(counts, tr, recipe.min_df)
        x_tr = vocab.transform(counts, tr, recipe)
        x_te = vocab.transform(counts, te, recipe)
        for c, w in grid:
            model = _fit_linear(x_tr, y[tr], c, w, recipe.learner)
            oof[(c, w)][te] = _scores(model, x_te, k)
        log(f"  fold {fold}/{folds} done")
    tried: list[dict[str, Any]] = [
        {"c": c, "weighting": w, "kappa": _kappa(y, oof[(c, w)].argmax(axis=1))} for c, w in grid
    ]
    # Ties go to the c nearest the middle of the grid (geometrically).
    middle = float(np.exp(np.mean(np.log(cs))))
    best = max(tried, key=lambda r: (r["kappa"], -abs(np.log(r["c"] / middle))))
    chosen = recipe.model_copy(update={"c": best["c"], "weighting": best["weighting"]})
    scores = oof[(chosen.c, chosen.weighting)]
    temperature, bias = calibrate(scores, y)
    z = scores / temperature + bias
    p = _softmax(z)
    pred = scores.argmax(axis=1)
    crisis = 1.0 - p[:, label_names.index(NO_CRISIS)] if NO_CRISIS in label_names else p[:, 0]
    is_crisis = y != (label_names.index(NO_CRISIS) if NO_CRISIS in label_names else -1)
    op = operating_threshold(crisis, is_crisis, target_fpr)

    # The final model: every training item.
    all_rows = np.arange(len(y))
    vocab = _Vocabulary.fit(counts, all_rows, chosen.min_df)
    final = _fit_linear(
        vocab.transform(counts, all_rows, chosen), y, chosen.c, chosen.weighting, chosen.learner
    )
    coef = np.zeros((sum(len(v) for v in vocab.columns.values()), k))
    intercept = np.zeros(k)
    raw_coef = np.asarray(final.coef_, dtype=np.float64)
    raw_int = np.asarray(final.intercept_, dtype=np.float64)
    if k == 2:
        coef[:, 1], coef[:, 0] = raw_coef[0] / 2, -raw_coef[0] / 2
        intercept[1], intercept[0] = raw_int[0] / 2, -raw_int[0] / 2
    else:
        coef[:, final.classes_] = raw_coef.T
        intercept[final.classes_] = raw_int
    blocks: dict[str, Block] = {}
    start = 0
    for name in chosen.blocks:
        cols = vocab.columns[name]
        idf = vocab.idf[name]
        block_coef = coef[start : start + len(cols)]
        start += len(cols)
        folded = block_coef * idf[:, None]
        blocks[name] = Block(cols, idf, folded)
    model = TriageModel(
        recipe=chosen,
        labels=label_names,
        blocks=blocks,
        intercept=intercept,
        temperature=temperature,
        bias=bias,
        threshold=op["threshold"],
    )
    per_label = f1_score(y, pred, labels=list(range(k)), average=None, zero_division=0)
    metrics: dict[str, Any] = {
        "n_items": len(y),
        "label_counts": dict(sorted(Counter(data.labels).items())),
        "folds": folds,
        "cross_validation": {
            "kappa": _kappa(y, pred),
            "accuracy": float(np.mean(pred == y)),
            "macro_f1": float(np.mean(per_label)),
            "per_label_f1": {
                name: float(f) for name, f in zip(label_names, per_label, strict=True)
            },
            "log_loss_uncalibrated": _log_loss(scores, y),
            "log_loss_calibrated": _log_loss(z, y),
            "tried": tried,
        },
        "operating_point": {"target_fpr": target_fpr, **op},
        "n_features": {name: len(b.columns) for name, b in blocks.items()},
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return TrainResult(model, metrics)


def measure_throughput(
    model: TriageModel, texts: Sequence[str], *, rounds: int = 3, min_inputs: int = 2000
) -> dict[str, float]:
    """How fast :meth:`TriageModel.predict` labels ``texts`` (repeated to at least
    ``min_inputs``) on one thread, after one untimed warm-up pass: ``wall`` (inputs per second
    of elapsed time) and ``cpu`` (inputs per second of this process's CPU time: what one core
    does when nothing else competes for it), each the best of ``rounds``."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    if not texts:
        return {"wall": float("nan"), "cpu": float("nan"), "inputs": 0, "rounds": 0}
    reps = max(1, -(-min_inputs // len(texts)))
    batch = list(texts) * reps
    wall = cpu = 0.0
    with threadpool_limits(limits=1):
        model.predict(batch)  # warm: lookup tables and the hash powers are built once
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            model.predict(batch)
            t1, c1 = time.perf_counter(), time.process_time()
            wall = max(wall, len(batch) / max(t1 - t0, 1e-9))
            cpu = max(cpu, len(batch) / max(c1 - c0, 1e-9))
    return {"wall": wall, "cpu": cpu, "inputs": len(batch), "rounds": rounds}
