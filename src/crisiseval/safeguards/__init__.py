"""Safeguard system prompts as package data (``safeguards.yaml``, in our own words).

A respondent selects one by name (``system_prompt: safeguard:crisis-protocol``) or reads its own
from a file (``system_prompt_file: prompts/mine.txt``); :func:`load_safeguards` lists them.
"""

from __future__ import annotations

import functools
import importlib.resources

from pydantic import BaseModel, ConfigDict, ValidationError

from crisiseval.errors import ConfigError
from crisiseval.textio import load_yaml

PREFIX = "safeguard:"
WHERE = "crisiseval/safeguards/safeguards.yaml"


class Safeguard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    description: str
    prompt: str | None


@functools.cache
def load_safeguards() -> dict[str, Safeguard]:
    text = importlib.resources.files(__name__).joinpath("safeguards.yaml").read_text("utf-8")
    data = load_yaml(text, where=WHERE)
    try:
        return {name: Safeguard(name=name, **entry) for name, entry in data["safeguards"].items()}
    except (KeyError, TypeError, ValidationError) as exc:  # our own file: a packaging bug
        raise ConfigError(f"{WHERE}: not a valid safeguard library ({exc})") from exc


def resolve(value: str, *, where: str) -> tuple[str, str | None]:
    """``safeguard:NAME`` → (NAME, its prompt text or None for ``none``)."""
    name = value[len(PREFIX) :].strip()
    library = load_safeguards()
    if name not in library:
        known = ", ".join(sorted(library))
        raise ConfigError(f"{where}: unknown safeguard {name!r} (known: {known})")
    return name, library[name].prompt
