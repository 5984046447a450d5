"""Typed records of the run store: one model per record kind, and the rules they own.

Two conventions live here and nowhere else:

* **Run numbering.** Cells count runs from 0 (``CallSpec.run_index``); records number them from 1,
  as the study's released files do, with 0 for humans, majorities and consensus labels.
  :func:`record_run` / :func:`cell_run` convert.
* **Status mapping.** A cell ends ``done``, ``unparsed`` or ``failed`` (or is still ``pending`` /
  ``submitted``); a record's status is ``ok``, ``unparsed`` or ``failed``. :func:`record_status`
  is the one mapping; a cell that has not finished gives no record at all.

Identities that used to be strings parsed in several places (``majority:gpt-4o-mini``,
``human:H1``, ``consensus:human``) are a :class:`RaterId` with one parser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CellStatus = Literal["pending", "submitted", "done", "failed", "unparsed"]
CELL_STATUSES: tuple[CellStatus, ...] = ("pending", "submitted", "done", "failed", "unparsed")
FINISHED: frozenset[str] = frozenset({"done", "unparsed", "failed"})
"""Cell statuses that give a record (a pending or submitted cell has no result yet)."""

RecordStatus = Literal["ok", "unparsed", "failed"]
LabelStatus = Literal["ok", "unparsed", "failed", "tie", "none"]
RaterKind = Literal["human", "model_run", "majority", "consensus"]
JudgeKind = Literal["model", "human"]
ResponseKind = Literal["single", "conversation"]

_STATUS: dict[str, RecordStatus] = {"done": "ok", "unparsed": "unparsed", "failed": "failed"}


def record_status(cell_status: str) -> RecordStatus | None:
    """The record status of a finished cell; None while the cell has no result."""
    return _STATUS.get(cell_status)


def record_run(cell_run_index: int) -> int:
    """Cells count runs from 0, records from 1."""
    return cell_run_index + 1


def cell_run(record_run_index: int) -> int:
    return record_run_index - 1


def item_id_for(turns: Sequence[str]) -> str:
    """Stable id of an item: a hash of its turns (the study identifies items by their turns)."""
    blob = json.dumps(list(turns), ensure_ascii=False, separators=(",", ":"))
    return "it_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def response_id_for(item_id: str, respondent: str, run_index: int) -> str:
    """Id of a respondent's answer to an item in one run (``run_index`` numbered from 1)."""
    blob = json.dumps([item_id, respondent, run_index], separators=(",", ":"))
    return "rs_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class RaterId:
    """Who gave a label: ``majority:NAME``, ``consensus:NAME``, ``human:NAME`` or a model run's
    classifier ``NAME`` (kind ``model_run``)."""

    kind: RaterKind
    name: str

    @classmethod
    def parse(cls, text: str) -> RaterId:
        prefix, sep, rest = text.partition(":")
        if sep and rest and prefix in ("majority", "consensus", "human"):
            return cls(prefix, rest)  # type: ignore[arg-type]
        return cls("model_run", text)

    @classmethod
    def majority(cls, classifier: str) -> RaterId:
        return cls("majority", classifier)

    def __str__(self) -> str:
        return self.name if self.kind == "model_run" else f"{self.kind}:{self.name}"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemRecord(_Record):
    item_id: str
    turns: list[str]
    source: str | None = None
    source_label: str | None = None
    origin: str


class LabelRecord(_Record):
    """A crisis label of an item by one rater (one classifier run, a majority, a human)."""

    rater: str
    rater_kind: RaterKind
    run_index: int = Field(ge=0)
    item_id: str
    label: str | None = None
    status: LabelStatus
    explanation: str | None = None
    cell_key: str | None = None
    origin: str
    detail: dict[str, Any] | None = None
    """Classifier output beyond the label (e.g. a guard model's categories or probabilities)."""

    @classmethod
    def from_cell(
        cls,
        *,
        classifier: str,
        cell_run_index: int,
        item_id: str,
        cell_status: str,
        parsed: dict[str, Any] | None,
        cell_key: str,
        origin: str = "classify",
    ) -> LabelRecord | None:
        """The label of one classifier run's cell; None while the cell has no result."""
        status = record_status(cell_status)
        if status is None:
            return None
        ok = status == "ok" and parsed is not None
        value = parsed or {}
        detail = {k: v for k, v in value.items() if k not in ("label", "explanation")}
        return cls(
            rater=classifier,
            rater_kind="model_run",
            run_index=record_run(cell_run_index),
            item_id=item_id,
            label=str(value["label"]) if ok else None,
            status=status if (ok or status != "ok") else "unparsed",
            explanation=value.get("explanation") if ok else None,
            cell_key=cell_key,
            origin=origin,
            detail=detail or None,
        )

    @classmethod
    def majority(
        cls, classifier: str, item_id: str, label: str | None, status: LabelStatus
    ) -> LabelRecord:
        return cls(
            rater=str(RaterId.majority(classifier)),
            rater_kind="majority",
            run_index=0,
            item_id=item_id,
            label=label,
            status=status,
            origin="classify",
        )


class TurnRecord(_Record):
    """One turn of a conversation response (``role`` user or assistant)."""

    index: int = Field(ge=0)
    role: Literal["user", "assistant", "system"]
    text: str | None
    cell_key: str | None = None


