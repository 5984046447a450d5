"""Hashed word and character n-grams, computed for a whole batch of texts with numpy.

A text is lower-cased; its *words* are the runs of letters, digits and apostrophes (``’`` counts
as ``'``); every other character counts as a space. Features, each kind in its own block:

* ``word``: every word; ``bigram``: every pair of neighbouring words;
* ``char<n>``: every ``n`` characters of `` word `` (a word with a space on either side, as
  scikit-learn's ``char_wb`` analyser pads it), for each ``n`` of the recipe.

Each feature is hashed to one of ``2**bits`` buckets. The hashing is arithmetic on arrays (a
polynomial hash modulo 2**32 of every window of ``n`` characters; the same through prefix sums for
words of any length), so the cost per character is a few numpy operations over the whole batch,
never a Python loop: this is what lets a trained classifier label thousands of inputs a second on
one core. The hash is fixed by the constants below, never by Python's per-process string hash, so
a saved model hashes the same way in every process (``FEATURES_VERSION`` names this scheme in a
model file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FEATURES_VERSION = 1

U32 = np.uint32
_BASE = 0x01000193  # odd: invertible modulo 2**32
_BASE_INV = pow(_BASE, -1, 1 << 32)
_MIX = U32(0x9E3779B1)
_SPACE = U32(32)
_SEPARATOR = "\x00"  # between texts of a batch; never a word character


def _salt(kind: str) -> np.uint32:
    """A per-block constant, so that ``a`` the word and ``a`` the character n-gram differ."""
    h = 2166136261
    for ch in kind.encode("ascii"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return U32(h)


def _word_table() -> npt.NDArray[np.bool_]:
    table = np.array([chr(i).isalnum() for i in range(0x10000)], dtype=np.bool_)
    table[ord("'")] = True
    table[0xFFFF] = False  # every code point past the table is read as this one
    return table


_WORD_CHAR = _word_table()


class _Powers:
    """``B**i`` and ``B**-i`` modulo 2**32 for i < n, computed once and grown when needed."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=U32)
        self.down = np.ones(1, dtype=U32)

    def get(self, n: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            with np.errstate(over="ignore"):
                up = np.full(size, U32(_BASE))
                up[0] = 1
                self.up = np.cumprod(up, dtype=U32)
                down = np.full(size, U32(_BASE_INV))
                down[0] = 1
                self.down = np.cumprod(down, dtype=U32)
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


@dataclass(frozen=True)
class Batch:
    """The features of a batch of texts, block by block: for each block, the bucket of every
    feature occurrence in text order and ``indptr`` (text ``i``'s occurrences are
    ``buckets[indptr[i]:indptr[i + 1]]``), as a CSR matrix holds them."""

    n_texts: int
    buckets: dict[str, npt.NDArray[np.int64]]
    indptr: dict[str, npt.NDArray[np.int64]]


def block_names(chars: Sequence[int], *, words: bool = True, bigrams: bool = True) -> list[str]:
    names = (["word"] if words else []) + (["bigram"] if bigrams else [])
    return names + [f"char{n}" for n in chars]


def _bucket(h: npt.NDArray[np.uint32], salt: np.uint32, bits: int) -> npt.NDArray[np.int64]:
    h = (h ^ salt) * _MIX
    h ^= h >> U32(15)
    h *= U32(0x2C1B3C6D)
    out: npt.NDArray[np.int64] = (h >> U32(32 - bits)).astype(np.int64)
    return out


def featurize(
    texts: Sequence[str],
    *,
    bits: int,
    chars: Sequence[int],
    words: bool = True,
    bigrams: bool = True,
) -> Batch:
    """The hashed features of ``texts`` (see the module docstring)."""
    n = len(texts)
    names = block_names(chars, words=words, bigrams=bigrams)
    if n == 0:
        nothing = np.zeros(0, dtype=np.int64)
        return Batch(0, dict.fromkeys(names, nothing), {k: np.zeros(1, np.int64) for k in names})
    joined = _SEPARATOR + _SEPARATOR.join(texts).lower().replace("’", "'") + _SEPARATOR
    raw = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4")
    is_word = _WORD_CHAR[np.minimum(raw, 0xFFFF)]
    # Text k starts at separators[k] (text k's features are those that start in
    # [separators[k], separators[k + 1])).
    separators = np.flatnonzero(raw == 0)
    codes = np.where(is_word, raw, _SPACE).astype(U32)
    buckets: dict[str, npt.NDArray[np.int64]] = {}
    indptr: dict[str, npt.NDArray[np.int64]] = {}
    with np.errstate(over="ignore"):
        if words or bigrams:
            edges = np.diff(is_word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
            starts = np.flatnonzero(edges == 1)
            ends = np.flatnonzero(edges == -1)
            # Polynomial hash of each word: (prefix[end] - prefix[start]) * B**-start.
            up, down = _POWERS.get(len(codes))
            prefix = np.zeros(len(codes) + 1, dtype=U32)
            np.cumsum(codes * up, dtype=U32, out=prefix[1:])
            word_hash = (prefix[ends] - prefix[starts]) * down[starts]
            word_ptr = np.searchsorted(starts, separators).astype(np.int64)
            if words:
                buckets["word"] = _bucket(word_hash, _salt("word"), bits)
                indptr["word"] = word_ptr
            if bigrams:
                # A bigram is a word and the next one in the same text: every word but a text's
                # last starts one.
                last = word_ptr[1:] - 1
                first_of_pair = np.ones(len(starts), dtype=np.bool_)
                first_of_pair[last[last >= word_ptr[:-1]]] = False
                at = np.flatnonzero(first_of_pair)
                pair = word_hash[at] * _MIX + word_hash[np.minimum(at + 1, len(starts) - 1)]
                buckets["bigram"] = _bucket(pair, _salt("bigram"), bits)
                indptr["bigram"] = np.searchsorted(starts[at], separators).astype(np.int64)
        if chars:
            # Windows of n characters whose inner characters are all word characters and that
            # hold at least one: exactly the n-grams of " word " for every word.
            not_word = np.zeros(len(codes) + 1, dtype=np.int32)
            np.cumsum(~is_word, out=not_word[1:])
            h = codes.copy()
            for size in range(2, max(chars) + 1):
                m = len(codes) - size + 1
                if m <= 0:
                    break
                h = h[:m] * U32(_BASE) + codes[size - 1 : size - 1 + m]
                if size not in chars:
                    continue
                if size == 2:
                    valid = is_word[:m] | is_word[1 : 1 + m]
                else:
                    valid = not_word[size - 1 : size - 1 + m] == not_word[1 : 1 + m]
                at = np.flatnonzero(valid)
                buckets[f"char{size}"] = _bucket(h[at], _salt(f"char{size}"), bits)
                indptr[f"char{size}"] = np.searchsorted(at, separators).astype(np.int64)
    for name in names:
        if name not in buckets:  # texts too short for this n-gram size
            buckets[name] = np.zeros(0, dtype=np.int64)
            indptr[name] = np.zeros(n + 1, dtype=np.int64)
    return Batch(n, buckets, indptr)
