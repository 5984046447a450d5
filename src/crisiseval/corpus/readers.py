"""Reading a source's records: local files (JSON list, JSON Lines, CSV, Parquet; one file or
one file per split) and the Hugging Face hub (``datasets``, imported lazily). Every record comes
with where it was read (file and line, record index, or split and row) for one-line errors."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisiseval.errors import InputError
from crisiseval.textio import iter_csv_rows, parse_json, read_text

if TYPE_CHECKING:
    from crisiseval.corpus.sources import SourceAdapter

LOCAL_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".csv", ".parquet")


@dataclass
class ReadCounts:
    """What an adapter saw while reading (filled in as documents are yielded)."""

    records: int = 0
    filtered_by_label: int = 0
    unextractable: int = 0
    files: list[str] = field(default_factory=list)


def local_split_files(directory: Path, splits: tuple[str, ...]) -> list[Path]:
    """The per-split files of a directory override, in split order (``train.jsonl``,
    ``train-00000-of-00001.parquet``, also under ``data/``)."""
    found: list[Path] = []
    for split in splits:
        for folder in (directory, directory / "data"):
            if not folder.is_dir():
                continue
            matches = sorted(
                p
                for p in folder.iterdir()
                if p.is_file()
                and p.suffix.lower() in LOCAL_SUFFIXES
                and (p.stem == split or p.name.startswith(f"{split}-"))
            )
            found.extend(matches)
    return found


def iter_local_records(
    path: Path,
    splits: tuple[str, ...],
    required: tuple[str, ...],
    counts: ReadCounts | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Records of a local override (a file, or a directory of per-split files)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        files = local_split_files(path, splits)
        if not files:
            names = ", ".join(f"{s}.jsonl" for s in splits)
            raise InputError(
                f"{path}: no per-split file found (expected e.g. {names}; formats: "
                f"{', '.join(LOCAL_SUFFIXES)})"
            )
    else:
        files = [path]
    for file in files:
        if counts is not None:
            counts.files.append(str(file))
        yield from read_records_file(file, required)


def read_records_file(
    path: Path, required: tuple[str, ...] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` pairs of one local file; ``required`` columns are checked up front
    for tabular files."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(path, read_text(path).split("\n"))
    elif suffix == ".json":
        yield from _read_json(path)
    elif suffix == ".csv":
        yield from _read_csv(path, required)
    elif suffix == ".parquet":
        yield from _read_parquet(path, required)
    else:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(none)'} (expected "
            f"{', '.join(LOCAL_SUFFIXES)})"
        )


def _as_record(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(
            f"{where}: expected a JSON object (one record), got {type(value).__name__}"
        )
    return value


def _read_jsonl(path: Path, lines: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        yield where, _as_record(value, where)


def _read_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    text = read_text(path)
    if not text.lstrip().startswith("["):
        # `Dataset.to_json` writes JSON Lines under a .json name
        yield from _read_jsonl(path, text.split("\n"))
        return
    value = parse_json(text, path)
    if not isinstance(value, list):  # pragma: no cover - guarded by the "[" check
        raise InputError(f"{path}: expected a JSON list of records")
    for index, item in enumerate(value):
        where = f"{path}: record [{index}]"
        yield where, _as_record(item, where)


def _check_columns(path: Path, columns: list[str], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise InputError(
            f"{path}: header has no column {missing[0]!r} (expected field(s) "
            f"{', '.join(repr(r) for r in required)}; columns: {shown or 'none'})"
        )


def _read_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows as records keyed by the header (a short row's missing cells are None). Lines count
    from the file's first line, quoted newlines and blank lines included; a record whose quote
    is never closed is an error naming the line it starts on."""
    rows = iter_csv_rows(read_text(path), path)
    first = next(rows, None)
    columns = first[1] if first is not None else []
    _check_columns(path, columns, required)
    for line, row in rows:
        where = f"{path}: line {line}"
        if len(row) > len(columns):
            raise InputError(f"{where}: more cells than header columns")
        record: dict[str, Any] = dict.fromkeys(columns)
        record.update(zip(columns, row, strict=False))
        yield where, record


def _plain(value: Any) -> Any:
    """numpy arrays / scalars from pandas -> plain Python values."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        value = tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _read_parquet(path: Path, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many kinds; all mean "not a readable parquet"
        raise InputError(
            f"{path}: not a readable parquet file ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:120]})"
        ) from None
    _check_columns(path, [str(c) for c in frame.columns], required)
    for index, record in enumerate(frame.to_dict(orient="records")):
        yield f"{path}: row [{index}]", {str(k): _plain(v) for k, v in record.items()}


def iter_hub_records(
    adapter: SourceAdapter, counts: ReadCounts | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Records of the adapter's splits on the Hugging Face hub (needs ``datasets``)."""
    try:
        datasets_module = importlib.import_module("datasets")
    except ImportError:
        raise InputError(
            f"source {adapter.source_id}: reading {adapter.hf_id} from the Hugging Face hub "
            "needs the 'datasets' package (pip install 'crisiseval[hub]'), or give a local file"
        ) from None
    load_dataset: Any = datasets_module.load_dataset
    for split in adapter.splits:
        where = f"{adapter.hf_id} (split {split!r})"
        try:
            dataset = load_dataset(adapter.hf_id, split=split)
        except Exception as exc:  # network, auth, missing split...: all one line for the user
            raise InputError(
                f"{where}: cannot load from the Hugging Face hub ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:160]}); give a local file instead"
            ) from None
        if counts is not None:
            counts.files.append(f"hf://{adapter.hf_id}/{split}")
        columns = getattr(dataset, "column_names", None)
        if isinstance(columns, list):
            _check_columns(Path(where), [str(c) for c in columns], adapter.required_fields())
        for index, row in enumerate(dataset):
            yield f"{where}: row [{index}]", dict(row)
