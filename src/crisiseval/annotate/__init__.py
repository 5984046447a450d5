"""Human review: a blinded annotation web app, its queues, and annotations in and out.

An annotation project (one per task: ``labels``, ``scores``, ``conversations``) is a queue of
targets kept in the run store with the hashes of each annotator's and the admin's link token
(:mod:`~crisiseval.annotate._model`, :mod:`~crisiseval.annotate._project`). The queue comes from
a strategy — the study's lowest-score rule, judge disagreement, stratified by category, random
(:mod:`~crisiseval.annotate._queue`). Each answer is an append-only annotation plus the ordinary
human label or score it stands for, so ``agreement``, ``judge-validity`` and ``report`` read it
with no extra step (:mod:`~crisiseval.annotate._answers`). The web app
(:mod:`~crisiseval.annotate._app`, FastAPI under uvicorn) serves one item per page with keyboard
shortcuts and an admin page with live agreement computed by the analysis functions of the CLI
(:mod:`~crisiseval.annotate._live`). CSV, JSONL and Label Studio JSON move annotations in and out
(:mod:`~crisiseval.annotate._exchange`).

The command line imports this package inside its commands only (it pulls in FastAPI, uvicorn and
the statistics libraries).
"""

from __future__ import annotations

from crisiseval.annotate._answers import (
    ORIGIN,
    Answer,
    check_value,
    current_answers,
    human_name,
    record_answer,
)
from crisiseval.annotate._app import create_app
from crisiseval.annotate._exchange import (
    EXPORT_COLUMNS,
    ImportedAnswer,
    annotation_rows,
    apply_import,
    label_studio_config,
    label_studio_tasks,
    read_label_studio,
    to_csv,
    to_jsonl,
)
from crisiseval.annotate._model import (
    STRATEGIES,
    TASKS,
    Project,
    QueueSpec,
    Strategy,
    Target,
    Task,
    check_annotator_name,
    load_project,
)
from crisiseval.annotate._project import (
    NOT_AVAILABLE,
    Prepared,
    ProjectRequest,
    check_names_free,
    prepare_project,
)
from crisiseval.annotate._queue import Queue, annotator_order, build_queue
from crisiseval.annotate._server import listen, run_server

__all__ = [
    "EXPORT_COLUMNS",
    "NOT_AVAILABLE",
    "ORIGIN",
    "STRATEGIES",
    "TASKS",
    "Answer",
    "ImportedAnswer",
    "Prepared",
    "Project",
    "ProjectRequest",
    "Queue",
    "QueueSpec",
    "Strategy",
    "Target",
    "Task",
    "annotation_rows",
    "annotator_order",
    "apply_import",
    "build_queue",
    "check_annotator_name",
    "check_names_free",
    "check_value",
    "create_app",
    "current_answers",
    "human_name",
    "label_studio_config",
    "label_studio_tasks",
    "listen",
    "load_project",
    "prepare_project",
    "read_label_studio",
    "record_answer",
    "run_server",
    "to_csv",
    "to_jsonl",
]
