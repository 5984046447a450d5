"""The study's records in the store: labels, answers (with conversation turns), judgments,
append-only annotations; the queries stages and commands need on them, and their frames for the
analysis. Mixed into :class:`~crisiseval.store.Store`."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisiseval.store._journal import Journal
from crisiseval.store.records import (
    AnnotationRecord,
    BehaviourRecord,
    JudgmentRecord,
    LabelRecord,
    ProbeRecord,
    ResponseKind,
    ResponseRecord,
    TurnRecord,
)

if TYPE_CHECKING:
    import pandas as pd


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _upsert_sql(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """An upsert that writes only what changed: a new row is inserted, an existing one is
    updated only where a value differs (a resumed run re-derives every record from its cells;
    unchanged ones cost a lookup, not a page write)."""
    cols = ", ".join(columns)
    rest = [c for c in columns if c not in key]
    sets = ", ".join(f"{c} = excluded.{c}" for c in rest)
    mine = ", ".join(rest)
    theirs = ", ".join(f"excluded.{c}" for c in rest)
    return (
        f"INSERT INTO {table}({cols}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT({', '.join(key)}) DO UPDATE SET {sets} WHERE ({mine}) IS NOT ({theirs})"
    )


def _changed(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """The rows that are not already stored exactly so. Many rows (a stage's records on
    resume) are compared here against one pass over the table, which costs less than SQLite
    looking each one up to find it unchanged; a few are left to the upsert."""
    if len(rows) < 1000:
        return rows
    at = [columns.index(k) for k in key]
    wanted = {tuple(r[i] for i in at) for r in rows}
    stored: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table}"):
        pk = tuple(row[i] for i in at)
        if pk in wanted:
            stored[pk] = row
    return [r for r in rows if stored.get(tuple(r[i] for i in at)) != r]


_LABELS_COLUMNS = (
    "rater",
    "rater_kind",
    "run_index",
    "item_id",
    "label",
    "status",
    "explanation",
    "cell_key",
    "origin",
    "detail",
)
_LABELS_KEY = ("rater", "run_index", "item_id")
_RESPONSES_COLUMNS = (
    "response_id",
    "item_id",
    "respondent",
    "run_index",
    "text",
    "status",
    "tokens_out",
    "cell_key",
    "origin",
    "kind",
)
_JUDGMENTS_COLUMNS = (
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
    "detail",
)
_JUDGMENTS_KEY = ("response_id", "judge", "run_index")
_LABELS_UPSERT = _upsert_sql("labels", _LABELS_COLUMNS, _LABELS_KEY)
_RESPONSES_UPSERT = _upsert_sql("responses", _RESPONSES_COLUMNS, ("response_id",))
_JUDGMENTS_UPSERT = _upsert_sql("judgments", _JUDGMENTS_COLUMNS, _JUDGMENTS_KEY)


class RecordsMixin:
    path: Path
    _conn: sqlite3.Connection
    cells: Journal

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # provided by Store

    # ------------------------------------------------------------------ records
    def upsert_labels(self, records: Iterable[LabelRecord]) -> int:
        rows = [
            (
                r.rater,
                r.rater_kind,
                r.run_index,
                r.item_id,
                r.label,
                r.status,
                r.explanation,
                r.cell_key,
                r.origin,
                _json(r.detail),
            )
            for r in records
        ]
        with self.transaction() as c:
            c.executemany(_LABELS_UPSERT, _changed(c, "labels", _LABELS_COLUMNS, _LABELS_KEY, rows))
        return len(rows)

    def upsert_responses(self, records: Iterable[ResponseRecord]) -> int:
        recs = list(records)
        rows = [
            (
                r.response_id,
                r.item_id,
                r.respondent,
                r.run_index,
                r.text,
                r.status,
                r.tokens_out,
                r.cell_key,
                r.origin,
                r.kind,
            )
            for r in recs
        ]
        turns = [
            (r.response_id, t.index, t.role, t.text, t.cell_key) for r in recs for t in r.turns
        ]
        with self.transaction() as c:
            c.executemany(
                _RESPONSES_UPSERT,
                _changed(c, "responses", _RESPONSES_COLUMNS, ("response_id",), rows),
            )
            conv = [(r.response_id,) for r in recs if r.kind == "conversation"]
            c.executemany("DELETE FROM response_turns WHERE response_id = ?", conv)
            c.executemany(
                "INSERT INTO response_turns(response_id, turn_index, role, text, cell_key) "
                "VALUES (?,?,?,?,?)",
                turns,
            )
        return len(rows)

    def upsert_judgments(self, records: Iterable[JudgmentRecord]) -> int:
        rows = [
            (
                r.response_id,
                r.judge,
                r.judge_kind,
                r.run_index,
                r.label,
                r.score,
                r.explanation,
                r.status,
                r.cell_key,
                r.origin,
                _json(r.detail),
            )
            for r in records
        ]
        with self.transaction() as c:
            c.executemany(
                _JUDGMENTS_UPSERT,
                _changed(c, "judgments", _JUDGMENTS_COLUMNS, _JUDGMENTS_KEY, rows),
            )
        return len(rows)

    def add_annotation(self, record: AnnotationRecord) -> int:
        """Append an annotation (never replaces one); returns its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO annotations(annotator, task, target_id, value, note, flagged, "
                "skipped, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    record.annotator,
                    record.task,
                    record.target_id,
                    record.value,
                    record.note,
                    int(record.flagged),
                    int(record.skipped),
                    record.created_at,
                ),
            )
        return int(cur.lastrowid or 0)

    def annotations(
        self, *, task: str | None = None, latest: bool = True
    ) -> list[AnnotationRecord]:
        """Annotations in the order given; ``latest``: only each annotator's current answer per
        target (the full history stays in the table)."""
        sql = (
            "SELECT annotator, task, target_id, value, note, flagged, skipped, created_at, "
            "annotation_id FROM annotations"
        )
        params: tuple[Any, ...] = ()
        if task is not None:
            sql += " WHERE task = ?"
            params = (task,)
        rows = self._conn.execute(sql + " ORDER BY annotation_id", params).fetchall()
        if latest:
            last: dict[tuple[str, str, str], Any] = {}
            for r in rows:
                last[(r[0], r[1], r[2])] = r
            rows = sorted(last.values(), key=lambda r: r[8])
        return [
            AnnotationRecord(
                annotator=r[0],
                task=r[1],
                target_id=r[2],
                value=r[3],
                note=r[4],
                flagged=bool(r[5]),
                skipped=bool(r[6]),
                created_at=r[7],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ record queries
    def item_labels(self, rater: str) -> dict[str, str]:
        """The valid label of each item according to ``rater`` (e.g. ``majority:gpt-4o-mini``)."""
        rows = self._conn.execute(
            "SELECT item_id, label FROM labels WHERE rater = ? AND status = 'ok'", (rater,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def foreign_answers(self, respondents: Sequence[str], origin: str) -> tuple[str, str] | None:
        """(respondent, origin) of an answer by one of ``respondents`` not written by ``origin``."""
        marks = ",".join("?" * len(respondents))
        row = self._conn.execute(
            f"SELECT respondent, origin FROM responses WHERE respondent IN ({marks}) "
            "AND origin != ? LIMIT 1",
            [*respondents, origin],
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def ok_responses(
        self, kind: ResponseKind | None = "single"
    ) -> list[tuple[str, str, str, str, int]]:
        """(response_id, item_id, text, respondent, run) of every valid answer of ``kind``
        (single-turn answers by default; None: conversations too), in a stable order."""
        where = "status = 'ok'" + ("" if kind is None else " AND kind = ?")
        return [
            (str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]))
            for r in self._conn.execute(
                "SELECT response_id, item_id, text, respondent, run_index FROM responses "
                f"WHERE {where} ORDER BY item_id, respondent, run_index",
                () if kind is None else (kind,),
            )
        ]

    def conversation_turns(
        self, response_ids: Sequence[str] | None = None
    ) -> dict[str, list[TurnRecord]]:
        """The turns of conversation responses (all, or ``response_ids``), in order."""
        wanted = set(response_ids) if response_ids is not None else None
        out: dict[str, list[TurnRecord]] = {}
        for rid, index, role, text, key in self._conn.execute(
            "SELECT t.response_id, t.turn_index, t.role, t.text, t.cell_key FROM response_turns t "
            "JOIN responses r ON r.response_id = t.response_id WHERE r.kind = 'conversation' "
            "ORDER BY t.response_id, t.turn_index"
        ):
            if wanted is None or rid in wanted:
                out.setdefault(str(rid), []).append(
                    TurnRecord(index=int(index), role=role, text=text, cell_key=key)
                )
        return out

    def response_texts(self) -> dict[str, str | None]:
        return dict(self._conn.execute("SELECT response_id, text FROM responses").fetchall())

    def judgment_keys(self, judges: Sequence[str], origin: str) -> list[tuple[str, str, int, str]]:
        """(response_id, judge, run, item_id) of the judgments ``origin`` wrote for ``judges``."""
        marks = ",".join("?" * len(judges))
        return [
            (str(r[0]), str(r[1]), int(r[2]), str(r[3]))
            for r in self._conn.execute(
                "SELECT j.response_id, j.judge, j.run_index, r.item_id FROM judgments j "
                "JOIN responses r ON r.response_id = j.response_id "
                f"WHERE j.origin = ? AND j.judge IN ({marks})",
                [origin, *judges],
            )
        ]

    def judges_of(self, origin: str) -> list[str]:
        """The judges with judgments written by ``origin``."""
        return [
            str(r[0])
            for r in self._conn.execute(
                "SELECT DISTINCT judge FROM judgments WHERE origin = ? ORDER BY judge", (origin,)
            )
        ]

    def delete_judgments(self, keys: Iterable[tuple[str, str, int]]) -> int:
        """Remove judgments given as (response_id, judge, run)."""
        rows = list(keys)
        with self.transaction() as c:
            c.executemany(
                "DELETE FROM judgments WHERE response_id = ? AND judge = ? AND run_index = ?",
                rows,
            )
        return len(rows)

    def delete_judgments_of(self, response_ids: Iterable[str]) -> int:
        """Remove every judgment of these responses."""
        rows = [(r,) for r in response_ids]
        with self.transaction() as c:
            c.executemany("DELETE FROM judgments WHERE response_id = ?", rows)
        return len(rows)

    def response_items(self, origin: str) -> list[tuple[str, str]]:
        """(response_id, item_id) of the responses written by ``origin``."""
        return [
            (str(r[0]), str(r[1]))
            for r in self._conn.execute(
                "SELECT response_id, item_id FROM responses WHERE origin = ?", (origin,)
            )
        ]

    def delete_responses(self, response_ids: Iterable[str]) -> int:
        """Remove responses with their turns, judgments and behaviours."""
        rows = [(r,) for r in response_ids]
        with self.transaction() as c:
            for table in ("judgments", "behaviours", "response_turns", "responses"):
                c.executemany(f"DELETE FROM {table} WHERE response_id = ?", rows)
        return len(rows)

    def delete_labels(self, keys: Iterable[tuple[str, str]]) -> int:
        """Remove every label of (rater, item_id)."""
        rows = list(keys)
        with self.transaction() as c:
            c.executemany("DELETE FROM labels WHERE rater = ? AND item_id = ?", rows)
        return len(rows)

    def remove_stale_labels(
        self, item_ids: Sequence[str], classifiers: Sequence[str], runs: int, origin: str
    ) -> int:
        """Labels ``origin`` wrote for ``item_ids`` that the configuration no longer has: runs
        past ``runs`` and classifiers (and their majorities) not in ``classifiers``."""
        keep = set(classifiers)
        keep_majority = {f"majority:{c}" for c in classifiers}
        stale: list[tuple[str, int, str]] = []
        wanted = set(item_ids)
        for rater, kind, run, iid in self._conn.execute(
            "SELECT rater, rater_kind, run_index, item_id FROM labels WHERE origin = ?", (origin,)
        ):
            dropped_run = kind == "model_run" and (rater not in keep or run > runs)
            dropped_majority = kind == "majority" and rater not in keep_majority
            if iid in wanted and (dropped_run or dropped_majority):
                stale.append((rater, run, iid))
        with self.transaction() as c:
            c.executemany(
                "DELETE FROM labels WHERE rater = ? AND run_index = ? AND item_id = ?", stale
            )
        return len(stale)

    def remove_stale_responses(
        self, item_ids: Sequence[str], respondents: Sequence[str], runs: int, origin: str
    ) -> int:
        """Answers ``origin`` wrote for ``item_ids`` by respondents no longer configured or in
        runs past ``runs``, with their judgments (a judgment of a removed answer means nothing)."""
        keep = set(respondents)
        wanted = set(item_ids)
        stale = [
            (str(rid),)
            for rid, iid, who, run in self._conn.execute(
                "SELECT response_id, item_id, respondent, run_index FROM responses "
                "WHERE origin = ?",
                (origin,),
            )
            if iid in wanted and (who not in keep or run > runs)
        ]
        with self.transaction() as c:
            c.executemany("DELETE FROM judgments WHERE response_id = ?", stale)
            c.executemany("DELETE FROM behaviours WHERE response_id = ?", stale)
            c.executemany("DELETE FROM response_turns WHERE response_id = ?", stale)
            c.executemany("DELETE FROM responses WHERE response_id = ?", stale)
        return len(stale)

    # ------------------------------------------------------------------ probes
    def save_probes(self, records: Sequence[ProbeRecord]) -> int:
        """Store probes. A probe whose text changed is a new item and a new row; the rows of a
        sample made from an earlier version of the suite are kept as they were."""
        rows = [
            (
                r.suite,
                r.probe_id,
                r.item_id,
                r.version,
                r.label,
                r.intent,
                r.pair,
                r.locale,
                r.language,
                r.expected,
                r.translates,
            )
            for r in records
        ]
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO probes(suite, probe_id, item_id, version, label, intent, "
                "pair, locale, language, expected, translates) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def probes(self, item_ids: Sequence[str] | None = None) -> list[ProbeRecord]:
        """The stored probes (of ``item_ids`` when given), by suite and probe id."""
        wanted = set(item_ids) if item_ids is not None else None
        cols = (
            "suite",
            "probe_id",
            "item_id",
            "version",
            "label",
            "intent",
            "pair",
            "locale",
            "language",
            "expected",
            "translates",
        )
        return [
            ProbeRecord(**dict(zip(cols, row, strict=True)))
            for row in self._conn.execute(
                f"SELECT {', '.join(cols)} FROM probes ORDER BY suite, probe_id"
            )
            if wanted is None or row[2] in wanted
        ]

    def upsert_behaviours(self, records: Iterable[BehaviourRecord]) -> int:
        rows = [
            (
                r.response_id,
                r.judge,
                r.run_index,
                r.behaviour,
                r.explanation,
                r.status,
                r.cell_key,
                r.origin,
            )
            for r in records
        ]
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO behaviours(response_id, judge, run_index, behaviour, "
                "explanation, status, cell_key, origin) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def behaviour_keys(self) -> list[tuple[str, str, int, str]]:
        """(response_id, judge, run, item_id) of every stored behaviour; a behaviour whose
        response is gone has item_id ''."""
        return [
            (str(r[0]), str(r[1]), int(r[2]), str(r[3] or ""))
            for r in self._conn.execute(
                "SELECT b.response_id, b.judge, b.run_index, r.item_id FROM behaviours b "
                "LEFT JOIN responses r ON r.response_id = b.response_id"
            )
        ]

    def delete_behaviours(self, keys: Iterable[tuple[str, str, int]]) -> int:
        """Remove behaviours given as (response_id, judge, run)."""
        rows = list(keys)
        with self.transaction() as c:
            c.executemany(
                "DELETE FROM behaviours WHERE response_id = ? AND judge = ? AND run_index = ?",
                rows,
            )
        return len(rows)

    # ------------------------------------------------------------------ frames
    def labels_frame(self) -> pd.DataFrame:
        import pandas as pd  # only the analysis commands need pandas

        return pd.read_sql_query(
            "SELECT rater, rater_kind, run_index, item_id, label, status, explanation, origin, "
            "detail FROM labels",
            self._conn,
        )

    def responses_frame(self, kind: ResponseKind = "single") -> pd.DataFrame:
        """Responses of ``kind``: single-turn answers (what every single-turn statistic reads)
        or conversations (``text`` is the transcript)."""
        import pandas as pd  # only the analysis commands need pandas

        return pd.read_sql_query(
            "SELECT response_id, item_id, respondent, run_index, text, status, tokens_out, origin "
            "FROM responses WHERE kind = ?",
            self._conn,
            params=(kind,),
        )

    def judgments_frame(self, kind: ResponseKind = "single") -> pd.DataFrame:
        """Judgments of responses of ``kind``, joined with their response (item, respondent,
        answer run); ``detail`` (JSON text) holds a conversation judge's per-turn flags. A
        conversation's judgments count only while it is ok (one that failed when it was run
        again keeps none)."""
        import pandas as pd

        return pd.read_sql_query(
            "SELECT j.response_id, r.item_id, r.respondent, r.run_index AS response_run, "
            "j.judge, j.judge_kind, j.run_index AS judge_run, j.label, j.score, j.status, "
            "j.explanation, j.origin, j.detail "
            "FROM judgments j JOIN responses r ON r.response_id = j.response_id "
            "WHERE r.kind = ? AND (r.kind = 'single' OR r.status = 'ok')",
            self._conn,
            params=(kind,),
        )

    def probes_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_sql_query(
            "SELECT suite, probe_id, item_id, version, label, intent, pair, locale, language, "
            "expected, translates FROM probes",
            self._conn,
        )

    def behaviours_frame(self) -> pd.DataFrame:
        """Behaviours joined with their response (item, respondent, answer run)."""
        import pandas as pd

        return pd.read_sql_query(
            "SELECT b.response_id, r.item_id, r.respondent, r.run_index AS response_run, "
            "b.judge, b.run_index AS judge_run, b.behaviour, b.status, b.explanation "
            "FROM behaviours b JOIN responses r ON r.response_id = b.response_id",
            self._conn,
        )

    def cells_frame(self, role: str | None = None) -> pd.DataFrame:
        return self.cells.frame(role)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("items", "samples", "cells", "labels", "responses", "judgments"):
            out[table] = int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return out

    def status_counts(self) -> pd.DataFrame:
        """Records by status: labels by rater kind, responses by respondent, judgments by judge
        kind, cells by role (columns record, group, status, n)."""
        import pandas as pd  # only the analysis commands need pandas

        queries = {
            "labels": "SELECT rater_kind, status, COUNT(*) FROM labels GROUP BY 1, 2",
            "responses": "SELECT respondent, status, COUNT(*) FROM responses GROUP BY 1, 2",
            "judgments": "SELECT judge_kind, status, COUNT(*) FROM judgments GROUP BY 1, 2",
            "cells": "SELECT role, status, COUNT(*) FROM cells GROUP BY 1, 2",
        }
        rows = [
            {"record": record, "group": group, "status": status, "n": int(n)}
            for record, sql in queries.items()
            for group, status, n in self._conn.execute(sql).fetchall()
        ]
        return pd.DataFrame(rows, columns=["record", "group", "status", "n"])
