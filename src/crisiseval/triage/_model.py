"""A trained triage classifier: its recipe, its weights, and the fast prediction path.

The model is linear in hashed word and character n-grams (:mod:`crisiseval.triage._features`):
per block of features, a text's vector is ``1 + log(count)`` of each kept n-gram times its
inverse document frequency, scaled to unit length (``norm: l2``, the default) or, with ``norm:
sqrt``, the count times the idf divided by the square root of the block's kept n-grams in the
text. The decision scores are ``intercept + sum over blocks of vector @ weights``; the weights
come from a linear SVM (``learner: svm``, the default: squared hinge, one-vs-rest) or a
multinomial logistic regression (``learner: logistic``); docs/triage.md says how the defaults
were chosen (by cross-validation on the training items).

Prediction multiplies the sparse counts by the weights (with the idf folded in) block by block:
no vocabulary lookup by string, no intermediate dense matrix.

Two outputs, each from what it is best at:

* the **label** is the linear model's own decision (the highest score). With ``weighting:
  balanced`` the model was fitted with each label weighted by the inverse of its share of the
  training labels, so a rare crisis is not drowned by the many ``no_crisis`` items;
* the **probabilities** are ``softmax(scores / temperature + bias)``, the temperature and bias
  fitted on out-of-fold scores of the training items so that they match how often the training
  labels occur (calibrated). The **crisis score** is ``1 - P(no_crisis)``, flagged at the model's
  operating threshold.

So a rare label can be the decision while a frequent one is more probable: the label answers
"which crisis", the crisis score "how likely any crisis".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from crisiseval.taxonomy import NO_CRISIS
from crisiseval.triage._features import Batch, block_names, featurize

Norm = Literal["sqrt", "l2"]
Weighting = Literal["balanced", "none"]
Learner = Literal["svm", "logistic"]


class Recipe(BaseModel):
    """How a triage classifier is built: features, model, and the choices cross-validation made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bits: int = Field(default=20, ge=10, le=26, description="2**bits hash buckets")
    chars: tuple[int, ...] = Field(default=(3, 4, 5), description="character n-gram sizes")
    words: bool = True
    bigrams: bool = True
    min_df: int = Field(default=3, ge=1, description="keep n-grams seen in this many texts")
    norm: Norm = "l2"
    learner: Learner = Field(
        default="svm",
        description="the linear model: a linear SVM (squared hinge, one-vs-rest) or a "
        "multinomial logistic regression",
    )
    c: float = Field(default=0.1, gt=0, description="inverse L2 penalty of the linear model")
    weighting: Weighting = "balanced"
    folds: int = Field(default=5, ge=2, le=20)
    seed: int = 0

    @property
    def blocks(self) -> list[str]:
        return block_names(self.chars, words=self.words, bigrams=self.bigrams)


def text_of(turns: Sequence[str]) -> str:
    """The text a triage classifier reads for an input given as turns."""
    return "\n".join(turns)


@dataclass(frozen=True)
class Block:
    """One feature block of a fitted model: the kept buckets (sorted), their idf, and the
    weights (kept buckets x labels, idf folded in)."""

    columns: npt.NDArray[np.int64]
    idf: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch of texts: the label, the probability of every label and the
    crisis score (``1 - P(no_crisis)``)."""

    labels: list[str]
    probabilities: npt.NDArray[np.float64]
    crisis: npt.NDArray[np.float64]
    label_names: tuple[str, ...]

    def record(self, i: int, threshold: float) -> dict[str, Any]:
        """Text ``i``'s prediction as a JSON-ready mapping."""
        return {
            "label": self.labels[i],
            "crisis_score": round(float(self.crisis[i]), 6),
            "crisis": bool(self.crisis[i] >= threshold),
            "probabilities": {
                name: round(float(p), 6)
                for name, p in zip(self.label_names, self.probabilities[i], strict=True)
            },
        }


