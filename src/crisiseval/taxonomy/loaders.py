"""Load the taxonomy and rubric: the package defaults, our YAML layout, or the paper's CSV.

Every problem with a file becomes one :class:`InputError` line naming the file and the row or
field, and what was expected.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crisiseval.errors import InputError
from crisiseval.taxonomy.labels import LABELS, normalize_label
from crisiseval.taxonomy.models import LEVELS, Rubric, Taxonomy
from crisiseval.taxonomy.validation import input_error_from_validation, one_line
from crisiseval.textio import iter_csv_rows, read_text, read_yaml_text

DEFAULT_TAXONOMY = "taxonomy.yaml"
DEFAULT_RUBRIC = "rubric.yaml"

_M = TypeVar("_M", bound=BaseModel)

_LEVEL_HEADER_RE = re.compile(r"^\s*\(\s*([0-9]+)\s*\)\s*(.*)$")


def _package_text(filename: str) -> tuple[str, str]:
    resource = resources.files("crisiseval.taxonomy").joinpath("data", filename)
    return resource.read_text(encoding="utf-8"), f"crisiseval/taxonomy/data/{filename}"


def _validate(model: type[_M], data: Any, *, where: str) -> _M:
    if not isinstance(data, dict):
        keys = ", ".join(model.model_fields)
        shown = "an empty file" if data is None else f"a {type(data).__name__}"
        raise InputError(f"{where}: expected a mapping with keys {keys}, got {shown}")
    try:
        # ``custom: true`` in the file lets it define its own labels (see Taxonomy, Rubric).
        return model.model_validate(data, context={"custom": data.get("custom") is True})
    except ValidationError as exc:
        raise input_error_from_validation(exc, where=where, model=model) from None


# ---------------------------------------------------------------------------------- taxonomy
def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load the taxonomy: the package default (``path=None``) or a YAML file in our layout.

    Layout: ``name`` (optional) and ``labels``: a list of ``{name, title, definition,
    examples}``. Every one of the seven labels must appear exactly once (any known spelling).
    """
    if path is None:
        text, where = _package_text(DEFAULT_TAXONOMY)
    else:
        path = Path(path)
        text, where = read_text(path), str(path)
    return _validate(Taxonomy, read_yaml_text(text, where=where), where=where)


# ---------------------------------------------------------------------------------- rubric
def load_rubric(path: Path | str | None = None) -> Rubric:
    """Load a 1-5 rubric: the package default, our YAML layout, or the paper's CSV layout.

    * YAML (``.yaml``/``.yml``/``.json``): ``name`` (optional; defaults to the file stem),
      ``scale`` (optional level titles) and ``levels``: label -> {1..5 -> text}.
    * CSV (``.csv``): a header ``label`` followed by five level columns whose names start with
      ``(1)`` ... ``(5)`` (the text after the number is the level's title); one row per label.

    Labels are normalised through the alias table (``self-harm`` -> ``self_harm``).
    """
    if path is None:
        text, where = _package_text(DEFAULT_RUBRIC)
        return _validate(Rubric, read_yaml_text(text, where=where), where=where)
    path = Path(path)
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        return _rubric_from_csv(text, path)
    data = read_yaml_text(text, where=str(path))
    if isinstance(data, dict) and "name" not in data:
        data["name"] = path.stem
    return _validate(Rubric, data, where=str(path))


def _rubric_from_csv(text: str, path: Path) -> Rubric:
    rows = iter_csv_rows(text, path)  # a quote never closed is an error, not a swallowed file
    first = next(rows, None)
    if first is None or not any(cell.strip() for cell in first[1]):
        raise InputError(
            f"{path}: empty file (expected a header row: label, then five columns "
            "named (1) ... (5))"
        )
    header = first[1]
    level_of_column, scale = _parse_rubric_header(header, path)
    levels: dict[str, dict[int, str]] = {}
    first_row: dict[str, int] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"{path}: row {line}: expected {len(header)} cells (label + 5 levels), "
                f"got {len(row)}"
            )
        label = normalize_label(row[0], where=f"{path}: row {line}, column {header[0]!r}")
        if label in first_row:
            raise InputError(
                f"{path}: row {line}: label {label!r} is given twice (first in row "
                f"{first_row[label]})"
            )
        first_row[label] = line
        texts: dict[int, str] = {}
        for column, level in level_of_column.items():
            cell = one_line(row[column])
            if not cell:
                raise InputError(
                    f"{path}: row {line} ({label}), column {header[column]!r}: level "
                    f"{level} text is empty"
                )
            texts[level] = cell
        levels[label] = texts
    missing = [label for label in LABELS if label not in levels]
    if missing:
        raise InputError(
            f"{path}: label(s) missing: {', '.join(missing)} (expected one row for each of "
            f"{', '.join(LABELS)})"
        )
    return _validate(Rubric, {"name": path.stem, "scale": scale, "levels": levels}, where=str(path))


def _parse_rubric_header(header: list[str], path: Path) -> tuple[dict[int, int], dict[int, str]]:
    expected = "expected columns: label, then five level columns named (1) ... (5)"
    if header[0].strip().lower() != "label":
        raise InputError(f"{path}: header: first column is {header[0]!r}, not 'label' ({expected})")
    level_of_column: dict[int, int] = {}
    scale: dict[int, str] = {}
    for column, name in enumerate(header[1:], start=1):
        match = _LEVEL_HEADER_RE.match(name)
        if match is None:
            raise InputError(
                f"{path}: header: column {column + 1} {name!r} does not start with a level "
                f"number (1) ... (5) ({expected})"
            )
        level = int(match.group(1))
        if level not in LEVELS:
            raise InputError(
                f"{path}: header: column {column + 1} {name!r}: level {level} is not on the "
                "1-5 scale"
            )
        if level in scale:
            raise InputError(f"{path}: header: level ({level}) appears in two columns")
        level_of_column[column] = level
        scale[level] = one_line(match.group(2)) or f"Level {level}"
    absent = [str(level) for level in LEVELS if level not in scale]
    if absent:
        raise InputError(f"{path}: header: no column for level(s) {', '.join(absent)} ({expected})")
    return level_of_column, scale
