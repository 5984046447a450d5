"""The annotation project of one task, as the run store keeps it (``meta`` key
``annotate:<task>``): the queue of targets, each annotator's and the admin's token hash, and the
open sessions (hashed too). No secret is ever stored: a token or session id is shown once and
only its sha256 is kept, so a copy of the store cannot open the app.

Answers are not kept here: each is an :class:`~crisiseval.store.AnnotationRecord` (append-only)
plus the human label or score it stands for (see :mod:`crisiseval.annotate._answers`).
"""

from __future__ import annotations

import re
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crisiseval.errors import InputError, StoreError
from crisiseval.store import Store
from crisiseval.store.records import AnnotationTask

__all__ = [
    "ADMIN",
    "FORMAT",
    "STRATEGIES",
    "TASKS",
    "Project",
    "QueueSpec",
    "Session",
    "Strategy",
    "Target",
    "Task",
    "check_annotator_name",
    "load_project",
    "meta_key",
    "save_project",
]

Task = AnnotationTask
TASKS: tuple[Task, ...] = ("labels", "scores", "conversations")
Strategy = Literal["lowest", "disagreement", "stratified", "random"]
STRATEGIES: tuple[Strategy, ...] = ("lowest", "disagreement", "stratified", "random")
FORMAT: Final = "crisiseval-annotate/1"
ADMIN = "@admin"
"""The principal of an admin session (no annotator name can contain ``@``)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_RESERVED = frozenset({"admin", "all"})


def check_annotator_name(name: str) -> str:
    """``name`` if it can be an annotator's name (it becomes the rater ``human:<name>``), else an
    :class:`InputError` saying why."""
    if not _NAME.match(name):
        raise InputError(
            f"annotator name {name!r}: use 1-40 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit"
        )
    if name.lower() in _RESERVED:
        raise InputError(f"annotator name {name!r} is reserved (admin links are made for you)")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """One thing to annotate: an item (labels task) or a response (scores, conversations)."""

    target_id: str
    """The item id (labels) or the response id (scores, conversations)."""
    item_id: str
    response_id: str | None = None
    label: str | None = None
    """The category: the rubric a response is scored under (never shown in the labels task,
    where it is only the stratum the queue drew the item from)."""


class QueueSpec(_Model):
    """How the queue was built (kept so a restart can say what it serves)."""

    strategy: Strategy
    sample: str | None = None
    n: int | None = Field(default=None, ge=1)
    seed: int = 0
    judge: str | None = None
    """The judge whose scores ranked the queue (lowest) — never shown to annotators."""
    labels_from: str | None = None


class Session(_Model):
    principal: str
    """An annotator's name, or :data:`ADMIN`."""
    created_at: str


class Project(_Model):
    format: Literal["crisiseval-annotate/1"] = FORMAT
    task: Task
    queue: QueueSpec
    targets: tuple[Target, ...]
    annotators: dict[str, str]
    """Annotator name -> sha256 of its token."""
    admin: str
    """sha256 of the admin token."""
    sessions: dict[str, Session] = Field(default_factory=dict)
    """sha256 of a session id -> who holds it."""
    created_at: str

    def target(self, target_id: str) -> Target | None:
        for t in self.targets:
            if t.target_id == target_id:
                return t
        return None


def meta_key(task: Task) -> str:
    return f"annotate:{task}"


def load_project(store: Store, task: Task) -> Project | None:
    """The stored project of ``task``, or None."""
    raw = store.meta_value(meta_key(task))
    if raw is None:
        return None
    try:
        return Project.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise StoreError(
            f"{store.path}: the annotation project of task {task} is unreadable ({where}: "
            f"{first['msg']}); start it again with --new-queue"
        ) from None


def save_project(store: Store, project: Project) -> None:
    store.set_meta(meta_key(project.task), project.model_dump_json())
