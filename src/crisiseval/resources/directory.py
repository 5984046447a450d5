"""The helpline directory: crisis and emergency numbers per country (``data/helplines.yaml``).

Format (``crisiseval-helplines/1``)::

    format: crisiseval-helplines/1
    version: 1
    name: my-helplines          # optional; default: the file's stem
    countries:
      ES:                       # ISO 3166-1 alpha-2, upper case (quote NO: bare NO is false)
        - name: "Línea 024"
          aliases: ["..."]      # optional: other names a text may use
          generic_names: ["..."]  # optional: names that are also ordinary words (see below)
          numbers: ["024"]      # quoted strings: national form, short code or +NN...
          kind: crisis          # crisis | emergency
          note: "..."           # optional: a remark for readers (e.g. a regional line)

A number is a *short code* when it has 2-6 digits and no ``+`` (spaces, hyphens and a leading
``*`` or ``#`` allowed): it is kept as its digits. Any other number must be a valid number for
its country (or an international ``+NN`` number) per ``phonenumbers``: it is kept in E.164.

``generic_names`` lists names of the entry that are also ordinary words or phrases ("Lifeline",
"Kids Helpline", Brazil's "CVV", also a card's security code); a name there may repeat the
entry's name or an alias. The resource check reads such a name only as written (case
included), only for a user of the entry's country, and only next to a cue or to the entry's
number (see :mod:`crisiseval.resources.extract`).

Every problem is one :class:`InputError` line naming the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import phonenumbers
import yaml

from crisiseval.errors import InputError
from crisiseval.textio import UniqueKeyLoader, read_text, read_yaml_text

__all__ = ["FORMAT", "Directory", "Helpline", "HelplineKind", "normalize_number"]

FORMAT = "crisiseval-helplines/1"
HelplineKind = Literal["crisis", "emergency"]
_KINDS: tuple[HelplineKind, ...] = ("crisis", "emergency")
_PACKAGE = "crisiseval.resources"
_SHIPPED = "data/helplines.yaml"
_SHORT = re.compile(r"[*#]?\d+(?:[ \-]\d+)*")
_TOP_KEYS = frozenset({"format", "version", "name", "countries"})
_ENTRY_KEYS = frozenset({"name", "aliases", "generic_names", "numbers", "kind", "note"})
_YAML_BOOLS = {False: "NO/no/off", True: "YES/yes/on"}


@dataclass(frozen=True)
class Helpline:
    """One directory entry."""

    country: str
    """ISO 3166-1 alpha-2, upper case."""
    name: str
    numbers: tuple[str, ...]
    """As written in the directory."""
    aliases: tuple[str, ...]
    kind: HelplineKind
    generic_names: tuple[str, ...] = ()
    """Names that are also ordinary words (may repeat the name or an alias): read only as
    written, for a user of this country, next to a cue or to this entry's number."""
    note: str | None = None

    def is_generic(self, name: str) -> bool:
        """Whether ``name`` (case and spacing ignored) is one of the entry's generic names."""
        key = _name_key(name)
        return any(_name_key(g) == key for g in self.generic_names)


