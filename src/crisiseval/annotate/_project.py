"""Start or resume the annotation project of a task: build its queue once, issue the links.

A project is built on its first start and kept in the store; a restart serves the same queue and
the same links (their tokens are not stored, so they are printed only when issued). Options given
on a restart must match the stored queue — ``new_queue`` builds it again (answers are kept).
``annotators`` on a restart adds new annotators (new links) and revokes the ones left out;
``new_tokens`` reissues the links of the names given (``admin`` for the admin link, ``all`` for
every link), which ends their open sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from crisiseval.annotate._answers import ORIGIN, human_name
from crisiseval.annotate._model import (
    ADMIN,
    Project,
    QueueSpec,
    Strategy,
    Task,
    check_annotator_name,
    load_project,
    save_project,
)
from crisiseval.annotate._queue import build_queue
from crisiseval.annotate._tokens import digest, new_secret
from crisiseval.errors import InputError
from crisiseval.store import Store, now_iso
from crisiseval.store.records import ResponseKind

__all__ = [
    "NOT_AVAILABLE",
    "Prepared",
    "ProjectRequest",
    "check_names_free",
    "frames_for",
    "prepare_project",
]

NOT_AVAILABLE = (
    "--task conversations is not available yet for this run: it holds no conversations (run the "
    "converse stage first); --task labels and --task scores are"
)


@dataclass(frozen=True)
class ProjectRequest:
    """What ``crisiseval annotate`` asks for (None: not given, keep what is stored)."""

    task: Task
    annotators: tuple[str, ...] | None = None
    strategy: Strategy | None = None
    sample: str | None = None
    n: int | None = None
    seed: int | None = None
    judge: str | None = None
    labels_from: str | None = None
    new_queue: bool = False
    new_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    project: Project
    created: bool
    """The queue was built now (a new project, or ``new_queue``)."""
    issued: dict[str, str] = field(default_factory=dict)
    """Who got a new link (annotator names; ``admin``) -> its token, shown once."""
    kept: tuple[str, ...] = ()
    """Who keeps the link issued earlier."""
    revoked: tuple[str, ...] = ()
    judge_reason: str | None = None


def frames_for(store: Store, task: Task) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(labels, judgments, responses) as the task reads them: conversations read the store's
    conversation responses and their judgments, the other tasks single-turn answers."""
    kind: ResponseKind = "conversation" if task == "conversations" else "single"
    return store.labels_frame(), store.judgments_frame(kind), store.responses_frame(kind)


def _annotator_names(raw: Sequence[str]) -> tuple[str, ...]:
    names = [check_annotator_name(n.strip()) for n in raw if n.strip()]
    if not names:
        raise InputError("--annotators: name at least one annotator (e.g. --annotators alice,bob)")
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            raise InputError(f"--annotators: {n!r} is given twice")
        seen.add(n.lower())
    return tuple(names)


def check_names_free(store: Store, task: Task, names: Sequence[str]) -> None:
    """An annotator may not take the name of a human rater the annotation app did not write
    (an imported expert): its answers would mix with theirs. InputError naming the first."""
    labels, judgments, _ = frames_for(store, task)
    _check_collisions(names, labels, judgments, store)


def _check_collisions(
    names: Sequence[str], labels: pd.DataFrame, judgments: pd.DataFrame, store: Store
) -> None:
    for frame, who, what in ((labels, "rater", "labels"), (judgments, "judge", "scores")):
        if frame.empty:
            continue
        foreign = frame[~frame["origin"].astype(str).str.startswith(ORIGIN)]
        taken = set(foreign[who].astype(str))
        for name in names:
            if human_name(name) in taken:
                origin = foreign.loc[foreign[who] == human_name(name), "origin"].iloc[0]
                raise InputError(
                    f"{store.path}: annotator {name!r}: {human_name(name)} already has {what} "
                    f"here that the annotation app did not write ({origin}); choose another name"
                )


