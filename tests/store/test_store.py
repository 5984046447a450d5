"""The run store: schema, WAL, versioning, idempotent writes, samples, atomic transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crisiseval.errors import StoreError
from crisiseval.store import (
    SCHEMA_VERSION,
    STORE_FILENAME,
    JudgmentRecord,
    LabelRecord,
    ResponseRecord,
    Store,
    item_id_for,
    response_id_for,
    store_path,
)

TABLES = {
    "meta", "items", "sample_meta", "samples", "cells", "labels", "responses", "judgments",
    "batches", "response_turns", "annotations",
}  # fmt: skip


def _sql(st: Store, sql: str, *params: object) -> list[tuple[object, ...]]:
    """What the file holds, through a second connection (the store's own is private)."""
    conn = sqlite3.connect(st.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "run") as st:
        yield st


def _one_line(exc: pytest.ExceptionInfo[StoreError]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


def test_open_creates_schema_wal_and_version(tmp_path: Path) -> None:
    run_dir = tmp_path / "new" / "run"
    with Store.open(run_dir) as st:
        assert st.path == run_dir / STORE_FILENAME == store_path(run_dir)
        assert st.path.is_file()
        names = {r[0] for r in _sql(st, "SELECT name FROM sqlite_master WHERE type='table'")}
        assert names >= TABLES
        assert _sql(st, "PRAGMA journal_mode")[0][0] == "wal"
        assert st.schema_version() == SCHEMA_VERSION
        meta = dict(_sql(st, "SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["created_at"]
    # WAL is persistent: another connection sees it too.
    conn = sqlite3.connect(run_dir / STORE_FILENAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_reopen_keeps_data_and_meta(tmp_path: Path) -> None:
    with Store.open(tmp_path) as st:
        ids = st.add_items([(["hello"], "src", "lbl")], origin="demo")
        created = st.meta_value("created_at")
    with Store.open(tmp_path) as st:
        assert st.item_turns(ids) == {ids[0]: ["hello"]}
        again = st.meta_value("created_at")
        assert again == created
        assert st.schema_version() == SCHEMA_VERSION


def test_open_without_create_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as exc:
        Store.open(tmp_path / "missing", create=False)
    msg = _one_line(exc)
    assert str(tmp_path / "missing" / STORE_FILENAME) in msg and "no run store" in msg
    assert not (tmp_path / "missing").exists()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / STORE_FILENAME)
    with conn:
        conn.execute(
            "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    conn.close()
    with pytest.raises(StoreError) as exc:
        Store.open(tmp_path)
    msg = _one_line(exc)
    assert str(tmp_path / STORE_FILENAME) in msg
    assert f"version {SCHEMA_VERSION + 1}" in msg and "newer" in msg and "upgrade" in msg


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / STORE_FILENAME).write_bytes(b"this is not sqlite at all, just text " * 50)
    with pytest.raises(StoreError) as exc:
        Store.open(tmp_path)
    assert "not a crisiseval run store" in _one_line(exc)


def test_item_ids_are_stable_hashes_of_turns() -> None:
    a = item_id_for(["I feel low", "since yesterday"])
    assert a == item_id_for(("I feel low", "since yesterday"))
    assert a.startswith("it_") and len(a) == 3 + 16
    assert a != item_id_for(["I feel low since yesterday"])
    assert a != item_id_for(["since yesterday", "I feel low"])
    r = response_id_for(a, "gpt", 0)
    assert r.startswith("rs_") and r != response_id_for(a, "gpt", 1)


def test_add_items_is_idempotent(store: Store) -> None:
    items = [(["a", "b"], "s1", "suicidal_ideation"), (["c"], "s1", None)]
    ids = store.add_items(items, origin="corpus")
    assert ids == [item_id_for(["a", "b"]), item_id_for(["c"])]
    again = store.add_items(items, origin="corpus")
    assert again == ids
    assert store.counts()["items"] == 2
    # The same turns from another source are the same item and keep their first source.
    store.add_items([(["c"], "s2", "other")], origin="import")
    df = store.items_frame().set_index("item_id")
    assert len(df) == 2
    assert df.loc[ids[1], "source"] == "s1" and df.loc[ids[1], "origin"] == "corpus"
    assert df.loc[ids[0], "turns"] == ["a", "b"]


def test_item_turns_in_chunks(store: Store) -> None:
    ids = store.add_items([([f"turn {i}"], None, None) for i in range(1203)], origin="demo")
    got = store.item_turns(ids)
    assert len(got) == 1203 and got[ids[1000]] == ["turn 1000"]
    assert len(store.item_turns()) == 1203


def test_save_sample_same_items_is_a_noop(store: Store) -> None:
    ids = store.add_items([([f"t{i}"], None, None) for i in range(5)], origin="demo")
    store.save_sample("main", ids, {"seed": 0})
    created = _sql(store, "SELECT created_at FROM sample_meta")[0][0]
    store.save_sample("main", ids, {"seed": 0})
    assert _sql(store, "SELECT created_at FROM sample_meta")[0][0] == created
    assert store.sample_items("main") == ids  # order kept
    assert store.sample_names() == ["main"]


def test_save_sample_different_items_is_an_error(store: Store) -> None:
    ids = store.add_items([([f"t{i}"], None, None) for i in range(5)], origin="demo")
    store.save_sample("main", ids, {"seed": 0})
    for other in (ids[:4], list(reversed(ids))):
        with pytest.raises(StoreError) as exc:
            store.save_sample("main", other, {"seed": 1})
        msg = _one_line(exc)
        assert "'main'" in msg and "different items" in msg
    assert store.sample_items("main") == ids
    store.save_sample("main", ids[:2], {"seed": 1}, replace=True)
    assert store.sample_items("main") == ids[:2]
    assert store.counts()["samples"] == 2


def test_sample_must_reference_known_items(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.save_sample("bad", ["it_doesnotexist"], {})
    assert store.sample_names() == []  # the whole save was rolled back


def test_transaction_is_atomic(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as c:
        c.execute("INSERT INTO items(item_id, turns, origin) VALUES ('it_x', '[]', 'demo')")
        raise RuntimeError("boom")
    assert store.counts()["items"] == 0
    with store.transaction() as c:
        c.execute("INSERT INTO items(item_id, turns, origin) VALUES ('it_x', '[]', 'demo')")
    assert store.counts()["items"] == 1


def test_cell_status_is_constrained(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO cells(key, role, model, endpoint, run_index, prompt_version, "
                "context, prompt, status, created_at, updated_at) "
                "VALUES ('k', 'r', 'm', 'e', 0, 'v1', '{}', '{}', 'weird', 'now', 'now')"
            )
    finally:
        conn.close()


def test_domain_records_upsert_and_join(store: Store) -> None:
    (iid,) = store.add_items([(["help"], "s", None)], origin="demo")
    rid = response_id_for(iid, "bot", 1)
    store.upsert_labels(
        [
            LabelRecord(
                rater="human:H1",
                rater_kind="human",
                run_index=0,
                item_id=iid,
                label="self_harm",
                status="ok",
                origin="import:x",
            )
        ]
    )
    store.upsert_responses(
        [
            ResponseRecord.make(
                item_id=iid,
                respondent="bot",
                run_index=1,
                text="I hear you",
                status="ok",
                tokens_out=4,
                origin="respond",
            )
        ]
    )
    judgment = JudgmentRecord(
        response_id=rid,
        judge="j",
        judge_kind="model",
        run_index=1,
        label="self_harm",
        score=4.0,
        status="ok",
        origin="judge",
    )
    store.upsert_judgments([judgment])
    # same key: replaced, not duplicated
    store.upsert_judgments([judgment.model_copy(update={"score": 5.0})])
    jf = store.judgments_frame()
    assert len(jf) == 1
    row = jf.iloc[0]
    assert (row["item_id"], row["respondent"], row["score"]) == (iid, "bot", 5.0)
    assert store.labels_frame()["label"].tolist() == ["self_harm"]
    assert store.responses_frame()["text"].tolist() == ["I hear you"]
    counts = store.counts()
    assert (counts["labels"], counts["responses"], counts["judgments"]) == (1, 1, 1)
