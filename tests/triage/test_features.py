"""The vectorised n-gram hashing is exactly its definition, per text, in any batch, in any
process (the hash is ours, not Python's per-process string hash)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from crisiseval.triage import _features as F

TEXTS = [
    "Hello, world! I'm fine…  ok",
    "",
    "x",
    "Don’t  stop—never 😀 ÄÖü straße",
    "a b c",
    "!!!",
    "I keep thinking everyone would be better off without me.\nI wrote a note.",
    "İstanbul ΣΊΣΥΦΟΣ 123 4-5",
]
CHARS = (2, 3, 4, 5)


def _words(text: str) -> list[str]:
    """The definition: runs of letters, digits and apostrophes of the lower-cased text."""
    out, cur = [], ""
    for ch in text.lower().replace("’", "'"):
        if ord(ch) < 0xFFFF and (ch.isalnum() or ch == "'"):
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    return [*out, cur] if cur else out


def _poly(s: str) -> int:  # c0*B^(n-1) + ... + c(n-1): a window of characters
    h = 0
    for ch in s:
        h = (h * F._BASE + ord(ch)) & 0xFFFFFFFF
    return h


def _word_hash(s: str) -> int:  # c0 + c1*B + c2*B^2 + ...: a word of any length
    return sum(ord(ch) * pow(F._BASE, j, 1 << 32) for j, ch in enumerate(s)) & 0xFFFFFFFF


def _buckets(values: list[int], kind: str, bits: int) -> list[int]:
    arr = np.array(values, dtype=np.uint32)
    return sorted(F._bucket(arr, F._salt(kind), bits).tolist())


def reference(text: str, bits: int) -> dict[str, list[int]]:
    words = _words(text)
    out = {
        "word": _buckets([_word_hash(w) for w in words], "word", bits),
        "bigram": _buckets(
            [
                (_word_hash(a) * 0x9E3779B1 + _word_hash(b)) & 0xFFFFFFFF
                for a, b in itertools.pairwise(words)
            ],
            "bigram",
            bits,
        ),
    }
    for n in CHARS:
        grams = [f" {w} "[i : i + n] for w in words for i in range(len(w) + 3 - n)]
        out[f"char{n}"] = _buckets([_poly(g) for g in grams], f"char{n}", bits)
    return out


def _per_text(batch: F.Batch, i: int) -> dict[str, list[int]]:
    return {
        k: sorted(batch.buckets[k][batch.indptr[k][i] : batch.indptr[k][i + 1]].tolist())
        for k in batch.buckets
    }


@pytest.mark.parametrize("bits", [12, 20])
def test_batch_features_are_the_definition(bits: int) -> None:
    batch = F.featurize(TEXTS, bits=bits, chars=CHARS)
    assert batch.n_texts == len(TEXTS)
    for i, text in enumerate(TEXTS):
        assert _per_text(batch, i) == reference(text, bits), text


def test_a_text_has_the_same_features_alone_and_in_a_batch() -> None:
    batch = F.featurize(TEXTS, bits=18, chars=CHARS)
    for i, text in enumerate(TEXTS):
        assert _per_text(F.featurize([text], bits=18, chars=CHARS), 0) == _per_text(batch, i)
    empty = F.featurize([], bits=18, chars=CHARS)
    assert all(len(v) == 0 for v in empty.buckets.values())
    assert all(list(p) == [0] for p in empty.indptr.values())


def test_char_windows_stay_inside_padded_words() -> None:
    # "ab cd": the 3-grams of " ab " and " cd ", never "b c" across the words
    batch = F.featurize(["ab cd"], bits=20, chars=(3,))
    assert _per_text(batch, 0)["char3"] == _buckets(
        [_poly(g) for g in (" ab", "ab ", " cd", "cd ")], "char3", 20
    )


def test_hashes_do_not_depend_on_the_process() -> None:
    code = (
        "import json, sys; from crisiseval.triage._features import featurize; "
        "b = featurize(json.loads(sys.argv[1]), bits=20, chars=(2, 5)); "
        "print(json.dumps({k: v.tolist() for k, v in b.buckets.items()}))"
    )
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(TEXTS)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    here = F.featurize(TEXTS, bits=20, chars=(2, 5))
    assert runs[0] == runs[1] == {k: v.tolist() for k, v in here.buckets.items()}
