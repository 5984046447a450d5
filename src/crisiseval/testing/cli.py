"""Run the ``crisiseval`` command line in-process, as a test (ours or a user's) would.

:func:`invoke` goes through :func:`crisiseval.cli.main`, so exit codes (0, 1, 2, 3, 130) and the
one-line errors are the real ones, and returns what was printed::

    result = invoke("gate", "policy.yaml", "-d", "runs/x", "--candidate", "b")
    assert result.code == 1 and "FAIL" in result.out
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import NamedTuple


class Result(NamedTuple):
    code: int
    out: str
    err: str


@contextlib.contextmanager
def _patched(argv: list[str], columns: int) -> Iterator[None]:
    saved_argv, saved_columns = sys.argv, os.environ.get("COLUMNS")
    sys.argv = argv
    os.environ["COLUMNS"] = str(columns)  # wide tables: no wrapping of paths and numbers
    try:
        yield
    finally:
        sys.argv = saved_argv
        if saved_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved_columns


def invoke(*args: str, columns: int = 1000) -> Result:
    """``crisiseval ARGS``: (exit code, stdout, stderr)."""
    from crisiseval.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with (
        _patched(["crisiseval", *args], columns),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    return Result(0 if code is None else int(code), out.getvalue(), err.getvalue())
