"""Output parsers: how the engine turns a model's reply into a validated value (or says why not).

A parser has a ``name`` (stored with the cell's request), an optional JSON schema (requested from
the endpoint as structured output, and part of the cell key) and ``parse(text) -> dict`` that
raises :class:`OutputError` with a short reason. The engine re-asks on an :class:`OutputError`
a bounded number of times, then records the cell ``unparsed`` with the raw text.

* :class:`JsonOutput` wraps a pydantic model: the JSON object in the reply, validated. The JSON
  is read leniently (raw control characters such as a newline inside a string are accepted):
  the grammar llama.cpp builds from a schema's ``maxLength`` strings lets a model write them, and
  re-asking for a valid answer that only lacks an escape costs a whole call.
* :class:`TextOutput` wraps a function for replies that are not JSON (a guard model's
  ``unsafe\\nS11``): no schema is requested, the function decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from crisiseval.engine.cells import extract_json


class OutputError(ValueError):
    """A reply that cannot be used; ``reason`` goes into the re-ask and the cell's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class OutputParser(Protocol):
    name: str
    schema: dict[str, Any] | None

    def parse(self, text: str) -> dict[str, Any]: ...


class JsonOutput:
    """A JSON object validated by a pydantic model (its JSON schema is requested)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.name = model.__name__
        self.schema: dict[str, Any] | None = model.model_json_schema()

    def parse(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(extract_json(text), strict=False)
        except json.JSONDecodeError as exc:
            raise OutputError(
                f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        try:
            value = self.model.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise OutputError(f"{err['msg']}" + (f" at {loc}" if loc else "")) from None
        return value.model_dump(mode="json")


class TextOutput:
    """A reply that is not JSON, parsed by ``fn`` (which raises :class:`OutputError`)."""

    def __init__(self, name: str, fn: Callable[[str], dict[str, Any]]) -> None:
        self.name = name
        self.schema: dict[str, Any] | None = None
        self._fn = fn

    def parse(self, text: str) -> dict[str, Any]:
        return self._fn(text)


def as_parser(output: type[BaseModel] | OutputParser | None) -> OutputParser | None:
    """Accept a pydantic model class (the common case) or a parser."""
    if output is None or isinstance(output, OutputParser):
        return output
    return JsonOutput(output)
