"""Reading user files: every failure is one InputError line naming the file and what is wrong.

YAML is read by one loader (:class:`UniqueKeyLoader`, a ``yaml.SafeLoader``) everywhere: a key
given twice in one mapping is an error (PyYAML would silently keep the last). CSV is read by
:func:`iter_csv_rows`, which refuses a record whose quote is never closed (Python's ``csv``
module would silently swallow the rest of the file into one field).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

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


# ---------------------------------------------------------------------------------- YAML
class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (``line`` is 1-based, where the repeat is)."""

    def __init__(self, key: Any, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", mark)
        self.key = key
        self.line = mark.line + 1

    def message(self, where: str | Path) -> str:
        return f"{where}: line {self.line}: duplicate key {self.key!r} (each key may appear once)"


_MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings refuse a key given twice. Merge keys (``<<: *base``)
    still work: a key given in the mapping itself overrides a merged one, as YAML says."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, yaml.MappingNode):
            explicit = {id(key) for key, _value in node.value if key.tag != _MERGE_TAG}
            self.flatten_mapping(node)
            seen: set[Any] = set()
            for key_node, _value_node in node.value:
                if id(key_node) not in explicit:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    repeated = key in seen
                except TypeError:  # an unhashable key: the base class reports it
                    break
                if repeated:
                    raise DuplicateKeyError(key, key_node.start_mark)
                seen.add(key)
        # Named, not super(): the libyaml loader below reuses this method.
        mapping: dict[Hashable, Any] = yaml.constructor.SafeConstructor.construct_mapping(
            self, node, deep=deep
        )
        return mapping


_CSafeLoader: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_FastLoader: type[yaml.SafeLoader] | None = (
    None
    if _CSafeLoader is None
    else type(
        "FastUniqueKeyLoader",
        (_CSafeLoader,),
        {"construct_mapping": UniqueKeyLoader.construct_mapping},
    )
)
""":class:`UniqueKeyLoader`'s rules on libyaml's parser (about 10 times faster) where PyYAML was
built with it. Its syntax errors point less precisely, so a file it refuses is parsed again by
the pure-Python parser for the message."""


def load_yaml(text: str, *, where: str | Path) -> Any:
    """Parse YAML with :class:`UniqueKeyLoader` (safe: plain data only).

    A repeated key is a one-line InputError, ``<where>: line N: duplicate key 'k' (each key may
    appear once)``; any other problem is raised as the ``yaml.YAMLError`` for the caller to word
    in its own format.
    """
    try:
        if _FastLoader is not None:
            try:
                return yaml.load(text, Loader=_FastLoader)  # a CSafeLoader subclass
            except yaml.YAMLError:
                pass  # parsed again below, for the precise message
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise InputError(exc.message(where)) from None


def read_yaml_text(text: str, *, where: str | Path) -> Any:
    """Parse YAML (:func:`load_yaml`); every problem is a one-line InputError naming ``where``
    and the line and column (``<where>: line N, column M: not valid YAML (...)``)."""
    try:
        return load_yaml(text, where=where)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        pos = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise InputError(f"{where}: {pos}not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None


def yaml_list_lines(text: str, key: str) -> tuple[int, list[int], list[dict[str, int]]]:
    """Where things are in a YAML mapping whose ``key`` holds a list of mappings: the line of
    ``key``, of each list entry, and of each entry's fields (1-based). Unknown layouts give line
    1 and empty lists: the caller still validates the parsed data."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return 1, [], []
    if not isinstance(root, yaml.MappingNode):
        return 1, [], []
    for k, value in root.value:
        if k.value == key and isinstance(value, yaml.SequenceNode):
            starts = [node.start_mark.line + 1 for node in value.value]
            fields = [
                {f.value: v.start_mark.line + 1 for f, v in node.value}
                if isinstance(node, yaml.MappingNode)
                else {}
                for node in value.value
            ]
            return k.start_mark.line + 1, starts, fields
    return 1, [], []


# ---------------------------------------------------------------------------------- CSV
class _Lines:
    """The lines of a text for ``csv.reader``, noting when the reader asked past the last one."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.exhausted = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            return next(self._lines)
        except StopIteration:
            self.exhausted = True
            raise


def iter_csv_rows(text: str, path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """``(line the record starts on, cells)`` for each record of CSV text; blank lines skipped.

    Quoting is strict: a record whose quote is never closed (Python's ``csv`` would swallow the
    rest of the file into its last field) is ``<path>: line N: unterminated quoted field (...)``
    with N the line the record starts on; text after a closing quote is ``not valid CSV``. No
    field-size limit applies beyond the text's own length (the size of an input is checked
    where items enter a sample, against ``sample.max_input_chars``).
    """
    if csv.field_size_limit() < len(text):
        csv.field_size_limit(len(text))
    lines = _Lines(text)
    reader = csv.reader(lines, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if lines.exhausted:  # the end of the text inside a quoted field
                raise InputError(
                    f"{path}: line {start}: unterminated quoted field (a record's quote is "
                    "never closed)"
                ) from None
            at = f", at line {reader.line_num}" if reader.line_num != start else ""
            raise InputError(f"{path}: line {start}: not valid CSV ({exc}{at})") from None
        if row:
            yield start, row
