"""Reading user files: every failure is one InputError line naming the file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark allowed)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})"
        ) from None


def read_json(path: Path) -> Any:
    return parse_json(read_text(path), path)
