"""What every command shares: the consoles, the ``--run-dir`` option, the run directory (lock,
read-only or writing store, leave-nothing-behind on failure) and atomic file writes."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crisiseval.engine.progress import ProgressMode, progress_mode
from crisiseval.errors import CrisisEvalError, InputError, StoreError
from crisiseval.store import Store, run_dir_lock, store_path

# emoji=False: dataset text and model names such as "majority:m:" are never turned into emoji.
out = Console(emoji=False, highlight=False)
err = Console(stderr=True, emoji=False, highlight=False)


class Settings:
    """Global options of the command line (set by the app's callback)."""

    quiet: bool = False


def progress_setting() -> ProgressMode:
    """Progress for this command: off with --quiet, a bar on a terminal, lines otherwise."""
    return progress_mode(out, quiet=Settings.quiet)


JudgeOpt = Annotated[
    str | None,
    typer.Option(
        "--judge",
        "-j",
        help="Judge (default: the experiment's first judge; for an imported study, the model "
        "judge that scored the most answers).",
    ),
]
BootOpt = Annotated[
    int, typer.Option("--boot", min=0, help="Bootstrap resamples of inputs (0: none).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]

RunDirOpt = Annotated[
    Path,
    typer.Option("--run-dir", "-d", help="Run directory holding the store (crisiseval.sqlite)."),
]


def log(line: str) -> None:
    # soft_wrap: a line (a path, a summary) stays one line when stdout is not a terminal.
    out.print(line, highlight=False, markup=False, soft_wrap=True)


def table_console() -> Console:
    # Piped output (files, CI logs, tests) gets wide tables rather than wrapped numbers.
    width = None if sys.stdout.isatty() else 200
    return Console(width=width, highlight=False, emoji=False)


class RunDir:
    """A run directory as a command uses it.

    ``reader()`` opens the store read-only (works on an archived run and while a run holds the
    lock); ``writer()`` takes the directory's lock for the life of the command, opens the store
    for writing, and — if the command fails before writing anything — removes the store (and the
    directory) it created, so bad input leaves nothing half-made behind.
    """

    def __init__(self, path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path}: not a directory (--run-dir must be a folder)")
        self.path = path

    @contextlib.contextmanager
    def reader(self) -> Iterator[Store]:
        with Store.open(self.path, create=False, read_only=True) as store:
            yield store

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The writer lock, creating the directory if needed (removed again on failure when it
        is still empty)."""
        new_dir = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot create the run directory ({exc.strerror})"
            ) from exc
        try:
            with run_dir_lock(self.path):
                yield
        except BaseException:
            if new_dir:
                self._remove_if_empty()
            raise

    @contextlib.contextmanager
    def writer(self) -> Iterator[Store]:
        with self.locked(), self.store_for_writing() as store:
            yield store

    @contextlib.contextmanager
    def store_for_writing(self) -> Iterator[Store]:
        """The store opened for writing (the caller holds the lock); discarded if the command
        fails while it is still empty and this command created it."""
        new_store = not store_path(self.path).exists()
        store = Store.open(self.path)
        try:
            yield store
        except BaseException:
            if new_store and store.is_empty():
                store.discard()
            else:
                store.close()
            raise
        store.close()

    def _remove_if_empty(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "crisiseval.lock").unlink(missing_ok=True)
            self.path.rmdir()  # not empty: something else is in it now, kept


def json_value(value: Any) -> Any:
    """A JSON-ready value: NaN and infinities become null, numpy scalars plain numbers."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(document: Mapping[str, Any] | list[Any]) -> None:
    """One JSON document on stdout (``--json``): strict JSON, never NaN."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, allow_nan=False, indent=2) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def fail(message: str) -> CrisisEvalError:
    return InputError(message)
