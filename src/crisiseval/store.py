"""The run store: one SQLite file (WAL) per run directory.

Every stage reads what it needs from here and writes its results back; no stage calls another.

Tables
------
``items``       corpus items (id = stable hash of the turns), their source and source label.
``samples``     named, ordered item lists (``sample_meta`` keeps the recipe).
``cells``       one row per model call (the engine's journal and cache), keyed by content hash.
``labels``      crisis labels of items by any rater: a human, one classifier run, a majority.
``responses``   answers of respondents to items (one row per respondent x run).
``judgments``   1-5 appropriateness scores of responses by model judges (per judge run) or humans.

Writes go through short transactions; :meth:`Store.transaction` groups several statements
atomically. The schema version lives in ``meta``; a store written by a newer crisiseval is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from crisiseval.errors import StoreError

SCHEMA_VERSION = 1
STORE_FILENAME = "crisiseval.sqlite"

CELL_STATUSES = ("pending", "done", "failed", "unparsed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id      TEXT PRIMARY KEY,
    turns        TEXT NOT NULL,          -- JSON list of strings
    source       TEXT,
    source_label TEXT,
    origin       TEXT NOT NULL           -- corpus | import | demo | sample-file
);
CREATE TABLE IF NOT EXISTS sample_meta (
    name       TEXT PRIMARY KEY,
    recipe     TEXT NOT NULL,            -- JSON
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    name     TEXT NOT NULL REFERENCES sample_meta(name),
    item_id  TEXT NOT NULL REFERENCES items(item_id),
    position INTEGER NOT NULL,
    PRIMARY KEY (name, item_id)
);
CREATE TABLE IF NOT EXISTS cells (
    key            TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    model          TEXT NOT NULL,        -- model name in the config
    endpoint       TEXT NOT NULL,        -- provider + base_url or GGUF hash + model id
    run_index      INTEGER NOT NULL,
    prompt_version TEXT NOT NULL,
    item_id        TEXT,
    context        TEXT NOT NULL,        -- JSON: stage-specific (respondent, response_id, label...)
    request        TEXT NOT NULL,        -- JSON: messages, params, schema name (never a key)
    status         TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'unparsed')),
    response_text  TEXT,
    parsed         TEXT,                 -- JSON of the validated structured output
    tokens_in      INTEGER,
    tokens_out     INTEGER,
    latency_s      REAL,
    cost_usd       REAL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    error_kind     TEXT,
    error_message  TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_role_status ON cells(role, status);
CREATE TABLE IF NOT EXISTS labels (
    rater       TEXT NOT NULL,           -- e.g. human:H1, gpt-4o-mini, majority:gpt-4o-mini
    rater_kind  TEXT NOT NULL CHECK (rater_kind IN ('human', 'model_run', 'majority', 'consensus')),
    run_index   INTEGER NOT NULL,        -- runs from 1; 0 for humans and majorities
    item_id     TEXT NOT NULL,
    label       TEXT,                    -- NULL unless status = 'ok'
    status      TEXT NOT NULL CHECK (status IN ('ok', 'unparsed', 'failed', 'tie', 'none')),
    explanation TEXT,
    cell_key    TEXT,
    origin      TEXT NOT NULL,           -- classify | import:<file>
    PRIMARY KEY (rater, run_index, item_id)
);
CREATE TABLE IF NOT EXISTS responses (
    response_id TEXT PRIMARY KEY,
    item_id     TEXT NOT NULL,
    respondent  TEXT NOT NULL,
    run_index   INTEGER NOT NULL,        -- runs from 1 (cells count runs from 0)
    text        TEXT,                    -- NULL unless status = 'ok'
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    tokens_out  INTEGER,
    cell_key    TEXT,
    origin      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_item ON responses(item_id);
CREATE TABLE IF NOT EXISTS judgments (
    response_id TEXT NOT NULL,
    judge       TEXT NOT NULL,           -- model judge name, or human:H1
    judge_kind  TEXT NOT NULL CHECK (judge_kind IN ('model', 'human')),
    run_index   INTEGER NOT NULL,
    label       TEXT,                    -- the rubric (crisis label) the response was judged under
    score       REAL,                    -- 1..5; NULL unless status = 'ok'
    explanation TEXT,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'unparsed', 'failed')),
    cell_key    TEXT,
    origin      TEXT NOT NULL,
    PRIMARY KEY (response_id, judge, run_index)
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def item_id_for(turns: Sequence[str]) -> str:
    """Stable id of an item: a hash of its turns (the study identifies items by their turns)."""
    blob = json.dumps(list(turns), ensure_ascii=False, separators=(",", ":"))
    return "it_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def response_id_for(item_id: str, respondent: str, run_index: int) -> str:
    blob = json.dumps([item_id, respondent, run_index], separators=(",", ":"))
    return "rs_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def store_path(run_dir: Path) -> Path:
    return run_dir / STORE_FILENAME


class Store:
    """A run store. Open with :meth:`open`; use as a context manager to close it."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._depth = 0

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, run_dir: Path | str, *, create: bool = True) -> Store:
        run_dir = Path(run_dir)
        path = store_path(run_dir)
        if not path.exists():
            if not create:
                raise StoreError(
                    f"{path}: no run store here (run a stage or `crisiseval import-study` first, "
                    "or pass --run-dir)"
                )
            run_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a crisiseval run store ({exc})") from exc
        store = cls(path, conn)
        store._init_schema()
        return store

    def _init_schema(self) -> None:
        try:
            has_meta = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a crisiseval run store ({exc})") from exc
        if has_meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema version {version} is newer than this crisiseval "
                    f"supports ({SCHEMA_VERSION}); upgrade crisiseval to read it"
                )
        # Every statement is CREATE ... IF NOT EXISTS: safe to repeat, and atomic per statement.
        self.conn.executescript(_SCHEMA)
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)", (now_iso(),)
            )

    def close(self) -> None:
        self.conn.close()

    def is_empty(self) -> bool:
        """True when no table holds a row (a store just created)."""
        return not any(self.counts().values())

    def discard(self) -> None:
        """Close and delete this store's files (used when a command that created it failed)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An atomic group of writes (BEGIN IMMEDIATE ... COMMIT, rolled back on error).

        Nested use joins the outer transaction, so a caller can make several store methods (each
        transactional on its own) all-or-nothing, e.g. a whole import.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (e.g. "database or disk is full"): the real
            # error must surface, not "cannot rollback - no transaction is active".
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ items and samples
    def add_items(
        self,
        items: Iterable[tuple[Sequence[str], str | None, str | None]],
        *,
        origin: str,
        item_ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Insert items given as (turns, source, source_label); return their ids in order.

        Ids are :func:`item_id_for` the turns unless ``item_ids`` gives them (an importer that must
        keep two records with the same turns apart). An item already present keeps its first
        source (the same turns from two sources are one item).
        """
        ids: list[str] = []
        rows = []
        given = list(item_ids) if item_ids is not None else None
        for n, (turns, source, source_label) in enumerate(items):
            iid = given[n] if given is not None else item_id_for(turns)
            ids.append(iid)
            rows.append(
                (iid, json.dumps(list(turns), ensure_ascii=False), source, source_label, origin)
            )
        with self.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO items(item_id, turns, source, source_label, origin) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return ids

    def item_turns(self, item_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
        if item_ids is None:
            rows = self.conn.execute("SELECT item_id, turns FROM items").fetchall()
        else:
            rows = []
            ids = list(item_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows.extend(
                    self.conn.execute(
                        f"SELECT item_id, turns FROM items WHERE item_id IN ({marks})", chunk
                    ).fetchall()
                )
        return {r[0]: json.loads(r[1]) for r in rows}

    def items_frame(self) -> pd.DataFrame:
        df = pd.read_sql_query(
            "SELECT item_id, turns, source, source_label, origin FROM items", self.conn
        )
        df["turns"] = df["turns"].map(json.loads)
        return df

    def save_sample(
        self, name: str, item_ids: Sequence[str], recipe: dict[str, Any], *, replace: bool = False
    ) -> None:
        """Store a named sample. Re-saving the same name with the same items is a no-op."""
        existing = self.sample_items(name)
        if existing:
            if list(existing) == list(item_ids):
                return
            if not replace:
                raise StoreError(
                    f"{self.path}: sample {name!r} already exists with different items "
                    "(choose another name)"
                )
        with self.transaction() as c:
            c.execute("DELETE FROM samples WHERE name = ?", (name,))
            c.execute(
                "INSERT OR REPLACE INTO sample_meta(name, recipe, created_at) VALUES (?, ?, ?)",
                (name, json.dumps(recipe, sort_keys=True), now_iso()),
            )
            c.executemany(
                "INSERT INTO samples(name, item_id, position) VALUES (?, ?, ?)",
                [(name, iid, pos) for pos, iid in enumerate(item_ids)],
            )

    def sample_items(self, name: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT item_id FROM samples WHERE name = ? ORDER BY position", (name,)
        ).fetchall()
        return [r[0] for r in rows]

    def sample_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sample_meta ORDER BY name")]

    # ------------------------------------------------------------------ domain records
    def upsert_labels(self, rows: Iterable[dict[str, Any]]) -> int:
        cols = (
            "rater",
            "rater_kind",
            "run_index",
            "item_id",
            "label",
            "status",
            "explanation",
            "cell_key",
            "origin",
        )
        return self._upsert("labels", cols, rows)

    def upsert_responses(self, rows: Iterable[dict[str, Any]]) -> int:
        cols = (
            "response_id",
            "item_id",
            "respondent",
            "run_index",
            "text",
            "status",
            "tokens_out",
            "cell_key",
            "origin",
        )
        return self._upsert("responses", cols, rows)

    def upsert_judgments(self, rows: Iterable[dict[str, Any]]) -> int:
        cols = (
            "response_id",
            "judge",
            "judge_kind",
            "run_index",
            "label",
            "score",
            "explanation",
            "status",
            "cell_key",
            "origin",
        )
        return self._upsert("judgments", cols, rows)

    def _upsert(self, table: str, cols: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
        data = [tuple(r.get(c) for c in cols) for r in rows]
        marks = ",".join("?" * len(cols))
        with self.transaction() as c:
            c.executemany(
                f"INSERT OR REPLACE INTO {table}({','.join(cols)}) VALUES ({marks})", data
            )
        return len(data)

    def labels_frame(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT rater, rater_kind, run_index, item_id, label, status, explanation, origin "
            "FROM labels",
            self.conn,
        )

    def responses_frame(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT response_id, item_id, respondent, run_index, text, status, tokens_out, origin "
            "FROM responses",
            self.conn,
        )

    def judgments_frame(self) -> pd.DataFrame:
        """Judgments joined with their response (item, respondent, answer run)."""
        return pd.read_sql_query(
            "SELECT j.response_id, r.item_id, r.respondent, r.run_index AS response_run, "
            "j.judge, j.judge_kind, j.run_index AS judge_run, j.label, j.score, j.status, "
            "j.explanation, j.origin "
            "FROM judgments j JOIN responses r ON r.response_id = j.response_id",
            self.conn,
        )

    def cells_frame(self, role: str | None = None) -> pd.DataFrame:
        sql = (
            "SELECT key, role, model, run_index, item_id, status, tokens_in, tokens_out, "
            "latency_s, cost_usd, attempts, error_kind, context FROM cells"
        )
        params: tuple[Any, ...] = ()
        if role is not None:
            sql += " WHERE role = ?"
            params = (role,)
        return pd.read_sql_query(sql, self.conn, params=params)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("items", "samples", "cells", "labels", "responses", "judgments"):
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return out
