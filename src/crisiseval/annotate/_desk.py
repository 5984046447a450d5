"""What the web app does with the store: sessions, each annotator's queue and answers, the
item pages' content, saving an answer, the admin page's progress and agreement.

One :class:`Desk` per server, used from the server's event loop only (the store's SQLite
connection belongs to the thread that opened it). Everything an annotator sees is scoped to its
own name: no method takes another annotator's name from a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from crisiseval.annotate._answers import (
    SCORES,
    Answer,
    current_answers,
    record_answer,
)
from crisiseval.annotate._live import live_agreement
from crisiseval.annotate._model import (
    ADMIN,
    Project,
    Session,
    Target,
    Task,
    load_project,
    save_project,
)
from crisiseval.annotate._project import frames_for
from crisiseval.annotate._queue import annotator_order
from crisiseval.annotate._tokens import digest, new_secret, same
from crisiseval.errors import StoreError
from crisiseval.sections import Section
from crisiseval.store import AnnotationRecord, Store, now_iso
from crisiseval.taxonomy import Rubric, Taxonomy

__all__ = ["Choice", "Desk", "ItemView", "Progress", "Turn"]

_SESSIONS_PER_PRINCIPAL = 20


@dataclass(frozen=True)
class Progress:
    total: int
    answered: int
    skipped: int
    flagged: int
    last: str | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.answered - self.skipped

    @property
    def done(self) -> int:
        return self.answered + self.skipped


@dataclass(frozen=True)
class Turn:
    role: str
    text: str


@dataclass(frozen=True)
class Choice:
    value: str
    key: str | None
    """Its keyboard shortcut (1-9)."""
    title: str
    text: str


@dataclass(frozen=True)
class ItemView:
    """One item page (all text is dataset text: the templates escape it)."""

    target: Target
    position: int
    total: int
    prev_id: str | None
    next_id: str | None
    turns: list[Turn]
    """The input: the user's turns."""
    answer: str | None
    """The answer to score (scores task)."""
    conversation: list[Turn]
    """The whole conversation (conversations task)."""
    category: str | None
    """The title of the category whose rubric is shown (scores, conversations)."""
    choices: list[Choice]
    current: AnnotationRecord | None


@dataclass(frozen=True)
class AdminRow:
    annotator: str
    progress: Progress


@dataclass(frozen=True)
class AdminView:
    project: Project
    rows: list[AdminRow]
    agreement: Section
    flagged: list[AnnotationRecord] = field(default_factory=list)


