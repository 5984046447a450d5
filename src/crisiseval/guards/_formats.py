"""Guard formats: how to ask a guard model about an input and how to read its reply.

A format is a YAML file in ``guards/data`` (our words): its ``reply`` parser, its ``prompt`` (the
server's own chat template, or a question of ours), and the table from the guard's categories to
crisis labels (:mod:`crisiseval.guards._mapping`). Three reply parsers exist:

* ``llama-guard``: ``safe``, or ``unsafe`` then a line of comma-separated codes (``S1,S11``);
* ``qwen3guard``: ``Safety: Safe|Unsafe|Controversial`` and ``Categories: A, B`` lines;
* ``yes-no``: a reply that starts with yes or no.

A reply none of these can read raises :class:`~crisiseval.engine.OutputError`: the engine re-asks
a bounded number of times, then records the cell ``unparsed`` with the raw text, as for every
classifier.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiseval.engine import OutputError
from crisiseval.errors import ConfigError, InputError
from crisiseval.guards._mapping import ANY_CRISIS, Target, combine
from crisiseval.taxonomy import NO_CRISIS
from crisiseval.textio import load_yaml

ReplyKind = Literal["llama-guard", "qwen3guard", "yes-no"]
Verdict = Literal["safe", "unsafe"]
_PLAIN_VERDICTS: dict[str, Verdict] = {"safe": "safe", "unsafe": "unsafe"}


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    label: Target


class GuardFormat(BaseModel):
    """One guard format (a file in ``guards/data``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1)
    reply: ReplyKind
    prompt: Literal["chat-template", "question"]
    system: str | None = None
    user: str | None = None
    unsafe_without_category: Target = ANY_CRISIS
    verdicts: dict[str, Verdict] = Field(default_factory=lambda: dict(_PLAIN_VERDICTS))
    categories: dict[str, Category] = Field(default_factory=dict)

    def messages(self, turns: Sequence[str]) -> list[dict[str, str]]:
        """The messages that ask the guard about one input (its turns)."""
        text = "\n".join(turns)
        if self.prompt == "chat-template":
            return [{"role": "user", "content": text}]
        assert self.system is not None and self.user is not None
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.replace("{text}", text)},
        ]

    @property
    def prompt_version(self) -> str:
        return f"guard:{self.name}:v{self.version}"

    def parse(self, text: str) -> dict[str, Any]:
        """The label of a reply and what it said: ``label``, ``verdict``, ``categories`` and a
        binary ``crisis_score``. Raises :class:`OutputError` for a reply it cannot read."""
        if self.reply == "llama-guard":
            verdict, codes = _llama_guard(text)
        elif self.reply == "qwen3guard":
            verdict, codes = _qwen3guard(text, self.verdicts)
        else:
            verdict, codes = _yes_no(text), []
        if verdict == "safe":
            label = NO_CRISIS
        elif self.reply == "yes-no":
            label = ANY_CRISIS
        elif not codes:
            label = self.unsafe_without_category
        else:
            unknown = [c for c in codes if c not in self.categories]
            if unknown:
                raise OutputError(
                    f"unknown {self.name} category {unknown[0]!r} (known: "
                    f"{', '.join(self.categories)})"
                )
            label = combine(self.categories[c].label for c in codes)
        return {
            "label": label,
            "verdict": verdict,
            "categories": codes,
            "crisis_score": 0.0 if label == NO_CRISIS else 1.0,
        }


_WORD = re.compile(r"[a-z]+")


def _llama_guard(text: str) -> tuple[Verdict, list[str]]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0].lower() if lines else ""
    if first == "safe":
        return "safe", []
    if first != "unsafe":
        raise OutputError("expected 'safe', or 'unsafe' and a line of category codes")
    if len(lines) == 1:
        return "unsafe", []
    codes = [c.strip().upper() for c in lines[1].split(",") if c.strip()]
    if not all(re.fullmatch(r"S\d+", c) for c in codes):
        raise OutputError(f"expected category codes such as S11, got {lines[1][:80]!r}")
    return "unsafe", list(dict.fromkeys(codes))


def _qwen3guard(text: str, verdicts: dict[str, Verdict]) -> tuple[Verdict, list[str]]:
    safety = re.search(r"^\s*Safety:\s*(\w+)\s*$", text, re.MULTILINE | re.IGNORECASE)
    if safety is None:
        raise OutputError("expected a line 'Safety: Safe|Unsafe|Controversial'")
    severity = safety.group(1).lower()
    if severity not in verdicts:
        raise OutputError(f"unknown severity {safety.group(1)!r} (known: {', '.join(verdicts)})")
    verdict = verdicts[severity]
    found = re.search(r"^\s*Categories:\s*(.*?)\s*$", text, re.MULTILINE | re.IGNORECASE)
    names = [c.strip() for c in found.group(1).split(",") if c.strip()] if found else []
    names = [n for n in dict.fromkeys(names) if n != "None"]
    return verdict, names


def _yes_no(text: str) -> Verdict:
    first = _WORD.match(text.strip().lower())
    word = first.group(0) if first else ""
    if word == "yes":
        return "unsafe"
    if word == "no":
        return "safe"
    raise OutputError("expected a reply that starts with yes or no")


def _data_text(filename: str) -> str:
    return (
        importlib.resources.files("crisiseval.guards").joinpath("data", filename).read_text("utf-8")
    )


def format_names() -> list[str]:
    """The guard formats crisiseval ships, sorted."""
    root = importlib.resources.files("crisiseval.guards").joinpath("data")
    names = [p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml")]
    return sorted(n for n in names if n != MODERATION_FILE.removesuffix(".yaml"))


MODERATION_FILE = "openai-moderation.yaml"


@functools.cache
def load_format(name: str) -> GuardFormat:
    """The guard format ``name`` (one of :func:`format_names`); an unknown name is a
    :class:`ConfigError` listing the known ones."""
    known = format_names()
    if name not in known:
        raise ConfigError(f"unknown guard format {name!r} (known: {', '.join(known)})")
    where = f"crisiseval/guards/data/{name}.yaml"
    data = load_yaml(_data_text(f"{name}.yaml"), where=where)
    try:
        return GuardFormat.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where}: field {loc}: {err['msg']}") from None
