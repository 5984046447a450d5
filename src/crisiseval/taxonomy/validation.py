"""Helpers that turn bad data files into one-line :class:`InputError` messages.

* :func:`input_error_from_validation` turns a pydantic ``ValidationError`` into one line naming
  the file, the field path (``levels.self_harm.3``) and what was expected.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from crisiseval.errors import InputError


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) into single spaces."""
    return " ".join(text.split())


def format_loc(loc: Sequence[int | str], model: type[BaseModel] | None = None) -> str:
    """``("labels", 2, "name")`` -> ``labels[2].name``; with ``model``, an int key of a dict
    is written ``.2`` (``levels.self_harm.3``) rather than like a list index."""
    out = ""
    annotation: Any = model
    for part in loc:
        container, annotation = _step(annotation, part)
        if container == "list" or (container is None and isinstance(part, int)):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "top level"


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to the interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if args else None
        else:
            return annotation


def _step(annotation: Any, part: int | str) -> tuple[str | None, Any]:
    """What ``part`` indexes into ("model", "list", "dict" or None) and the type found there."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return "model", (field.annotation if field is not None else None)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return "list", args[0]
    if origin is dict and len(args) == 2:
        return "dict", args[1]
    return None, None


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    """The keys allowed in the mapping at ``loc`` (walking nested models), if known."""
    annotation: Any = model
    for part in loc:
        _container, annotation = _step(annotation, part)
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return None


def _describe(err: ErrorDetails, model: type[BaseModel] | None) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        hint = f" (allowed keys: {', '.join(allowed)})" if allowed else ""
        return f"{format_loc(loc[:-1], model)}: unknown key {str(loc[-1])!r}{hint}"
    if kind == "missing":
        return f"{format_loc(loc, model)}: required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif "input" in err and kind not in ("model_type", "dict_type", "list_type"):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{msg}, got {shown}"
    return f"{format_loc(loc, model)}: {msg}"


def input_error_from_validation(
    exc: ValidationError, *, where: str, model: type[BaseModel] | None = None
) -> InputError:
    """One-line :class:`InputError` for a pydantic ValidationError (file + field + expectation).

    ``model`` (the validated class) lets the message list the allowed keys after a typo.
    """
    errors = exc.errors()
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return InputError(f"{where}: invalid content")
    # a typo'd key also makes the intended key "missing": report the typo first
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    text = _describe(errors[0], model)
    if len(errors) > 1:
        more = len(errors) - 1
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InputError(one_line(f"{where}: {text}"))
