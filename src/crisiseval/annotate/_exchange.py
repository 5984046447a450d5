"""Annotations in and out of the store: CSV and JSONL exports, and Label Studio JSON (tasks with
their annotations out; annotations made in Label Studio in).

Label Studio layout (a list of tasks, as Label Studio exports them):

* ``data``: ``text`` (the input's turns, one paragraph each), ``turns``, ``item_id``; scores and
  conversations tasks add ``response_id``, ``answer`` (or the conversation as ``text``) and
  ``category``;
* ``annotations``: per annotator, ``result`` holds the answer — labels: a ``choices`` result
  (``from_name`` ``label``); scores: a ``rating`` result (1-5) or a ``choices`` result ``"1"`` ..
  ``"5"`` (``from_name`` ``score``); optionally a ``textarea`` result ``note`` and a ``choices``
  result ``flag`` (``["flag"]``); ``was_cancelled`` is a skip;
* ``completed_by``: Label Studio's user — an object whose ``email``'s local part is the
  annotator's name (``alice@...`` -> ``alice``), or a number (user 3 -> ``ls3``).

:func:`label_studio_config` writes the labelling interface that produces exactly this. An
import is checked whole before anything is written (one line naming the file and the field on
the first problem) and then written in one transaction; an answer equal to the annotator's
current one is not written again, so importing a file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from crisiseval.annotate._answers import (
    ORIGIN,
    Answer,
    check_value,
    current_answers,
    record_answer,
)
from crisiseval.annotate._model import Project, Target, Task, check_annotator_name
from crisiseval.annotate._project import check_names_free, frames_for
from crisiseval.annotate._queue import item_labels, response_labels
from crisiseval.errors import InputError
from crisiseval.store import Store, item_id_for
from crisiseval.taxonomy import Rubric, Taxonomy
from crisiseval.textio import read_json

__all__ = [
    "EXPORT_COLUMNS",
    "ImportedAnswer",
    "annotation_rows",
    "apply_import",
    "label_studio_config",
    "label_studio_tasks",
    "read_label_studio",
    "to_csv",
    "to_jsonl",
]

EXPORT_COLUMNS = (
    "annotator",
    "task",
    "target_id",
    "item_id",
    "response_id",
    "category",
    "value",
    "note",
    "flagged",
    "skipped",
    "created_at",
)
LABEL_STUDIO_ORIGIN = ORIGIN + ":labelstudio"
_EMAIL_DOMAIN = "annotators.invalid"


# ------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class _Targets:
    """Every target the store can resolve for a task: item ids (labels) or response ids."""

    task: Task
    by_id: dict[str, Target]

    @classmethod
    def of(cls, store: Store, task: Task, project: Project | None) -> _Targets:
        known = {t.target_id: t for t in project.targets} if project else {}
        if task == "labels":
            items = store.item_turns()
            by_id = {i: known.get(i) or Target(target_id=i, item_id=i) for i in items}
            return cls(task, by_id)
        labels, judgments, responses = frames_for(store, task)
        by_item, _ = item_labels(labels, None)
        item_of = dict(
            zip(responses["response_id"].astype(str), responses["item_id"].astype(str), strict=True)
        )
        fallback = {rid: by_item[iid] for rid, iid in item_of.items() if iid in by_item}
        category = response_labels(judgments, fallback)
        by_id = {
            rid: known.get(rid)
            or Target(target_id=rid, item_id=iid, response_id=rid, label=category.get(rid))
            for rid, iid in item_of.items()
        }
        return cls(task, by_id)


# ------------------------------------------------------------------------------- CSV / JSONL
def annotation_rows(
    store: Store, task: Task, project: Project | None, *, history: bool = False
) -> list[dict[str, Any]]:
    """One row per annotation (``history``) or per annotator's current answer, in the order
    given; columns :data:`EXPORT_COLUMNS`."""
    targets = _Targets.of(store, task, project).by_id
    rows = []
    for r in store.annotations(task=task, latest=not history):
        t = targets.get(r.target_id)
        rows.append(
            {
                "annotator": r.annotator,
                "task": r.task,
                "target_id": r.target_id,
                "item_id": t.item_id if t else None,
                "response_id": t.response_id if t else None,
                "category": t.label if t and task != "labels" else None,
                "value": r.value,
                "note": r.note,
                "flagged": r.flagged,
                "skipped": r.skipped,
                "created_at": r.created_at,
            }
        )
    return rows


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in EXPORT_COLUMNS})
    return buf.getvalue()


def to_jsonl(rows: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows)


# ------------------------------------------------------------------------------- Label Studio out
def _conversation_text(turns: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"{'person' if role == 'user' else role}: {text}" for role, text in turns)


def label_studio_tasks(store: Store, task: Task, project: Project | None) -> list[dict[str, Any]]:
    """The project's queue (or, without a project, every annotated target) as Label Studio
    tasks, each with every annotator's current answer as an annotation."""
    answers = current_answers(store, task)
    resolved = _Targets.of(store, task, project).by_id
    if project is not None:
        targets = list(project.targets)
    else:
        ids = list(dict.fromkeys(t for _a, t in answers))
        targets = [resolved[t] for t in ids if t in resolved]
    turns = store.item_turns(sorted({t.item_id for t in targets}))
    rids = [t.response_id for t in targets if t.response_id]
    texts = store.response_texts() if task == "scores" else {}
    conversations = store.conversation_turns(rids) if task == "conversations" else {}
    by_target: dict[str, list[tuple[str, Any]]] = {}
    for (annotator, target_id), record in answers.items():
        by_target.setdefault(target_id, []).append((annotator, record))
    out = []
    for n, t in enumerate(targets, start=1):
        data: dict[str, Any] = {
            "text": "\n\n".join(turns.get(t.item_id, [])),
            "turns": turns.get(t.item_id, []),
            "item_id": t.item_id,
        }
        if task != "labels":
            data.update(response_id=t.response_id, category=t.label)
        if task == "scores":
            data["answer"] = texts.get(t.response_id or "") or ""
        if task == "conversations":
            conv = [(x.role, x.text or "") for x in conversations.get(t.response_id or "", [])]
            data["text"] = _conversation_text(conv)
        annotations = []
        for k, (annotator, record) in enumerate(sorted(by_target.get(t.target_id, [])), 1):
            annotations.append(
                {
                    "id": n * 1000 + k,
                    "completed_by": {"email": f"{annotator}@{_EMAIL_DOMAIN}"},
                    "result": _result(task, record.value, record.note, record.flagged),
                    "was_cancelled": record.skipped,
                    "created_at": record.created_at,
                }
            )
        out.append({"id": n, "data": data, "annotations": annotations})
    return out


