"""Prompt templates as package data: one YAML file per stage (``system`` and ``user`` Jinja2
templates, in our own words), rendered by :func:`render`.

Templates are data so that a reader (or a clinician) can review the exact wording without
reading code; the cell key hashes the rendered messages, so any edit re-asks the affected cells.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Any

import jinja2

from crisiseval.textio import load_yaml


@functools.cache
def _templates(name: str) -> dict[str, jinja2.Template]:
    text = (
        importlib.resources.files("crisiseval.prompts").joinpath(f"{name}.yaml").read_text("utf-8")
    )
    data = load_yaml(text, where=f"crisiseval/prompts/{name}.yaml")
    # Prompts are plain text, never HTML: no autoescaping; blocks leave no blank lines.
    env = jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )
    return {part: env.from_string(str(data[part])) for part in ("system", "user")}


def render(name: str, **variables: Any) -> list[dict[str, str]]:
    """The ``[system, user]`` messages of prompt ``name`` with ``variables`` filled in."""
    t = _templates(name)
    return [
        {"role": "system", "content": t["system"].render(**variables)},
        {"role": "user", "content": t["user"].render(**variables)},
    ]