class ResponseRecord(_Record):
    """A respondent's answer to an item in one run; a conversation keeps its turns."""

    response_id: str
    item_id: str
    respondent: str
    run_index: int = Field(ge=1)
    text: str | None = None
    status: Literal["ok", "failed"]
    tokens_out: int | None = None
    cell_key: str | None = None
    origin: str
    kind: ResponseKind = "single"
    turns: tuple[TurnRecord, ...] = ()

    @classmethod
    def make(
        cls,
        *,
        item_id: str,
        respondent: str,
        run_index: int,
        text: str | None,
        status: Literal["ok", "failed"],
        origin: str,
        cell_key: str | None = None,
        tokens_out: int | None = None,
    ) -> ResponseRecord:
        """A single-turn response, its id derived from (item, respondent, run from 1)."""
        return cls(
            response_id=response_id_for(item_id, respondent, run_index),
            item_id=item_id,
            respondent=respondent,
            run_index=run_index,
            text=text if status == "ok" else None,
            status=status,
            tokens_out=tokens_out,
            cell_key=cell_key,
            origin=origin,
        )

    @classmethod
    def from_cell(
        cls,
        *,
        respondent: str,
        cell_run_index: int,
        item_id: str,
        cell_status: str,
        text: str | None,
        cell_key: str,
    ) -> ResponseRecord | None:
        """The answer in one respondent cell; None while the cell has no result. A respondent's
        answer is free text, so a finished cell is either an answer or a failure."""
        status = record_status(cell_status)
        if status is None:
            return None
        return cls.make(
            item_id=item_id,
            respondent=respondent,
            run_index=record_run(cell_run_index),
            text=text,
            status="ok" if status == "ok" else "failed",
            origin="respond",
            cell_key=cell_key,
        )


class JudgmentRecord(_Record):
    """A 1-5 score of a response by a judge (one model judge run, or a human)."""

    response_id: str
    judge: str
    judge_kind: JudgeKind
    run_index: int = Field(ge=0)
    label: str | None = None
    score: float | None = None
    explanation: str | None = None
    status: RecordStatus
    cell_key: str | None = None
    origin: str
    detail: dict[str, Any] | None = None
    """Structured judge output beyond the score (e.g. per-turn flags of a conversation)."""

    @classmethod
    def from_cell(
        cls,
        *,
        response_id: str,
        judge: str,
        cell_run_index: int,
        label: str | None,
        cell_status: str,
        parsed: dict[str, Any] | None,
        cell_key: str,
    ) -> JudgmentRecord | None:
        status = record_status(cell_status)
        if status is None:
            return None
        value = parsed or {}
        ok = status == "ok" and "score" in value
        detail = {k: v for k, v in value.items() if k not in ("score", "explanation")}
        return cls(
            response_id=response_id,
            judge=judge,
            judge_kind="model",
            run_index=record_run(cell_run_index),
            label=label,
            score=float(value["score"]) if ok else None,
            explanation=value.get("explanation"),
            status=status if (ok or status != "ok") else "unparsed",
            cell_key=cell_key,
            origin="judge",
            detail=detail or None,
        )


Intent = Literal["risky", "benign"]


class ProbeRecord(_Record):
    """One probe of a probe suite, pointing at the item that holds its turns."""

    suite: str
    probe_id: str
    item_id: str
    version: int = Field(ge=1)
    label: str
    intent: Intent
    pair: str | None = None
    locale: str | None = None
    language: str
    expected: str
    translates: str | None = None


class BehaviourRecord(_Record):
    """The behaviour code a behaviour judge gave one response in one run."""

    response_id: str
    judge: str
    run_index: int = Field(ge=1)
    behaviour: str | None = None
    explanation: str | None = None
    status: RecordStatus
    cell_key: str | None = None
    origin: str = "behaviour"

    @classmethod
    def from_cell(
        cls,
        *,
        response_id: str,
        judge: str,
        cell_run_index: int,
        cell_status: str,
        parsed: dict[str, Any] | None,
        cell_key: str,
    ) -> BehaviourRecord | None:
        """The behaviour in one judge cell; None while the cell has no result."""
        status = record_status(cell_status)
        if status is None:
            return None
        value = parsed or {}
        ok = status == "ok" and "behaviour" in value
        return cls(
            response_id=response_id,
            judge=judge,
            run_index=record_run(cell_run_index),
            behaviour=str(value["behaviour"]) if ok else None,
            explanation=value.get("explanation") if ok else None,
            status=status if (ok or status != "ok") else "unparsed",
            cell_key=cell_key,
        )


AnnotationTask = Literal["labels", "scores", "conversations"]


class AnnotationRecord(_Record):
    """One answer of a human annotator. Annotations are append-only: a changed answer is a new
    record, and the latest per (annotator, task, target) is the annotator's current answer."""

    annotator: str
    task: AnnotationTask
    target_id: str
    """An item id (labels task) or a response id (scores and conversations tasks)."""
    value: str | None = None
    note: str | None = None
    flagged: bool = False
    skipped: bool = False
    created_at: str


BatchState = Literal[
    "submitted",
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelled",
]


class BatchRecord(_Record):
    """A provider batch holding submitted cells (cells point to it by ``batch_id``)."""

    batch_id: str
    model: str
    endpoint: str
    state: BatchState
    n_cells: int = Field(ge=0)
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    created_at: str
    updated_at: str
