"""The run store: one SQLite file (WAL) per run directory, and every query on it.

Nothing outside this package runs SQL: stages, importers, the engine, the CLI and the report call
the methods here (records in :mod:`crisiseval.store.records`, model calls through
:attr:`Store.cells`).

Opening a store written by an older crisiseval migrates it in place: a backup copy first, then
every migration in one transaction (all or nothing). A store written by a newer crisiseval is
refused. ``Store.open(..., read_only=True)`` never writes: an archived or read-only run directory
can be read, and an older store is migrated in memory for the reading.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisiseval.errors import StoreError
from crisiseval.store._journal import Journal
from crisiseval.store._records import RecordsMixin
from crisiseval.store._schema import CURRENT, MIGRATIONS, SCHEMA_VERSION, run_script
from crisiseval.store.records import item_id_for

STORE_FILENAME = "crisiseval.sqlite"
_CHUNK = 500

if TYPE_CHECKING:
    import pandas as pd


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def store_path(run_dir: Path) -> Path:
    return run_dir / STORE_FILENAME


class Store(RecordsMixin):
    """A run store. Open with :meth:`open`; use as a context manager to close it.

    Items, samples and the lifecycle live here; the study's records (labels, answers,
    judgments, annotations) in :class:`~crisiseval.store._records.RecordsMixin`; model calls in
    :attr:`cells` (:class:`~crisiseval.store._journal.Journal`)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self.path = path
        self._conn = conn
        self._depth = 0
        self.read_only = read_only
        self._migrating = False
        self.cells = Journal(self)
        self.migrated_from: int | None = None
        """The schema version this store had before :meth:`open` migrated it (None: none)."""

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, run_dir: Path | str, *, create: bool = True, read_only: bool = False) -> Store:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise StoreError(f"{run_dir}: not a directory (--run-dir must be a folder)")
        path = store_path(run_dir)
        if not path.exists():
            if not create or read_only:
                raise StoreError(
                    f"{path}: no run store here (run a stage or `crisiseval import-study` first, "
                    "or pass --run-dir)"
                )
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{run_dir}: cannot create the run directory ({exc})") from exc
        if read_only:
            return cls._open_read_only(path)
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"{path}: cannot open the run store for writing ({exc}); read commands open it "
                "read-only"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a crisiseval run store ({exc})") from exc
        store = cls(path, conn)
        store._init_schema()
        return store

    @classmethod
    def _open_read_only(cls, path: Path) -> Store:
        # mode=ro still needs to write the -shm file of a WAL store; in a folder we cannot write
        # the database is opened immutable (nobody can be writing it then).
        writable = _writable(path.parent)
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if writable else "&immutable=1")
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            version = _version_of(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a crisiseval run store ({exc})") from exc
        _refuse_newer(path, version)
        if 0 < version < SCHEMA_VERSION:
            # An older store is read through a migrated copy in memory: the file is not touched.
            mem = sqlite3.connect(":memory:", isolation_level=None)
            conn.backup(mem)
            conn.close()
            store = cls(path, mem, read_only=True)
            store._migrate(version)
            return store
        return cls(path, conn, read_only=True)

    def _init_schema(self) -> None:
        try:
            version = _version_of(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a crisiseval run store ({exc})") from exc
        _refuse_newer(self.path, version)
        if 0 < version < SCHEMA_VERSION:
            self._backup(version)
            self._migrate(version)
            return
        with self.transaction() as conn:
            run_script(conn, CURRENT)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)", (now_iso(),)
            )

    def _backup(self, version: int) -> Path:
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        dest = sqlite3.connect(target)
        try:
            self._conn.backup(dest)
        finally:
            dest.close()
        return target

    def _migrate(self, version: int) -> None:
        """Every migration from ``version`` to the current one, in one transaction."""
        self._migrating = True
        try:
            with self.transaction() as conn:
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](conn)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    (f"migrated_from_v{version}", now_iso()),
                )
        finally:
            self._migrating = False
        self.migrated_from = version

    def close(self) -> None:
        self._conn.close()

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
        if self.read_only and not self._migrating:
            raise StoreError(f"{self.path}: opened read-only (a read command); nothing is written")
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (e.g. "database or disk is full"): the real
            # error must surface, not "cannot rollback - no transaction is active".
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def schema_version(self) -> int:
        return _version_of(self._conn)

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"`` or the first problem it found."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def configured_judges(self) -> list[str]:
        """The judges of the experiment file that last ran the judge stage here (first = main);
        empty for a store that only holds imported judgments."""
        raw = self.meta_value("study_judges")
        return [str(j) for j in json.loads(raw)] if raw else []

    def configured_respondents(self) -> list[str]:
        """The respondents of the experiment file that last ran the respond stage here, in the
        file's order (the first is the baseline of the report's comparisons)."""
        raw = self.meta_value("study_respondents")
        return [str(r) for r in json.loads(raw)] if raw else []

    def meta_value(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

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
            rows = self._conn.execute("SELECT item_id, turns FROM items").fetchall()
        else:
            rows = []
            ids = list(item_ids)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows.extend(
                    self._conn.execute(
                        f"SELECT item_id, turns FROM items WHERE item_id IN ({marks})", chunk
                    ).fetchall()
                )
        return {r[0]: json.loads(r[1]) for r in rows}

    def items_frame(self) -> pd.DataFrame:
        import pandas as pd  # only the analysis commands need pandas

        df = pd.read_sql_query(
            "SELECT item_id, turns, source, source_label, origin FROM items", self._conn
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
        rows = self._conn.execute(
            "SELECT item_id FROM samples WHERE name = ? ORDER BY position", (name,)
        ).fetchall()
        return [r[0] for r in rows]

    def sample_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM sample_meta ORDER BY name")]

    def sample_recipe(self, name: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT recipe FROM sample_meta WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def delete_sample(self, name: str) -> None:
        """Forget a sample (its items and their records stay)."""
        with self.transaction() as c:
            c.execute("DELETE FROM samples WHERE name = ?", (name,))
            c.execute("DELETE FROM sample_meta WHERE name = ?", (name,))

    def rename_sample(self, old: str, new: str) -> None:
        """Keep a sample (and so every record of its items) under another name."""
        if self.sample_recipe(new) is not None:
            raise StoreError(f"{self.path}: sample {new!r} already exists")
        with self.transaction() as c:
            c.execute(
                "INSERT INTO sample_meta(name, recipe, created_at) "
                "SELECT ?, recipe, created_at FROM sample_meta WHERE name = ?",
                (new, old),
            )
            c.execute("UPDATE samples SET name = ? WHERE name = ?", (new, old))
            c.execute("DELETE FROM sample_meta WHERE name = ?", (old,))


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _version_of(conn: sqlite3.Connection) -> int:
    """The stored schema version; 0 for a database without crisiseval's tables (a new file)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this crisiseval supports "
            f"({SCHEMA_VERSION}); upgrade crisiseval to read it"
        )
