"""Prompt templates as package data: one YAML file per stage (``system`` and ``user`` Jinja2
templates, in our own words), rendered by :func:`render`.

Templates are data so that a reader (or a clinician) can review the exact wording without
reading code; the cell key hashes the rendered messages, so any edit re-asks the affected cells.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes

from crisiseval.textio import load_yaml


@functools.cache
def _templates(name: str) -> dict[str, tuple[jinja2.Template, str | None]]:
    """Each part's template, and its text when it uses no variable (rendered once)."""
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
    out: dict[str, tuple[jinja2.Template, str | None]] = {}
    for part in ("system", "user"):
        source = str(data[part])
        template = env.from_string(source)
        constant = not jinja2.meta.find_undeclared_variables(env.parse(source))
        out[part] = (template, template.render() if constant else None)
    return out


def render(name: str, **variables: Any) -> list[dict[str, str]]:
    """The ``[system, user]`` messages of prompt ``name`` with ``variables`` filled in."""
    out = []
    for part, (template, constant) in _templates(name).items():
        if constant is None:
            # Template.render without copying the environment's globals into every context
            # (a third of a short render): our prompt templates use no global.
            context = template.new_context(variables, shared=True)
            constant = template.environment.concat(template.root_render_func(context))
        out.append({"role": part, "content": constant})
    return out


_SLOT = "\x00crisiseval:slot:{}\x00"


@functools.cache
def _bare(name: str, slot: str) -> bool:
    """Whether prompt ``name`` uses variable ``slot`` only as a whole output, ``{{ slot }}``: its
    text then lands as it is, whatever it holds, and can be put in place after rendering."""
    text = (
        importlib.resources.files("crisiseval.prompts").joinpath(f"{name}.yaml").read_text("utf-8")
    )
    data = load_yaml(text, where=f"crisiseval/prompts/{name}.yaml")
    env = jinja2.Environment()
    uses = bare = 0
    for part in ("system", "user"):
        tree = env.parse(str(data[part]))
        uses += sum(1 for n in tree.find_all(jinja2.nodes.Name) if n.name == slot)
        for output in tree.find_all(jinja2.nodes.Output):
            bare += sum(
                1 for n in output.nodes if isinstance(n, jinja2.nodes.Name) and n.name == slot
            )
    return uses > 0 and uses == bare


def render_each(
    name: str, slot: str, values: Sequence[str], **variables: Any
) -> list[list[dict[str, str]]]:
    """``[render(name, **variables, slot=v) for v in values]``, byte for byte, with the template
    rendered once: ``slot`` is filled with a marker, then each value replaces it. Only where the
    templates use the slot as a bare ``{{ slot }}`` (no filter, test, condition or loop reads it:
    :func:`_bare`) and the marker comes out exactly once; otherwise each value is rendered in
    full. The judge renders one prompt per answer this way: the answers to
    one input differ only in their text."""
    marker = _SLOT.format(slot)
    if not _bare(name, slot) or any(marker in v for v in values):
        return [render(name, **variables, **{slot: v}) for v in values]
    shell = render(name, **variables, **{slot: marker})
    if sum(m["content"].count(marker) for m in shell) != 1:
        return [render(name, **variables, **{slot: v}) for v in values]
    where = next(i for i, m in enumerate(shell) if marker in m["content"])
    head, tail = shell[where]["content"].split(marker)
    out = []
    for v in values:
        messages = [dict(m) for m in shell]
        messages[where]["content"] = head + v + tail
        out.append(messages)
    return out
