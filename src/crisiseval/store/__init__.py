"""The run store: the one place that reads and writes a run directory's SQLite file.

Public API: :class:`Store` (items, samples, records, frames; :attr:`Store.cells` is the model-call
journal), the typed records of :mod:`crisiseval.store.records`, the schema version, and the
run-directory lock. Implementation modules are private (``_core``, ``_journal``, ``_schema``,
``_lock``).
"""

from crisiseval.store._core import STORE_FILENAME, Store, now_iso, store_path
from crisiseval.store._journal import CellOutcome, CellRow, Journal, NewCell
from crisiseval.store._lock import LOCK_FILENAME, run_dir_lock
from crisiseval.store._schema import SCHEMA_VERSION, prompt_hash
from crisiseval.store.records import (
    CELL_STATUSES,
    FINISHED,
    AnnotationRecord,
    BatchRecord,
    BehaviourRecord,
    ItemRecord,
    JudgmentRecord,
    LabelRecord,
    LabelStatus,
    ProbeRecord,
    RaterId,
    ResponseRecord,
    TurnRecord,
    cell_run,
    item_id_for,
    record_run,
    record_status,
    response_id_for,
)

__all__ = [
    "CELL_STATUSES",
    "FINISHED",
    "LOCK_FILENAME",
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "AnnotationRecord",
    "BatchRecord",
    "BehaviourRecord",
    "CellOutcome",
    "CellRow",
    "ItemRecord",
    "Journal",
    "JudgmentRecord",
    "LabelRecord",
    "LabelStatus",
    "NewCell",
    "ProbeRecord",
    "RaterId",
    "ResponseRecord",
    "Store",
    "TurnRecord",
    "cell_run",
    "item_id_for",
    "now_iso",
    "prompt_hash",
    "record_run",
    "record_status",
    "response_id_for",
    "run_dir_lock",
    "store_path",
]
