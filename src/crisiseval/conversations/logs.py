"""Conversations from a product's logs: JSONL, one conversation per line, in the OpenAI chat
``messages`` format, judged by the same conversation judge and reported the same way.

A line: ``{"messages": [{"role": "system"|"developer"|"user"|"assistant", "content": ...}, ...],
"id": "optional name", "label": "optional crisis label", "respondent": "optional name"}``.
``content`` is a string or a list of ``{"type": "text", "text": ...}`` parts. Every problem is
``FILE:LINE: what was expected``; :func:`read_log` raises on the first unless told to skip bad
lines (then it returns them as errors beside the good ones).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisiseval.errors import InputError
from crisiseval.store import ResponseRecord, Store, TurnRecord, response_id_for
from crisiseval.taxonomy import LABELS, canonical_label
from crisiseval.textio import read_text

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_SKIPPED_ROLES = frozenset({"tool", "function"})
"""Tool results are part of a product's log, not of the conversation the person saw."""


@dataclass(frozen=True)
class LogConversation:
    line: int
    name: str
    turns: tuple[tuple[str, str], ...]
    """(role, text): system, user or assistant."""
    label: str | None
    respondent: str

    @property
    def item_id(self) -> str:
        blob = json.dumps([list(t) for t in self.turns], ensure_ascii=False)
        return "lg_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts: list[str] = []
        for j, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise InputError(f"{where}[{j}]: expected a text part {{'type': 'text', ...}}")
            if not isinstance(part.get("text"), str):
                raise InputError(f"{where}[{j}].text: expected a string")
            parts.append(part["text"])
        return "\n".join(parts)
    raise InputError(f"{where}: expected a string or a list of text parts")


def parse_line(raw: str, line: int, where: str) -> LogConversation:
    """One log line; raises InputError naming ``where`` (``FILE:LINE``) and the field."""
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(rec, dict):
        raise InputError(f"{where}: expected a JSON object with 'messages'")
    unknown = sorted(set(rec) - {"messages", "id", "label", "respondent", "metadata"})
    if unknown:
        raise InputError(f"{where}: field {unknown[0]}: unknown field (typo?)")
    messages = rec.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError(f"{where}: field messages: expected a non-empty list of messages")
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        at = f"{where}: field messages[{i}]"
        if not isinstance(m, dict):
            raise InputError(f"{at}: expected an object with role and content")
        role = m.get("role")
        if role in _SKIPPED_ROLES:
            continue
        if role not in _ROLES:
            raise InputError(
                f"{at}.role: expected system, developer, user, assistant or tool, got {role!r}"
            )
        if role == "assistant" and m.get("content") is None and m.get("tool_calls"):
            continue  # a tool call only: the person saw nothing
        turns.append((_ROLES[role], _content(m.get("content"), f"{at}.content")))
    roles = [r for r, _t in turns]
    if "user" not in roles or "assistant" not in roles:
        raise InputError(
            f"{where}: field messages: expected at least one user and one assistant message"
        )
    label = rec.get("label")
    if label is not None:
        if not isinstance(label, str) or canonical_label(label) is None:
            raise InputError(
                f"{where}: field label: unknown label {label!r} (expected one of "
                f"{', '.join(LABELS)})"
            )
        label = canonical_label(label)
    name = rec.get("id", f"line {line}")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)
    respondent = rec.get("respondent", "log")
    for field, value in (("id", name), ("respondent", respondent)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}: field {field}: expected a non-empty string")
    return LogConversation(line, str(name), tuple(turns), label, str(respondent))


def read_log(path: Path, *, skip_bad: bool = False) -> tuple[list[LogConversation], list[str]]:
    """The conversations of a JSONL file, and the errors of the lines skipped (``skip_bad``)."""
    text = read_text(path)
    good: list[LogConversation] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            good.append(parse_line(raw, n, f"{path}:{n}"))
        except InputError as exc:
            if not skip_bad:
                raise
            errors.append(str(exc))
    if not good:
        raise InputError(
            f"{path}: no conversation to judge" + (" (every line was bad)" if errors else "")
        )
    seen: dict[str, int] = {}
    same: dict[tuple[str, str], int] = {}
    for c in good:
        if c.name in seen:
            raise InputError(
                f"{path}:{c.line}: field id: {c.name!r} is used twice "
                f"(first at line {seen[c.name]})"
            )
        seen[c.name] = c.line
        key = (c.item_id, c.respondent)
        if key in same:
            raise InputError(
                f"{path}:{c.line}: the same conversation and respondent as line {same[key]}"
            )
        same[key] = c.line
    return good, errors


def store_log(store: Store, path: Path, conversations: Sequence[LogConversation]) -> list[str]:
    """Add the conversations as items and conversation responses (run 1 of their respondent),
    and a sample ``log:<file stem>`` whose recipe keeps each one's id and label; return the
    response ids."""
    origin = f"log:{path.name}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    records: list[ResponseRecord] = []
    with store.transaction():
        ids = store.add_items(
            [([t for r, t in c.turns if r == "user"], origin, c.label) for c in conversations],
            origin="conversation-log",
            item_ids=[c.item_id for c in conversations],
        )
        for c, iid in zip(conversations, ids, strict=True):
            transcript = "\n".join(
                f"{'User' if r == 'user' else 'Assistant'}: {t}"
                for r, t in c.turns
                if r != "system"
            )
            records.append(
                ResponseRecord(
                    response_id=response_id_for(iid, c.respondent, 1),
                    item_id=iid,
                    respondent=c.respondent,
                    run_index=1,
                    text=transcript,
                    status="ok",
                    origin=origin,
                    kind="conversation",
                    turns=tuple(
                        TurnRecord(index=i, role=r, text=t) for i, (r, t) in enumerate(c.turns)
                    ),
                )
            )
        store.upsert_responses(records)
        # Imported again: conversations no longer in the file go, with their judgments.
        now = {r.response_id for r in records}
        store.delete_responses(
            [rid for rid, _iid in store.response_items(origin) if rid not in now]
        )
        recipe = {
            "kind": "conversation-log",
            "file": path.name,
            "sha256": digest,
            "personas": {
                iid: {"persona": c.name, "label": c.label, "line": c.line}
                for c, iid in zip(conversations, ids, strict=True)
            },
        }
        store.save_sample(f"log:{path.stem}", list(dict.fromkeys(ids)), recipe, replace=True)
    return [r.response_id for r in records]