class Desk:
    """The annotation project of one task, served from one store."""

    def __init__(self, store: Store, task: Task, taxonomy: Taxonomy, rubric: Rubric) -> None:
        project = load_project(store, task)
        if project is None:
            raise StoreError(
                f"{store.path}: no annotation project for task {task} (`crisiseval annotate` "
                "makes one)"
            )
        self.store = store
        self.task = task
        self.taxonomy = taxonomy
        self.rubric = rubric
        self.project = project
        self._by_id = {t.target_id: t for t in project.targets}
        self._orders: dict[str, list[Target]] = {}
        items = sorted({t.item_id for t in project.targets})
        self._turns = store.item_turns(items)
        self._answers: dict[str, str | None] = {}
        self._conversations: dict[str, list[Turn]] = {}
        rids = [t.response_id for t in project.targets if t.response_id]
        if task == "scores":
            texts = store.response_texts()
            self._answers = {rid: texts.get(rid) for rid in rids}
        elif task == "conversations":
            for rid, turns in store.conversation_turns(rids).items():
                self._conversations[rid] = [Turn(t.role, t.text or "") for t in turns]

    # ---------------------------------------------------------------- sessions
    def login(self, token: str) -> tuple[str, str] | None:
        """(principal, new session id) for a valid link token; None otherwise."""
        hashed = digest(token)
        principal = None
        if self.project.admin and same(hashed, self.project.admin):
            principal = ADMIN
        for name, known in self.project.annotators.items():
            if same(hashed, known):
                principal = name
        if principal is None:
            return None
        session_id = new_secret()
        mine = [k for k, s in self.project.sessions.items() if s.principal == principal]
        keep = {
            k: s
            for k, s in self.project.sessions.items()
            if k not in mine[: max(0, len(mine) - _SESSIONS_PER_PRINCIPAL + 1)]
        }
        keep[digest(session_id)] = Session(principal=principal, created_at=now_iso())
        self._save(self.project.model_copy(update={"sessions": keep}))
        return principal, session_id

    def principal(self, session_id: str | None) -> str | None:
        """Who holds ``session_id`` (an annotator's name or ADMIN), or None."""
        if not session_id:
            return None
        session = self.project.sessions.get(digest(session_id))
        if session is None:
            return None
        if session.principal != ADMIN and session.principal not in self.project.annotators:
            return None
        return session.principal

    def logout(self, session_id: str) -> None:
        sessions = dict(self.project.sessions)
        if sessions.pop(digest(session_id), None) is not None:
            self._save(self.project.model_copy(update={"sessions": sessions}))

    def _save(self, project: Project) -> None:
        save_project(self.store, project)
        self.project = project

    # ---------------------------------------------------------------- an annotator's work
    def target(self, target_id: str) -> Target | None:
        return self._by_id.get(target_id)

    def order(self, annotator: str) -> list[Target]:
        if annotator not in self._orders:
            self._orders[annotator] = annotator_order(
                self.project.targets, self.project.queue.seed, annotator
            )
        return self._orders[annotator]

    def answers(self, annotator: str) -> dict[str, AnnotationRecord]:
        """Target id -> the annotator's current answer (targets of this queue only)."""
        return {
            target: record
            for (_who, target), record in current_answers(
                self.store, self.task, [annotator]
            ).items()
            if target in self._by_id
        }

    def progress(self, annotator: str) -> Progress:
        return _progress(self.answers(annotator).values(), len(self.project.targets))

    def first_open(self, annotator: str) -> Target | None:
        """The first target in the annotator's order without an answer or a skip."""
        answers = self.answers(annotator)
        for t in self.order(annotator):
            record = answers.get(t.target_id)
            if record is None or (record.value is None and not record.skipped):
                return t
        return None

    def view(self, annotator: str, target: Target) -> ItemView:
        order = self.order(annotator)
        index = next(i for i, t in enumerate(order) if t.target_id == target.target_id)
        rid = target.response_id or ""
        category = None
        if self.task != "labels" and target.label is not None:
            try:
                category = self.taxonomy.get(target.label).title
            except KeyError:
                category = target.label
        return ItemView(
            target=target,
            position=index + 1,
            total=len(order),
            prev_id=order[index - 1].target_id if index > 0 else None,
            next_id=order[index + 1].target_id if index + 1 < len(order) else None,
            turns=[Turn("user", t) for t in self._turns.get(target.item_id, [])],
            answer=self._answers.get(rid) if self.task == "scores" else None,
            conversation=self._conversations.get(rid, []),
            category=category,
            choices=self.choices(target),
            current=self.answers(annotator).get(target.target_id),
        )

    def choices(self, target: Target) -> list[Choice]:
        """The labels with their definitions, or the five levels of the target's rubric (the
        scale's titles alone when its category has no rubric)."""
        if self.task == "labels":
            return [
                Choice(d.name, str(i + 1) if i < 9 else None, d.title, d.definition)
                for i, d in enumerate(self.taxonomy.labels)
            ]
        levels: dict[int, str] = {}
        if target.label is not None:
            try:
                levels = self.rubric.for_label(target.label)
            except KeyError:
                levels = {}
        return [
            Choice(s, s, f"{s} · {self.rubric.scale[int(s)]}", levels.get(int(s), ""))
            for s in SCORES
        ]

    def next_after(self, annotator: str, target: Target) -> Target | None:
        order = self.order(annotator)
        index = next(i for i, t in enumerate(order) if t.target_id == target.target_id)
        return order[index + 1] if index + 1 < len(order) else None

    def save(self, annotator: str, target: Target, answer: Answer) -> AnnotationRecord:
        return record_answer(self.store, self.task, annotator, target, answer)

    # ---------------------------------------------------------------- the admin page
    def admin(self) -> AdminView:
        names = list(self.project.annotators)
        answers = current_answers(self.store, self.task, names)
        rows = []
        flagged = []
        for name in names:
            mine = [r for (who, t), r in answers.items() if who == name and t in self._by_id]
            rows.append(AdminRow(name, _progress(mine, len(self.project.targets))))
            flagged += [r for r in mine if r.flagged]
        labels, judgments, _ = frames_for(self.store, self.task)
        agreement = live_agreement(self.task, names, labels, judgments)
        flagged.sort(key=lambda r: r.created_at, reverse=True)
        return AdminView(self.project, rows, agreement, flagged)


def _progress(records: Iterable[AnnotationRecord], total: int) -> Progress:
    rows = list(records)
    return Progress(
        total=total,
        answered=sum(1 for r in rows if r.value is not None and not r.skipped),
        skipped=sum(1 for r in rows if r.skipped),
        flagged=sum(1 for r in rows if r.flagged),
        last=max((r.created_at for r in rows), default=None),
    )