def normalize_number(number: str, region: str) -> str | None:
    """``number`` as the directory keeps it: the digits of a short code (2-6 digits, no ``+``),
    else E.164 when ``phonenumbers`` finds it valid for ``region``; None otherwise."""
    text = number.strip()
    if _SHORT.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        if 2 <= len(digits) <= 6:
            return digits
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class _Problem(Exception):
    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line where ``path`` (keys and list indexes) starts in the YAML text."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        at: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
            found = [(k, v) for k, v in pairs if k.value == part]
            at, node = found[0] if found else (None, None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
            at = node
        else:
            node = None
        if at is None:
            break
        line = at.start_mark.line + 1
    return line


def _str(value: Any, path: tuple[str | int, ...], what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        hint = ""
        if isinstance(value, int) and not isinstance(value, bool):
            hint = " (quote it: YAML reads unquoted digits as a number, 024 as 20)"
        raise _Problem(path, f"expected {what} as a non-empty string, got {value!r}{hint}")
    return value.strip()


def _str_list(value: Any, path: tuple[str | int, ...], what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Problem(path, f"expected a list of {what}, got {type(value).__name__}")
    return tuple(_str(v, (*path, i), what) for i, v in enumerate(value))


def _entry(code: str, i: int, raw: Any) -> Helpline:
    path: tuple[str | int, ...] = ("countries", code, i)
    if not isinstance(raw, dict):
        raise _Problem(
            path, "expected a mapping with name, numbers, kind (and aliases, generic_names, note)"
        )
    extra = sorted(str(k) for k in raw if k not in _ENTRY_KEYS)
    if extra:
        raise _Problem(
            path,
            f"unknown field {extra[0]!r} (expected name, aliases, generic_names, numbers, kind, "
            "note)",
        )
    for key in ("name", "numbers", "kind"):
        if key not in raw:
            raise _Problem(path, f"missing field {key!r}")
    name = _str(raw["name"], (*path, "name"), "a name")
    aliases = _str_list(raw.get("aliases", []), (*path, "aliases"), "names")
    generic = _str_list(raw.get("generic_names", []), (*path, "generic_names"), "names")
    note = _str(raw["note"], (*path, "note"), "a note") if "note" in raw else None
    numbers = _str_list(raw["numbers"], (*path, "numbers"), "phone numbers")
    if not numbers:
        raise _Problem((*path, "numbers"), "expected at least one number")
    for j, number in enumerate(numbers):
        if normalize_number(number, code) is None:
            raise _Problem(
                (*path, "numbers", j),
                f"{number!r} is not a valid number for {code} (expected a national or +NN "
                "number that phonenumbers accepts, or a short code of 2-6 digits)",
            )
    kind = raw["kind"]
    if kind not in _KINDS:
        raise _Problem((*path, "kind"), f"expected crisis or emergency, got {kind!r}")
    if generic and kind != "crisis":
        raise _Problem((*path, "generic_names"), "only a crisis line's names are read in answers")
    return Helpline(code, name, numbers, aliases, cast(HelplineKind, kind), generic, note)


def _country_code(key: Any) -> str:
    if isinstance(key, bool):
        raise _Problem(
            ("countries",),
            f"a country key reads as {key} (quote it: YAML reads bare {_YAML_BOOLS[key]} as "
            'a boolean; Norway is "NO")',
        )
    if not isinstance(key, str) or key not in phonenumbers.SUPPORTED_REGIONS:
        raise _Problem(
            ("countries", str(key)),
            f"unknown country code {key!r} (expected an upper-case ISO 3166-1 alpha-2 code, "
            "e.g. ES)",
        )
    return key


def _parse(data: Any, stem: str) -> tuple[str, int, list[Helpline]]:
    if not isinstance(data, dict):
        raise _Problem((), f"expected a mapping with format: {FORMAT}, version, countries")
    extra = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if extra:
        raise _Problem((extra[0],), "unknown field (expected format, version, name, countries)")
    if data.get("format") != FORMAT:
        raise _Problem(("format",), f"expected format: {FORMAT}, got {data.get('format')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Problem(("version",), f"expected a positive integer, got {version!r}")
    name = _str(data["name"], ("name",), "a name") if "name" in data else stem
    countries = data.get("countries")
    if not isinstance(countries, dict) or not countries:
        raise _Problem(("countries",), "expected a mapping of country codes to lists of entries")
    entries: list[Helpline] = []
    for key, raw in countries.items():
        code = _country_code(key)
        if not isinstance(raw, list) or not raw:
            raise _Problem(("countries", code), "expected a non-empty list of entries")
        entries.extend(_entry(code, i, item) for i, item in enumerate(raw))
    return name, version, entries


class Directory:
    """Helplines by country, with lookups by number and by name."""

    def __init__(self, name: str, version: int, digest: str, entries: Sequence[Helpline]) -> None:
        self.name = name
        self.version = version
        self.digest = digest
        """sha256 of the file's bytes."""
        self.entries: tuple[Helpline, ...] = tuple(entries)
        by_country: dict[str, list[Helpline]] = {}
        by_number: dict[str, list[Helpline]] = {}
        by_name: dict[str, list[Helpline]] = {}
        for h in self.entries:
            by_country.setdefault(h.country, []).append(h)
            for number in h.numbers:
                normalized = normalize_number(number, h.country)
                if normalized is not None:
                    by_number.setdefault(normalized, []).append(h)
            for label in {_name_key(n) for n in (h.name, *h.aliases, *h.generic_names)}:
                by_name.setdefault(label, []).append(h)
        self._by_country = by_country
        self._by_number = by_number
        self._by_name = by_name

    @classmethod
    def load(cls, path: Path | None = None) -> Directory:
        """The directory at ``path``; None: the shipped one (``resources/data/helplines.yaml``)."""
        if path is None:
            where = f"crisiseval/resources/{_SHIPPED}"
            raw = importlib.resources.files(_PACKAGE).joinpath(_SHIPPED).read_bytes()
            text = raw.decode("utf-8-sig")
            stem = "helplines"
        else:
            where = str(path)
            text = read_text(path)
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
            stem = path.stem
        data = read_yaml_text(text, where=where)
        try:
            name, version, entries = _parse(data, stem)
        except _Problem as exc:
            line = _line_of(text, exc.path)
            at = f"line {line}: " if line is not None else ""
            field = f"{_dotted(exc.path)}: " if exc.path else ""
            raise InputError(f"{where}: {at}{field}{exc.message}") from None
        return cls(name, version, hashlib.sha256(raw).hexdigest(), entries)

    def countries(self) -> list[str]:
        """The countries the directory lists, sorted."""
        return sorted(self._by_country)

    def for_country(self, code: str) -> list[Helpline]:
        """The entries of one country (none for an unlisted one)."""
        return list(self._by_country.get(code.upper(), []))

    def countries_of_number(self, normalized: str) -> frozenset[str]:
        """The countries whose entries list this number (E.164, or a short code's digits)."""
        return frozenset(h.country for h in self._by_number.get(normalized, []))

    def helplines_of_number(self, normalized: str) -> list[Helpline]:
        """The entries that list this number."""
        return list(self._by_number.get(normalized, []))

    def helplines_of_name(self, name: str) -> list[Helpline]:
        """The entries whose name, an alias or a generic name is ``name`` (case and spacing
        ignored)."""
        return list(self._by_name.get(_name_key(name), []))

    def names(self) -> Mapping[str, list[Helpline]]:
        """Every name, alias and generic name (lower case, single spaces) and the entries that
        use it."""
        return {k: list(v) for k, v in self._by_name.items()}


def _name_key(name: str) -> str:
    return " ".join(name.split()).lower()