def _result(task: Task, value: str | None, note: str | None, flagged: bool) -> list[Any]:
    to = "text" if task != "scores" else "answer"
    result: list[dict[str, Any]] = []
    if value is not None:
        if task == "labels":
            result.append(
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [value]},
                }
            )
        else:
            result.append(
                {
                    "from_name": "score",
                    "to_name": to,
                    "type": "rating",
                    "value": {"rating": int(value)},
                }
            )
    if note:
        result.append(
            {"from_name": "note", "to_name": to, "type": "textarea", "value": {"text": [note]}}
        )
    if flagged:
        result.append(
            {"from_name": "flag", "to_name": to, "type": "choices", "value": {"choices": ["flag"]}}
        )
    return result


def label_studio_config(task: Task, taxonomy: Taxonomy, rubric: Rubric) -> str:
    """The Label Studio labelling interface (XML) whose results :func:`read_label_studio`
    reads."""
    lines = ["<View>"]
    if task == "labels":
        lines.append('  <Header value="Message"/>')
        lines.append('  <Text name="text" value="$text"/>')
        lines.append('  <Header value="Crisis label"/>')
        lines.append('  <Choices name="label" toName="text" choice="single" required="true">')
        for d in taxonomy.labels:
            lines.append(f"    <Choice value={quoteattr(d.name)} hint={quoteattr(d.definition)}/>")
        lines.append("  </Choices>")
        to = "text"
    else:
        lines.append('  <Header value="Category: $category"/>')
        lines.append('  <Text name="text" value="$text"/>')
        if task == "scores":
            lines.append('  <Header value="The answer to score"/>')
            lines.append('  <Text name="answer" value="$answer"/>')
        to = "answer" if task == "scores" else "text"
        scale = "; ".join(f"{k} = {v}" for k, v in rubric.scale.items())
        lines.append(f"  <Header value={quoteattr('Score: ' + scale)}/>")
        lines.append(f'  <Rating name="score" toName="{to}" maxRating="5" required="true"/>')
    lines.append(f'  <Choices name="flag" toName="{to}" choice="multiple">')
    lines.append('    <Choice value="flag"/>')
    lines.append("  </Choices>")
    lines.append(f'  <TextArea name="note" toName="{to}" maxSubmissions="1" editable="true"/>')
    lines.append("</View>")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- Label Studio in