def _queue_conflicts(stored: QueueSpec, req: ProjectRequest) -> list[str]:
    given = {
        "strategy": req.strategy,
        "sample": req.sample,
        "n": req.n,
        "seed": req.seed,
        "judge": req.judge,
        "labels_from": req.labels_from,
    }
    out = []
    for key, value in given.items():
        if value is not None and value != getattr(stored, key):
            option = "--" + key.replace("_", "-")
            out.append(f"{option} {value} (stored: {getattr(stored, key)})")
    return out


def prepare_project(store: Store, req: ProjectRequest) -> Prepared:
    """Start (or resume) the project of ``req.task`` in ``store`` and save it."""
    existing = load_project(store, req.task)
    labels, judgments, responses = frames_for(store, req.task)
    if req.task == "conversations" and responses.empty:
        raise InputError(NOT_AVAILABLE)
    if existing is None and req.annotators is None:
        raise InputError("--annotators: name at least one annotator (e.g. --annotators alice,bob)")
    names = _annotator_names(req.annotators) if req.annotators is not None else None
    if names is not None:
        _check_collisions(names, labels, judgments, store)

    created = existing is None or req.new_queue
    judge_reason = None
    if existing is not None and not req.new_queue:
        conflicts = _queue_conflicts(existing.queue, req)
        if conflicts:
            raise InputError(
                f"{store.path}: the {req.task} queue here was built with other options: "
                + "; ".join(conflicts)
                + " — give the same ones, or --new-queue to build it again (answers are kept)"
            )
        spec, targets = existing.queue, existing.targets
    else:
        if req.sample is not None:
            pool = store.sample_items(req.sample)
            if not pool:
                known = ", ".join(store.sample_names()) or "none"
                raise InputError(f"{store.path}: no sample named {req.sample!r} (samples: {known})")
        else:
            pool = sorted(store.item_turns())
        strategy: Strategy = req.strategy or "random"
        seed = req.seed if req.seed is not None else 0
        queue = build_queue(
            req.task,
            strategy,
            pool=pool,
            labels=labels,
            judgments=judgments,
            responses=responses,
            n=req.n,
            seed=seed,
            judge=req.judge,
            configured=store.configured_judges(),
            labels_from=req.labels_from,
        )
        if not queue.targets:
            raise InputError(f"{store.path}: the {strategy} strategy found nothing to annotate")
        spec = QueueSpec(
            strategy=strategy,
            sample=req.sample,
            n=req.n,
            seed=seed,
            judge=queue.judge,
            labels_from=queue.labels_from,
        )
        targets = tuple(queue.targets)
        judge_reason = queue.judge_reason

    old = dict(existing.annotators) if existing is not None else {}
    wanted = list(names) if names is not None else list(old)
    reissue = set(req.new_tokens)
    unknown = reissue - {*wanted, "admin", "all"}
    if unknown:
        raise InputError(
            f"--new-tokens: {', '.join(sorted(unknown))} is not an annotator of this project "
            f"(annotators: {', '.join(wanted)}; or admin, all)"
        )
    everyone = "all" in reissue
    issued: dict[str, str] = {}
    annotators: dict[str, str] = {}
    for name in wanted:
        if name in old and not everyone and name not in reissue:
            annotators[name] = old[name]
        else:
            issued[name] = new_secret()
            annotators[name] = digest(issued[name])
    admin = existing.admin if existing is not None else ""
    if existing is None or everyone or "admin" in reissue:
        issued["admin"] = new_secret()
        admin = digest(issued["admin"])
    revoked = tuple(n for n in old if n not in annotators)
    ended = set(revoked) | {n for n in issued if n != "admin"}
    if "admin" in issued:
        ended.add(ADMIN)
    sessions = {
        key: s
        for key, s in (existing.sessions.items() if existing is not None else [])
        if s.principal not in ended
    }
    project = Project(
        task=req.task,
        queue=spec,
        targets=targets,
        annotators=annotators,
        admin=admin,
        sessions=sessions,
        created_at=existing.created_at if existing is not None else now_iso(),
    )
    save_project(store, project)
    kept = tuple(n for n in annotators if n not in issued)
    if "admin" not in issued:
        kept += ("admin",)
    return Prepared(project, created, issued, kept, revoked, judge_reason)
