"""A store written by crisiseval 0.1.0 (schema v1) opens, migrates in place (a backup first, all
or nothing), keeps every row, and every stage resumes on it; read-only opens never write."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from crisiseval.config import parse_study
from crisiseval.errors import StoreError
from crisiseval.pipeline import StudyContext, demo_inputs, run_study
from crisiseval.store import SCHEMA_VERSION, STORE_FILENAME, Store
from crisiseval.store import _schema as schema
from crisiseval.testing.fake import FakeBackend

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.sql"
# The mock server the fixture was made against: part of every cell's endpoint identity.
V1_BASE_URL = "http://127.0.0.1:45617/v1"
TABLES_V1 = ("items", "samples", "sample_meta", "cells", "labels", "responses", "judgments")


def store_from(fixture: Path, run_dir: Path) -> Path:
    """A run store made from a fixture's SQL dump, as that version left it on disk."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / STORE_FILENAME
    conn = sqlite3.connect(path)
    conn.executescript(fixture.read_text(encoding="utf-8"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return path


def make_v1_store(run_dir: Path) -> Path:
    return store_from(FIXTURE, run_dir)


# From version 4 a cell names its request (``prompt``, a hash into ``prompts``): read back in the
# request column's place, a migrated row compares equal to the row it was.
REQUEST = "(SELECT body FROM prompts WHERE hash = prompt)"


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    return [REQUEST if table == "cells" and c == "prompt" else c for c in cols]


def dump(path: Path, tables: tuple[str, ...] = TABLES_V1) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for t in tables:
            v1_cols = [c for c in columns(conn, t) if c not in ("detail", "kind", "batch_id")]
            out[t] = sorted(
                conn.execute(f"SELECT {', '.join(v1_cols)} FROM {t}").fetchall(), key=repr
            )
        return out
    finally:
        conn.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fixture_is_a_v1_store(tmp_path: Path) -> None:
    path = make_v1_store(tmp_path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    conn.close()


def test_v1_store_migrates_in_place_keeping_every_row(tmp_path: Path) -> None:
    path = make_v1_store(tmp_path)
    before = dump(path)
    with Store.open(tmp_path) as st:
        assert st.migrated_from == 1
        assert st.schema_version() == SCHEMA_VERSION
        assert st.integrity_check() == "ok"
        assert st.meta_value("migrated_from_v1")
    backup = path.with_name(f"{STORE_FILENAME}.v1.bak")
    assert dump(backup) == before  # the backup is the store as it was
    assert dump(path) == before  # every row kept
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"batches", "response_turns", "annotations"} <= tables
        # New column values of old rows: single-turn answers, no batch, no detail.
        assert conn.execute("SELECT DISTINCT kind FROM responses").fetchall() == [("single",)]
        assert conn.execute("SELECT COUNT(*) FROM cells WHERE batch_id IS NOT NULL").fetchone() == (
            0,
        )
        # The widened status constraint holds: 'submitted' is accepted, nonsense is not.
        conn.execute("UPDATE cells SET status='submitted' WHERE rowid = 1")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE cells SET status='weird' WHERE rowid = 1")
        conn.rollback()
    finally:
        conn.close()
    # Opening again is a plain open: nothing left to migrate.
    with Store.open(tmp_path) as st:
        assert st.migrated_from is None


def test_a_failing_migration_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_v1_store(tmp_path)
    before = dump(path)
    real = schema.MIGRATIONS[1]

    def half_then_fail(conn: sqlite3.Connection) -> None:
        real(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(schema.MIGRATIONS, 1, half_then_fail)
    with pytest.raises(sqlite3.OperationalError):
        Store.open(tmp_path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    conn.close()
    assert dump(path) == before
    monkeypatch.setitem(schema.MIGRATIONS, 1, real)
    with Store.open(tmp_path) as st:  # and the next open migrates it
        assert st.schema_version() == SCHEMA_VERSION


def test_every_stage_resumes_on_a_migrated_store(tmp_path: Path) -> None:
    make_v1_store(tmp_path / "run")
    # The sample file the fixture's sample was made from (same bytes: its digest is checked).
    items = tmp_path / "v1items.json"
    items.write_text(
        json.dumps([{"inputs": t, "label": lab} for t, lab in demo_inputs(per_label=1)[:3]])
    )
    model = {"base_url": V1_BASE_URL, "model": "mock-a", "limits": {"max_retries": 0}}
    cfg = parse_study(
        {
            "name": "v1",
            "models": {"a": model, "b": {**model, "model": "mock-b"}},
            "prices": {"mock-a": {"input_per_m": 1.0, "output_per_m": 2.0}},
            "sample": {"name": "s", "from_file": str(items)},
            "classify": {"models": ["a"], "runs": 2},
            "respond": {
                "runs": 2,
                "respondents": [
                    {"name": "plain", "model": "a"},
                    {"name": "safe", "model": "a", "system_prompt": "Ask if they are safe."},
                ],
            },
            "judge": {"judges": ["b"], "runs": 2},
        }
    )
    backend = FakeBackend()
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False, endpoint_factory=backend.factory)
    try:
        assert ctx.store.migrated_from == 1
        result = run_study(ctx, log=lambda _line: None)
        by_stage = dict(zip(("classify", "respond", "judge"), result.summaries, strict=True))
        # Only what 0.1.0 left unfinished is sent: no classify call, the 2 failed answers, and
        # the judge calls of the 2 pending cells plus those of the 2 new answers.
        assert by_stage["classify"].cached == 6 and by_stage["classify"].done == 0
        assert by_stage["respond"].cached == 10 and by_stage["respond"].done == 2
        assert by_stage["judge"].failed == 0 and by_stage["judge"].pending == 0
        assert by_stage["judge"].cached == 8
        sent = len(backend.requests())
        assert sent == 2 + by_stage["judge"].done
        counts = ctx.store.counts()
        assert counts["responses"] == 12
        assert counts["judgments"] == 12 * 2
        assert {s for s in ctx.store.cells_frame()["status"]} == {"done"}
        # Resumed again: nothing to send.
        again = run_study(ctx, log=lambda _line: None)
        assert all(s.pending == 0 and s.done == 0 for s in again.summaries)
        assert len(backend.requests()) == sent
    finally:
        ctx.store.close()


def test_read_only_open_never_writes_and_reads_an_old_store(tmp_path: Path) -> None:
    path = make_v1_store(tmp_path)
    digest = file_digest(path)
    with Store.open(tmp_path, read_only=True) as st:
        assert st.read_only and st.schema_version() == SCHEMA_VERSION  # migrated in memory
        assert st.counts()["judgments"] == 16
        assert not st.judgments_frame().empty
        with pytest.raises(StoreError, match="read-only"):
            st.delete_labels([("r", "i")])
    assert file_digest(path) == digest
    assert not path.with_name(f"{STORE_FILENAME}.v1.bak").exists()


def test_read_only_open_of_a_current_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(tmp_path) as st:
        st.add_items([(["hello"], None, None)], origin="demo")
    digest = file_digest(tmp_path / STORE_FILENAME)
    with Store.open(tmp_path, read_only=True) as st:
        assert st.counts()["items"] == 1
        with pytest.raises(StoreError, match="read-only"):
            st.add_items([(["again"], None, None)], origin="demo")
    # A folder we cannot write to (an archive): opened immutable.
    monkeypatch.setattr("crisiseval.store._core._writable", lambda _folder: False)
    with Store.open(tmp_path, read_only=True) as st:
        assert st.counts()["items"] == 1
    assert file_digest(tmp_path / STORE_FILENAME) == digest


def test_read_only_open_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run store"):
        Store.open(tmp_path, read_only=True)
    (tmp_path / STORE_FILENAME).write_bytes(b"not sqlite " * 100)
    with pytest.raises(StoreError, match="not a crisiseval run store"):
        Store.open(tmp_path, read_only=True)


# ---- version 2 (the version before probe suites) ----------------------------------------------

FIXTURE_V2 = Path(__file__).parent / "fixtures" / "store_v2.sql"
V2_BASE_URL = "http://127.0.0.1:9/v1"  # the FakeBackend's, part of every cell's endpoint identity
TABLES_V2 = (*TABLES_V1, "batches", "response_turns", "annotations")


def make_v2_store(run_dir: Path) -> Path:
    return store_from(FIXTURE_V2, run_dir)


def dump_all(path: Path, tables: tuple[str, ...]) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: sorted(
                conn.execute(f"SELECT {', '.join(columns(conn, t))} FROM {t}").fetchall(),
                key=repr,
            )
            for t in tables
        }
    finally:
        conn.close()


def test_v2_store_migrates_keeping_every_row_and_gains_the_probe_tables(tmp_path: Path) -> None:
    path = make_v2_store(tmp_path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    conn.close()
    before = dump_all(path, TABLES_V2)
    assert before["annotations"] and before["judgments"]
    with Store.open(tmp_path) as st:
        assert st.migrated_from == 2
        assert st.schema_version() == SCHEMA_VERSION
        assert st.integrity_check() == "ok"
        assert len(st.annotations()) == 1
    assert dump_all(path.with_name(f"{STORE_FILENAME}.v2.bak"), TABLES_V2) == before
    assert dump_all(path, TABLES_V2) == before  # not one row changed
    conn = sqlite3.connect(path)
    try:
        for table in ("probes", "behaviours"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)
        with pytest.raises(sqlite3.IntegrityError):  # the new constraints hold
            conn.execute(
                "INSERT INTO probes(suite, probe_id, item_id, version, label, intent, language, "
                "expected) VALUES ('s', 'p', 'i', 1, 'self_harm', 'maybe', 'en', 'supportive')"
            )
    finally:
        conn.close()


def test_a_v1_store_migrates_through_every_version(tmp_path: Path) -> None:
    path = make_v1_store(tmp_path)
    with Store.open(tmp_path) as st:
        assert st.migrated_from == 1 and st.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"probes", "behaviours", "annotations", "batches"} <= tables


def resume_fixture_study(tmp_path: Path, version: int) -> int:
    """Run the fixture's own experiment on the store migrated from ``version`` (2 or 3: the
    fixtures made the same way) and check that only the judge cell it left pending is sent;
    returns the prompts stored after the run."""
    items = tmp_path / f"v{version}items.json"  # the same bytes as the fixture's sample file
    items.write_text(
        json.dumps([{"inputs": t, "label": lab} for t, lab in demo_inputs(per_label=1)[:3]])
    )
    model = {"base_url": V2_BASE_URL, "model": "mock-a", "limits": {"max_retries": 0}}
    cfg = parse_study(
        {
            "name": f"v{version}",
            "models": {"a": model, "b": {**model, "model": "mock-b"}},
            "sample": {"name": "s", "from_file": str(items)},
            "classify": {"models": ["a"], "runs": 2},
            "respond": {"runs": 1, "respondents": [{"name": "plain", "model": "a"}]},
            "judge": {"judges": ["b"], "runs": 2},
        }
    )
    backend = FakeBackend()
    ctx = StudyContext.open(cfg, tmp_path / "run", progress=False, endpoint_factory=backend.factory)
    try:
        assert ctx.store.migrated_from == version
        result = run_study(ctx, log=lambda _line: None)
        by_stage = dict(zip(("classify", "respond", "judge"), result.summaries, strict=True))
        assert by_stage["classify"].cached == 6 and by_stage["classify"].done == 0
        assert by_stage["respond"].cached == 3 and by_stage["respond"].done == 0
        # Only the judge cell the fixture left pending is sent.
        assert by_stage["judge"].cached == 5 and by_stage["judge"].done == 1
        assert len(backend.requests()) == 1
        assert ctx.store.counts()["judgments"] == 6
        return int(ctx.store._conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0])
    finally:
        ctx.store.close()


def test_stages_resume_on_a_migrated_v2_store(tmp_path: Path) -> None:
    make_v2_store(tmp_path / "run")
    resume_fixture_study(tmp_path, 2)


# ---- version 3 (the version before content-addressed prompts) ----------------------------------

FIXTURE_V3 = Path(__file__).parent / "fixtures" / "store_v3.sql"
TABLES_V3 = (*TABLES_V2, "probes", "behaviours")


def make_v3_store(run_dir: Path) -> Path:
    return store_from(FIXTURE_V3, run_dir)


def test_v3_store_migrates_its_requests_into_prompts_keeping_every_row(tmp_path: Path) -> None:
    path = make_v3_store(tmp_path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("3",)
    requests = [r[0] for r in conn.execute("SELECT request FROM cells")]
    conn.close()
    before = dump_all(path, TABLES_V3)
    with Store.open(tmp_path) as st:
        assert st.migrated_from == 3
        assert st.schema_version() == SCHEMA_VERSION == 4
        assert st.integrity_check() == "ok"
        rows = st.cells.rows()
    assert dump_all(path.with_name(f"{STORE_FILENAME}.v3.bak"), TABLES_V3) == before
    assert dump_all(path, TABLES_V3) == before  # every row, its request read through prompts
    assert sorted(r["request"] for r in rows) == sorted(requests)
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(cells)")]
        assert "request" not in cols and "prompt" in cols
        # The runs of a call sent the same request: it is stored once.
        (n_prompts,) = conn.execute("SELECT COUNT(*) FROM prompts").fetchone()
        assert n_prompts == len(set(requests)) < len(requests)
        (n_hashes,) = conn.execute(
            "SELECT COUNT(*) FROM prompts WHERE hash = ?",
            (hashlib.sha256(requests[0].encode("utf-8")).hexdigest(),),
        ).fetchone()
        assert n_hashes == 1
        conn.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):  # a cell must name a stored prompt
            conn.execute("UPDATE cells SET prompt = 'nope' WHERE rowid = 1")
    finally:
        conn.close()


def test_stages_resume_on_a_migrated_v3_store(tmp_path: Path) -> None:
    make_v3_store(tmp_path / "run")
    n_prompts = resume_fixture_study(tmp_path, 3)
    # The resumed cell's request was already in prompts (the same text): no new row.
    conn = sqlite3.connect(tmp_path / "run" / STORE_FILENAME)
    try:
        assert conn.execute("SELECT COUNT(DISTINCT prompt) FROM cells").fetchone() == (n_prompts,)
    finally:
        conn.close()