@dataclass(frozen=True)
class ImportedAnswer:
    annotator: str
    target: Target
    answer: Answer
    created_at: str
    where: str


class _Bad(Exception):
    """A problem at a field path of the file (turned into one InputError line)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")


def _field(
    obj: Any, key: str, where: str, kind: type | tuple[type, ...], *, need: bool = True
) -> Any:
    if not isinstance(obj, dict):
        raise _Bad(where, f"expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        if need:
            raise _Bad(f"{where}.{key}", "missing")
        return None
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
        raise _Bad(f"{where}.{key}", f"expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
        bool: "true or false",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in _tuple(kind)))


_LOCAL = re.compile(r"[^A-Za-z0-9_.-]+")


def _annotator(raw: Any, where: str) -> str:
    if isinstance(raw, bool) or raw is None:
        raise _Bad(where, "missing (Label Studio's user of the annotation)")
    if isinstance(raw, int):
        name = f"ls{raw}"
    elif isinstance(raw, dict):
        email = raw.get("email")
        if isinstance(email, str) and "@" in email:
            name = _LOCAL.sub("-", email.split("@", 1)[0]).strip("-.")
        elif isinstance(raw.get("id"), int) and not isinstance(raw.get("id"), bool):
            name = f"ls{raw['id']}"
        else:
            raise _Bad(where, "an object without an email or a numeric id")
    else:
        raise _Bad(where, f"expected a user id or a user object, got {type(raw).__name__}")
    try:
        return check_annotator_name(name)
    except InputError as exc:
        raise _Bad(where, str(exc)) from None


def _time(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Bad(where, f"expected a date and time, got {type(raw).__name__}")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(where, f"not a date and time: {raw!r}") from None
    return moment.isoformat(timespec="milliseconds")


def _target(data: Any, where: str, targets: _Targets) -> Target:
    if targets.task != "labels":
        rid = _field(data, "response_id", where, str)
        found = targets.by_id.get(rid)
        if found is None:
            kind = "conversation" if targets.task == "conversations" else "answer"
            raise _Bad(f"{where}.response_id", f"no {kind} {rid!r} in the store")
        return found
    iid = _field(data, "item_id", where, str, need=False)
    if iid is None:
        turns = _field(data, "turns", where, list, need=False)
        if turns is None:
            turns = [_field(data, "text", where, str)]
        if not all(isinstance(t, str) for t in turns):
            raise _Bad(f"{where}.turns", "expected a list of strings")
        iid = item_id_for(turns)
        if iid not in targets.by_id:
            raise _Bad(where, "no item_id, and its text matches no item in the store")
    found = targets.by_id.get(iid)
    if found is None:
        raise _Bad(f"{where}.item_id", f"no item {iid!r} in the store")
    return found


def _answer(
    annotation: Any, where: str, task: Task, taxonomy: Taxonomy
) -> tuple[Answer, str | None]:
    cancelled = _field(annotation, "was_cancelled", where, bool, need=False) or False
    results = _field(annotation, "result", where, list, need=False) or []
    value: str | None = None
    note: str | None = None
    flagged = False
    for k, res in enumerate(results):
        at = f"{where}.result[{k}]"
        kind = _field(res, "type", at, str)
        name = _field(res, "from_name", at, str, need=False) or ""
        body = _field(res, "value", at, dict)
        raw: Any = None
        if kind == "textarea":
            texts = _field(body, "text", f"{at}.value", list)
            note = "\n".join(str(t) for t in texts).strip() or None
            continue
        if kind == "choices":
            choices = _field(body, "choices", f"{at}.value", list)
            if name == "flag":
                flagged = "flag" in choices
                continue
            if len(choices) != 1:
                raise _Bad(f"{at}.value.choices", f"expected one choice, got {len(choices)}")
            raw = choices[0]
        elif kind == "rating" and task != "labels":
            raw = _field(body, "rating", f"{at}.value", (int, float))
        else:
            continue  # a control crisiseval does not read (Label Studio projects may add some)
        if value is not None:
            raise _Bad(at, "a second answer in one annotation")
        try:
            value = check_value(task, str(raw), taxonomy)
        except ValueError as exc:
            field = "choices" if kind == "choices" else "rating"
            raise _Bad(f"{at}.value.{field}", str(exc)) from None
    if note is not None and len(note) > 2000:
        raise _Bad(where, "the note is longer than 2000 characters")
    if not cancelled and value is None and not flagged:
        what = "label" if task == "labels" else "score"
        raise _Bad(f"{where}.result", f"no {what} (and not skipped or flagged)")
    created = _time(
        annotation.get("updated_at") or annotation.get("created_at"), f"{where}.created_at"
    )
    if cancelled:
        return Answer(note=note, flagged=flagged, skipped=True), created
    return Answer(value=value, note=note, flagged=flagged), created


def read_label_studio(
    path: Path,
    store: Store,
    task: Task,
    taxonomy: Taxonomy,
    project: Project | None = None,
) -> list[ImportedAnswer]:
    """Every annotation of a Label Studio JSON export, checked (nothing is written)."""
    document = read_json(path)
    targets = _Targets.of(store, task, project)
    out: list[ImportedAnswer] = []
    try:
        if not isinstance(document, list):
            raise _Bad("(top)", f"expected a list of tasks, got {type(document).__name__}")
        for i, entry in enumerate(document):
            where = f"[{i}]"
            data = _field(entry, "data", where, dict)
            target = _target(data, f"{where}.data", targets)
            annotations = _field(entry, "annotations", where, list, need=False) or []
            for j, annotation in enumerate(annotations):
                at = f"{where}.annotations[{j}]"
                name = _annotator(
                    _field(annotation, "completed_by", at, (int, dict)), f"{at}.completed_by"
                )
                answer, created = _answer(annotation, at, task, taxonomy)
                out.append(ImportedAnswer(name, target, answer, created or "", at))
    except _Bad as exc:
        raise InputError(f"{path}: {exc}") from None
    seen: dict[tuple[str, str], str] = {}
    for a in out:
        key = (a.annotator, a.target.target_id)
        if key in seen and not a.created_at:
            raise InputError(
                f"{path}: {a.where}: a second annotation by {a.annotator} of the same task "
                f"without a time (first at {seen[key]}): which one is current?"
            )
        seen[key] = a.where
    return out


def apply_import(store: Store, task: Task, answers: Sequence[ImportedAnswer]) -> tuple[int, int]:
    """Write ``answers`` (oldest first) in one transaction; (written, unchanged)."""
    check_names_free(store, task, sorted({a.annotator for a in answers}))
    current = current_answers(store, task)
    written = unchanged = 0
    ordered = sorted(answers, key=lambda a: a.created_at)
    with store.transaction():
        for a in ordered:
            key = (a.annotator, a.target.target_id)
            now = current.get(key)
            if now is not None and a.answer.same_as(now):
                unchanged += 1
                continue
            current[key] = record_answer(
                store,
                task,
                a.annotator,
                a.target,
                a.answer,
                created_at=a.created_at or None,
                origin=LABEL_STUDIO_ORIGIN,
            )
            written += 1
    return written, unchanged
