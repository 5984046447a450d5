"""The triage model file: versioned, self-describing, loaded without running code from it.

The file is a skops archive of plain data only — a format name and version, a JSON-ready
``meta`` mapping (recipe, labels, calibration, operating threshold, what it was trained on and the
training data's digest, cross-validated metrics, the measured speed) and numpy arrays (the
weights) — plus ``digest``, a sha256 over the canonical form of both. Loading:

1. refuses a missing file, and a file that is not a skops archive;
2. asks skops which types the file would build and refuses any beyond skops' default trusted
   set (plain containers, numbers, strings, numpy arrays): nothing in the file can make the
   loader import or call anything else;
3. recomputes the digest and refuses a file whose content no longer matches it (a weight,
   the threshold or the recipe changed after training).

Every refusal is one line naming the file (:class:`~crisiseval.errors.InputError`).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import skops.io  # type: ignore[import-untyped]
from pydantic import ValidationError

from crisiseval.errors import InputError
from crisiseval.triage._model import Recipe, TriageModel

FORMAT = "crisiseval-triage"
FORMAT_VERSION = 2
"""Version 2 added the recipe's ``learner``; a version 1 file (written before it existed, always
by logistic regression) still loads, as ``learner: logistic``."""
READABLE_VERSIONS = (1, FORMAT_VERSION)


def _canonical_digest(meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode("utf-8") + b"\0" + str(a.dtype).encode() + b"\0")
        h.update(json.dumps(list(a.shape)).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


def model_meta(model: TriageModel) -> dict[str, Any]:
    """Everything about ``model`` but its arrays, JSON-ready."""
    return {
        **{k: v for k, v in model.meta.items() if k != "digest"},
        "recipe": model.recipe.model_dump(mode="json"),
        "labels": list(model.labels),
        "temperature": model.temperature,
        "threshold": model.threshold,
    }


def save_model(model: TriageModel, path: Path) -> str:
    """Write ``model`` to ``path`` (through a temporary file); returns the content digest."""
    meta = json.loads(json.dumps(model_meta(model)))  # plain JSON types only
    arrays = {k: np.ascontiguousarray(v) for k, v in model.arrays().items()}
    digest = _canonical_digest(meta, arrays)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "arrays": arrays,
        "digest": digest,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        skops.io.dump(payload, tmp, compression=zipfile.ZIP_DEFLATED)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write the model file ({exc.strerror or exc})") from exc
    model.meta["digest"] = digest
    return digest


def _why(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_model(path: Path | str) -> TriageModel:
    """Read a model file written by :func:`save_model` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file (write one with `crisiseval triage train`)")
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # a damaged archive: zip, zlib, JSON or schema errors
        raise InputError(f"{path}: not a crisiseval triage model file ({_why(exc)})") from None
    if untrusted:
        raise InputError(
            f"{path}: refused: the file would build types crisiseval never writes "
            f"({', '.join(sorted(untrusted)[:3])}); it was not written by `crisiseval triage "
            "train`, or was altered"
        )
    try:
        payload = skops.io.load(path)
    except Exception as exc:  # skops raises many kinds on a damaged archive
        raise InputError(
            f"{path}: not a readable crisiseval triage model file ({_why(exc)})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a crisiseval triage model file")
    version = payload.get("format_version")
    if version not in READABLE_VERSIONS:
        raise InputError(
            f"{path}: model file format version {version} (this crisiseval reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}): train it again"
        )
    meta, arrays = payload.get("meta"), payload.get("arrays")
    if not isinstance(meta, dict) or not isinstance(arrays, dict):
        raise InputError(f"{path}: not a crisiseval triage model file (no meta or arrays)")
    if not all(isinstance(a, np.ndarray) for a in arrays.values()):
        raise InputError(f"{path}: refused: its arrays are not plain numpy arrays")
    if _canonical_digest(meta, arrays) != payload.get("digest"):
        raise InputError(
            f"{path}: refused: the content does not match its digest (the file was changed "
            "after training, or is damaged)"
        )
    try:
        recipe_fields = meta["recipe"]
        if version == 1 and isinstance(recipe_fields, dict):
            # Before version 2 every model was a logistic regression, and the recipe said so by
            # not naming a learner (the digest covers the file as written).
            recipe_fields = {"learner": "logistic", **recipe_fields}
        recipe = Recipe.model_validate(recipe_fields)
        model = TriageModel.from_arrays(
            recipe=recipe,
            labels=[str(x) for x in meta["labels"]],
            arrays=arrays,
            temperature=float(meta["temperature"]),
            threshold=float(meta["threshold"]),
            meta={**meta, "digest": payload["digest"]},
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise InputError(f"{path}: not a usable crisiseval triage model ({exc})") from None
    return model
