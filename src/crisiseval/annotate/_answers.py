"""An annotator's answer, and how it is kept: one append-only
:class:`~crisiseval.store.AnnotationRecord` (annotator, time, value, note, flag, skip) and, in the
same transaction, the ordinary human record it stands for — so ``agreement``, ``judge-validity``
and ``report`` read annotations with no extra step, as they read the study's imported experts:

* labels task: the :class:`~crisiseval.store.LabelRecord` of rater ``human:<annotator>``
  (rater kind ``human``, run 0) for the item;
* scores and conversations tasks: the :class:`~crisiseval.store.JudgmentRecord` of judge
  ``human:<annotator>`` (judge kind ``human``, run 0) for the response, under the response's
  category, the note as its explanation.

A skip, or a flag without a value, removes that label or score: the latest annotation is the
annotator's current answer, and the human record always matches it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from crisiseval.annotate._model import Target, Task
from crisiseval.store import (
    AnnotationRecord,
    JudgmentRecord,
    LabelRecord,
    RaterId,
    Store,
    now_iso,
)
from crisiseval.taxonomy import Taxonomy, canonical_label

__all__ = [
    "ORIGIN",
    "SCORES",
    "Answer",
    "check_value",
    "current_answers",
    "human_name",
    "record_answer",
]

ORIGIN = "annotate"
"""The origin of the labels and judgments the app writes (an import adds ``:<source>``)."""
SCORES: tuple[str, ...] = ("1", "2", "3", "4", "5")
NOTE_CHARS = 2000


class Answer(BaseModel):
    """What an annotator gave one target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str | None = None
    note: str | None = Field(default=None, max_length=NOTE_CHARS)
    flagged: bool = False
    skipped: bool = False

    def same_as(self, record: AnnotationRecord) -> bool:
        return (self.value, self.note, self.flagged, self.skipped) == (
            record.value,
            record.note,
            record.flagged,
            record.skipped,
        )


def human_name(annotator: str) -> str:
    """The rater (labels) and judge (scores) name of an annotator: ``human:<annotator>``."""
    return str(RaterId("human", annotator))


def check_value(task: Task, raw: str, taxonomy: Taxonomy) -> str:
    """The canonical value of an answer (a label name, or a score 1-5); ValueError saying what
    is allowed otherwise."""
    text = raw.strip()
    if task == "labels":
        if text in taxonomy.names:
            return text
        known = canonical_label(text)
        if known is not None and known in taxonomy.names:
            return known
        raise ValueError(f"unknown label {raw!r} (allowed: {', '.join(taxonomy.names)})")
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number.is_integer() and 1 <= number <= 5:
        return str(int(number))
    raise ValueError(f"score {raw!r} is not a whole number from 1 to 5")


def record_answer(
    store: Store,
    task: Task,
    annotator: str,
    target: Target,
    answer: Answer,
    *,
    created_at: str | None = None,
    origin: str = ORIGIN,
) -> AnnotationRecord:
    """Keep ``answer`` (already checked with :func:`check_value`): the annotation and the human
    label or score it stands for, all or nothing."""
    value = None if answer.skipped else answer.value
    record = AnnotationRecord(
        annotator=annotator,
        task=task,
        target_id=target.target_id,
        value=value,
        note=answer.note or None,
        flagged=answer.flagged,
        skipped=answer.skipped,
        created_at=created_at or now_iso(),
    )
    name = human_name(annotator)
    with store.transaction():
        store.add_annotation(record)
        if task == "labels":
            if value is None:
                store.delete_labels([(name, target.item_id)])
            else:
                store.upsert_labels(
                    [
                        LabelRecord(
                            rater=name,
                            rater_kind="human",
                            run_index=0,
                            item_id=target.item_id,
                            label=value,
                            status="ok",
                            explanation=record.note,
                            origin=origin,
                        )
                    ]
                )
        else:
            response_id = target.response_id or target.target_id
            if value is None:
                store.delete_judgments([(response_id, name, 0)])
            else:
                store.upsert_judgments(
                    [
                        JudgmentRecord(
                            response_id=response_id,
                            judge=name,
                            judge_kind="human",
                            run_index=0,
                            label=target.label,
                            score=float(value),
                            explanation=record.note,
                            status="ok",
                            origin=origin,
                        )
                    ]
                )
    return record


def current_answers(
    store: Store, task: Task, annotators: Iterable[str] | None = None
) -> dict[tuple[str, str], AnnotationRecord]:
    """(annotator, target id) -> the annotator's current answer (its latest annotation), for
    ``annotators`` (default: everyone)."""
    wanted = set(annotators) if annotators is not None else None
    return {
        (r.annotator, r.target_id): r
        for r in store.annotations(task=task, latest=True)
        if wanted is None or r.annotator in wanted
    }