@dataclass
class TriageModel:
    """A fitted triage classifier (see the module docstring)."""

    recipe: Recipe
    labels: tuple[str, ...]
    blocks: dict[str, Block]
    intercept: npt.NDArray[np.float64]
    temperature: float = 1.0
    bias: npt.NDArray[np.float64] | None = None
    threshold: float = 0.5
    """The default operating threshold of the crisis score."""
    meta: dict[str, Any] = field(default_factory=dict)
    _lookup: dict[str, npt.NDArray[np.int32]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ scores
    def _table(self, name: str) -> npt.NDArray[np.int32]:
        """Bucket -> row of the block's weights (-1: a bucket the model does not use)."""
        table = self._lookup.get(name)
        if table is None:
            table = np.full(1 << self.recipe.bits, -1, dtype=np.int32)
            table[self.blocks[name].columns] = np.arange(
                len(self.blocks[name].columns), dtype=np.int32
            )
            self._lookup[name] = table
        return table

    def featurize(self, texts: Sequence[str]) -> Batch:
        r = self.recipe
        return featurize(texts, bits=r.bits, chars=r.chars, words=r.words, bigrams=r.bigrams)

    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Decision scores (texts x labels) of the linear model."""
        batch = self.featurize(texts)
        out = np.tile(self.intercept, (len(texts), 1))
        for name, block in self.blocks.items():
            rows = self._table(name)[batch.buckets[name]]
            kept = rows >= 0
            cum = np.zeros(len(kept) + 1, dtype=np.int64)
            np.cumsum(kept, out=cum[1:])
            indptr = cum[batch.indptr[name]]
            counts = sp.csr_matrix(
                (np.ones(int(indptr[-1])), rows[kept], indptr),
                shape=(len(texts), len(block.columns)),
            )
            if self.recipe.norm == "sqrt":
                n = np.diff(indptr).astype(np.float64)
                scale = 1.0 / np.sqrt(np.maximum(n, 1.0))
                out += (counts @ block.weights) * scale[:, None]
            else:
                # The vector is tf * idf / norm with tf = 1 + log(count); the weights hold the
                # idf folded in, so the scores are (tf @ weights) / norm, the norm over tf * idf.
                counts.sum_duplicates()
                tf = 1.0 + np.log(counts.data)
                counts.data = tf
                weighted = tf * block.idf[counts.indices]
                row = np.repeat(np.arange(len(texts)), np.diff(counts.indptr))
                norms = np.sqrt(np.bincount(row, weighted * weighted, minlength=len(texts)))
                out += (counts @ block.weights) / np.maximum(norms, 1e-12)[:, None]
        return out

    def calibrated(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated log-probabilities (up to a constant per text) of decision scores."""
        z = scores / self.temperature
        return z + self.bias if self.bias is not None else z

    def predict(self, texts: Sequence[str]) -> Prediction:
        scores = self.scores(texts)
        z = self.calibrated(scores)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        chosen = scores.argmax(axis=1)
        crisis = (
            1.0 - p[:, self.labels.index(NO_CRISIS)]
            if NO_CRISIS in self.labels
            else np.ones(len(texts))
        )
        return Prediction([self.labels[i] for i in chosen], p, crisis, self.labels)

    # ------------------------------------------------------------------ arrays (the artifact)
    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {"intercept": self.intercept}
        if self.bias is not None:
            out["bias"] = self.bias
        for name, block in self.blocks.items():
            out[f"{name}.columns"] = block.columns
            out[f"{name}.idf"] = block.idf
            out[f"{name}.weights"] = block.weights
        return out

    @classmethod
    def from_arrays(
        cls,
        *,
        recipe: Recipe,
        labels: Sequence[str],
        arrays: Mapping[str, npt.NDArray[Any]],
        temperature: float,
        threshold: float,
        meta: dict[str, Any],
    ) -> TriageModel:
        """The model held by an artifact's arrays (their shapes are checked)."""
        n = len(labels)
        blocks: dict[str, Block] = {}
        for name in recipe.blocks:
            columns = np.asarray(arrays[f"{name}.columns"], dtype=np.int64)
            idf = np.asarray(arrays[f"{name}.idf"], dtype=np.float64)
            weights = np.asarray(arrays[f"{name}.weights"], dtype=np.float64)
            if weights.shape != (len(columns), n) or idf.shape != (len(columns),):
                raise ValueError(f"block {name}: weights of shape {weights.shape}")
            if len(columns) and (columns.min() < 0 or columns.max() >= 1 << recipe.bits):
                raise ValueError(f"block {name}: bucket out of range")
            blocks[name] = Block(columns, idf, weights)
        intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        if intercept.shape != (n,):
            raise ValueError(f"intercept of shape {intercept.shape}")
        bias = arrays.get("bias")
        return cls(
            recipe=recipe,
            labels=tuple(labels),
            blocks=blocks,
            intercept=intercept,
            temperature=float(temperature),
            bias=None if bias is None else np.asarray(bias, dtype=np.float64).reshape(n),
            threshold=float(threshold),
            meta=meta,
        )
