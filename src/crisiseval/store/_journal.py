"""The cells journal: every model call as one row, its state, its result and its cost.

The engine is the only writer. It registers calls as ``pending`` before sending any, writes each
result as soon as it has it (group commit), and reads back the statuses and results; a batch
backend marks cells ``submitted`` with the id of the batch that holds them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from crisiseval.store._schema import prompt_hash
from crisiseval.store.records import BatchRecord

if TYPE_CHECKING:
    import pandas as pd

    from crisiseval.store._core import Store

_CHUNK = 500


@dataclass(frozen=True)
class NewCell:
    """A call to register (as ``pending`` unless its key is already in the journal)."""

    key: str
    role: str
    model: str
    endpoint: str
    run_index: int
    prompt_version: str
    item_id: str | None
    context: dict[str, Any]
    request: dict[str, Any]


@dataclass(frozen=True)
class CellOutcome:
    """The result of sending one cell (``attempts`` adds to the attempts already recorded)."""

    key: str
    status: str
    response_text: str | None
    parsed: dict[str, Any] | None
    tokens_in: int
    tokens_out: int
    latency_s: float
    cost_usd: float | None
    attempts: int
    error_kind: str | None
    error_message: str | None
    updated_at: str


class CellRow(NamedTuple):
    """A cell as stored: what a stage needs to turn it into a record (a named tuple: a stage
    reads one per cell, and a tuple is made several times faster than a frozen dataclass)."""

    key: str
    status: str
    parsed: dict[str, Any] | None
    text: str | None
    error_kind: str | None
    error_message: str | None
    context_text: str
    item_id: str | None
    run_index: int
    model: str

    @property
    def context(self) -> dict[str, Any]:
        """The cell's stage context (parsed when asked: stages hold their specs' own)."""
        value: dict[str, Any] = json.loads(self.context_text)
        return value


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class Journal:
    """``store.cells``: the queries of the ``cells`` (and ``batches``) tables."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._store._conn

    def register(self, cells: Iterable[NewCell], *, now: str) -> None:
        """Add ``cells`` as ``pending`` (a key already in the journal is left as it is), in one
        transaction; each distinct request is stored once in ``prompts``, by its content hash.
        Rows are encoded and written a chunk at a time, so a stage's requests are never all in
        memory as text at once."""
        with self._store.transaction() as conn:
            chunk: list[NewCell] = []
            for cell in cells:
                chunk.append(cell)
                if len(chunk) >= _CHUNK * 4:
                    self._register_chunk(conn, chunk, now)
                    chunk = []
            if chunk:
                self._register_chunk(conn, chunk, now)

    @staticmethod
    def _register_chunk(conn: sqlite3.Connection, cells: Sequence[NewCell], now: str) -> None:
        prompts: dict[str, str] = {}
        rows = []
        for c in cells:
            body = json.dumps(c.request, ensure_ascii=False)
            digest = prompt_hash(body)
            prompts.setdefault(digest, body)
            rows.append(
                (
                    c.key,
                    c.role,
                    c.model,
                    c.endpoint,
                    c.run_index,
                    c.prompt_version,
                    c.item_id,
                    json.dumps(c.context, ensure_ascii=False, sort_keys=True),
                    digest,
                    now,
                    now,
                )
            )
        conn.executemany("INSERT OR IGNORE INTO prompts(hash, body) VALUES (?, ?)", prompts.items())
        conn.executemany(
            "INSERT OR IGNORE INTO cells(key, role, model, endpoint, run_index, prompt_version, "
            "item_id, context, prompt, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            rows,
        )

    def _rows_of(self, columns: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows (``key`` first, then ``columns``) of the cells among ``keys``.

        Keys are content hashes, so looking many up by the index reads the table's pages in
        random order; when they are a good part of the journal (a stage's whole plan on resume)
        one pass over the table, filtered here, is several times faster."""
        wanted = set(keys)
        if not wanted:
            return
        (size,) = self._conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM cells").fetchone()
        if len(wanted) * 4 >= size:
            for row in self._conn.execute(f"SELECT key, {columns} FROM cells"):
                if row[0] in wanted:
                    yield row
            return
        for chunk in _chunks(list(wanted)):
            marks = ",".join("?" * len(chunk))
            yield from self._conn.execute(
                f"SELECT key, {columns} FROM cells WHERE key IN ({marks})", list(chunk)
            )

    def statuses(self, keys: Sequence[str]) -> dict[str, str]:
        return {str(k): str(s) for k, s in self._rows_of("status", keys)}

    def record(self, outcomes: Sequence[CellOutcome]) -> None:
        """Write finished cells in one transaction."""
        rows = [
            (
                o.status,
                o.response_text,
                json.dumps(o.parsed, ensure_ascii=False) if o.parsed is not None else None,
                o.tokens_in,
                o.tokens_out,
                o.latency_s,
                o.cost_usd,
                o.attempts,
                o.error_kind,
                o.error_message,
                o.updated_at,
                o.key,
            )
            for o in outcomes
        ]
        with self._store.transaction() as conn:
            conn.executemany(
                "UPDATE cells SET status=?, response_text=?, parsed=?, tokens_in=?, "
                "tokens_out=?, latency_s=?, cost_usd=?, attempts=attempts+?, error_kind=?, "
                "error_message=?, updated_at=? WHERE key=?",
                rows,
            )

    def results(self, keys: Sequence[str]) -> dict[str, CellRow]:
        out: dict[str, CellRow] = {}
        columns = (
            "status, parsed, response_text, error_kind, error_message, context, item_id, "
            "run_index, model"
        )
        for row in self._rows_of(columns, keys):
            out[row[0]] = CellRow(
                key=row[0],
                status=row[1],
                parsed=json.loads(row[2]) if row[2] else None,
                text=row[3],
                error_kind=row[4],
                error_message=row[5],
                context_text=row[6],
                item_id=row[7],
                run_index=row[8],
                model=row[9],
            )
        return out

    # ------------------------------------------------------------------ batches
    def save_batch(self, batch: BatchRecord) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO batches(batch_id, model, endpoint, state, n_cells, "
                "input_file_id, output_file_id, error_file_id, error, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.batch_id,
                    batch.model,
                    batch.endpoint,
                    batch.state,
                    batch.n_cells,
                    batch.input_file_id,
                    batch.output_file_id,
                    batch.error_file_id,
                    batch.error,
                    batch.created_at,
                    batch.updated_at,
                ),
            )

    def batches(self, *, open_only: bool = False) -> list[BatchRecord]:
        where = (
            "WHERE state NOT IN ('completed', 'failed', 'expired', 'cancelled')"
            if open_only
            else ""
        )
        return self._batches(where, ())

    def _batches(self, where: str, params: tuple[Any, ...]) -> list[BatchRecord]:
        sql = (
            "SELECT batch_id, model, endpoint, state, n_cells, input_file_id, output_file_id, "
            f"error_file_id, error, created_at, updated_at FROM batches {where}"
        )
        cols = (
            "batch_id",
            "model",
            "endpoint",
            "state",
            "n_cells",
            "input_file_id",
            "output_file_id",
            "error_file_id",
            "error",
            "created_at",
            "updated_at",
        )
        return [
            BatchRecord.model_validate(dict(zip(cols, r, strict=True)))
            for r in self._conn.execute(sql + " ORDER BY created_at", params)
        ]

    def mark_submitted(self, keys: Sequence[str], batch_id: str, *, now: str) -> None:
        """Cells handed to a provider batch: not sent again while the batch is open."""
        with self._store.transaction() as conn:
            conn.executemany(
                "UPDATE cells SET status='submitted', batch_id=?, updated_at=? "
                "WHERE key=? AND status IN ('pending', 'failed')",
                [(batch_id, now, k) for k in keys],
            )

    def submit_batch(self, batch: BatchRecord, keys: Sequence[str]) -> None:
        """A batch the provider accepted and the cells it holds, in one transaction: after a
        crash either both are known (the next run polls it) or neither (it submits again)."""
        with self._store.transaction():
            self.save_batch(batch)
            self.mark_submitted(keys, batch.batch_id, now=batch.updated_at)

    def batch(self, batch_id: str) -> BatchRecord | None:
        for b in self._batches("WHERE batch_id = ?", (batch_id,)):
            return b
        return None

    def batch_of(self, keys: Sequence[str]) -> dict[str, str]:
        """The batch holding each ``submitted`` cell of ``keys`` (other cells are left out)."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            for k, b in self._conn.execute(
                f"SELECT key, batch_id FROM cells WHERE key IN ({marks}) "
                "AND status = 'submitted' AND batch_id IS NOT NULL",
                list(chunk),
            ):
                out[str(k)] = str(b)
        return out

    def batch_keys(self, batch_id: str) -> list[str]:
        """The cells a batch still holds (``submitted`` with its id)."""
        return [
            str(r[0])
            for r in self._conn.execute(
                "SELECT key FROM cells WHERE batch_id = ? AND status = 'submitted' ORDER BY key",
                (batch_id,),
            )
        ]

    def close_batch(self, batch: BatchRecord, outcomes: Sequence[CellOutcome]) -> list[str]:
        """A finished batch in one transaction: its results written, its new state saved, and
        its cells that got no result put back to ``pending``; returns the keys put back."""
        with self._store.transaction():
            self.record(outcomes)
            self.save_batch(batch)
            left = self.batch_keys(batch.batch_id)
            self.release_batch(batch.batch_id, now=batch.updated_at)
        return left

    def release_batch(self, batch_id: str, *, now: str) -> int:
        """Cells of an expired or failed batch that got no result go back to ``pending``."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE cells SET status='pending', updated_at=? "
                "WHERE batch_id=? AND status='submitted'",
                (now, batch_id),
            )
        return cur.rowcount

    def provenance(self, role: str, model: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(endpoint, prompt version, context) of ``model``'s cells in ``role``: how a record
        was made, without the request and response texts."""
        return [
            (str(r[0]), str(r[1]), json.loads(r[2] or "{}"))
            for r in self._conn.execute(
                "SELECT endpoint, prompt_version, context FROM cells WHERE role = ? AND model = ?",
                (role, model),
            )
        ]

    def rows(self, role: str | None = None) -> list[dict[str, Any]]:
        """Every column of the cells (of ``role``) and the request each sent, ordered by item and
        run: the journal as stored, for inspection and tests (``request``, ``context``,
        ``parsed`` stay JSON text)."""
        sql = "SELECT cells.*, prompts.body AS request FROM cells JOIN prompts ON hash = prompt"
        params: tuple[Any, ...] = ()
        if role is not None:
            sql += " WHERE role = ?"
            params = (role,)
        cur = self._conn.execute(sql + " ORDER BY item_id, run_index, key", params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # ------------------------------------------------------------------ summaries
    def frame(self, role: str | None = None) -> pd.DataFrame:
        import pandas as pd  # only the analysis commands need pandas

        sql = (
            "SELECT key, role, model, run_index, item_id, status, tokens_in, tokens_out, "
            "latency_s, cost_usd, attempts, error_kind, context FROM cells"
        )
        params: tuple[Any, ...] = ()
        if role is not None:
            sql += " WHERE role = ?"
            params = (role,)
        return pd.read_sql_query(sql, self._conn, params=params)

    def totals(self) -> list[tuple[str, str, str, int, int, int, float]]:
        """(role, model, status, cells, tokens in, tokens out, cost) per role, model, status."""
        return [
            (str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6]))
            for r in self._conn.execute(
                "SELECT role, model, status, COUNT(*), COALESCE(SUM(tokens_in),0), "
                "COALESCE(SUM(tokens_out),0), COALESCE(SUM(cost_usd),0) FROM cells "
                "GROUP BY role, model, status ORDER BY role, model, status"
            )
        ]

    def failures(self) -> list[tuple[str, str, int, str]]:
        """(role, error kind, count, one error message) of the failed cells."""
        return [
            (str(r[0]), str(r[1]), int(r[2]), str(r[3] or ""))
            for r in self._conn.execute(
                "SELECT role, error_kind, COUNT(*), MAX(error_message) FROM cells "
                "WHERE status='failed' GROUP BY role, error_kind ORDER BY role, error_kind"
            )
        ]
