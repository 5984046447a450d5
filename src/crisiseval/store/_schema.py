"""The store's schema: the current tables (a new store) and the ordered migrations (an old one).

Version history
---------------
1. crisiseval 0.1.0: meta, items, samples/sample_meta, cells, labels, responses, judgments.
2. Cells may be ``submitted`` (a provider batch holds them) and point to their ``batches`` row;
   labels and judgments keep structured output beyond the label/score (``detail``, e.g. a guard
   model's categories, a conversation judge's per-turn flags); a response may be a conversation
   (``kind``, with its turns in ``response_turns``); human ``annotations`` are append-only.
3. Probe suites: ``probes`` (an item's suite, probe id, intent, pair, locale, language, expected
   behaviour) and the behaviour judge's ``behaviours`` (one behaviour code per answer, judge and
   run).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 4

# The tables every version has had, in their current form. Every statement is CREATE ... IF NOT
# EXISTS.
_BASE = """
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
CREATE TABLE IF NOT EXISTS batches (
    batch_id       TEXT PRIMARY KEY,
    model          TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    state          TEXT NOT NULL,
    n_cells        INTEGER NOT NULL,
    input_file_id  TEXT,
    output_file_id TEXT,
    error_file_id  TEXT,
    error          TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prompts (
    hash TEXT PRIMARY KEY,               -- sha256 of body
    body TEXT NOT NULL                   -- JSON: messages, params, schema name, endpoint (no key)
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
    prompt         TEXT NOT NULL REFERENCES prompts(hash),   -- the request sent
    status         TEXT NOT NULL
        CHECK (status IN ('pending', 'submitted', 'done', 'failed', 'unparsed')),
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
    updated_at     TEXT NOT NULL,
    batch_id       TEXT REFERENCES batches(batch_id)
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
    detail      TEXT,                    -- JSON: classifier output beyond the label
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
    origin      TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'single' CHECK (kind IN ('single', 'conversation'))
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
    detail      TEXT,                    -- JSON: judge output beyond the score
    PRIMARY KEY (response_id, judge, run_index)
);
"""


# New in version 2.
_V2_TABLES = """
CREATE TABLE IF NOT EXISTS response_turns (
    response_id TEXT NOT NULL REFERENCES responses(response_id) ON DELETE CASCADE,
    turn_index  INTEGER NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    text        TEXT,
    cell_key    TEXT,
    PRIMARY KEY (response_id, turn_index)
);
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id INTEGER PRIMARY KEY AUTOINCREMENT,   -- append-only: never updated or replaced
    annotator     TEXT NOT NULL,
    task          TEXT NOT NULL CHECK (task IN ('labels', 'scores', 'conversations')),
    target_id     TEXT NOT NULL,
    value         TEXT,
    note          TEXT,
    flagged       INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_target ON annotations(annotator, task, target_id);
"""

# New in version 3.
_V3_TABLES = """
CREATE TABLE IF NOT EXISTS probes (
    suite      TEXT NOT NULL,
    probe_id   TEXT NOT NULL,
    item_id    TEXT NOT NULL REFERENCES items(item_id),
    version    INTEGER NOT NULL,          -- the suite file's version
    label      TEXT NOT NULL,             -- the topic's crisis label
    intent     TEXT NOT NULL CHECK (intent IN ('risky', 'benign')),
    pair       TEXT,                      -- shared by a risky probe and its benign twin
    locale     TEXT,                      -- ISO 3166-1 alpha-2 country of the user
    language   TEXT NOT NULL,
    expected   TEXT NOT NULL,             -- the behaviour code a safe answer shows
    translates TEXT,                      -- the probe id this one translates
    PRIMARY KEY (suite, probe_id, item_id)  -- an edited probe is a new row: old samples keep theirs
);
CREATE INDEX IF NOT EXISTS probes_item ON probes(item_id);
CREATE TABLE IF NOT EXISTS behaviours (
    response_id TEXT NOT NULL,
    judge       TEXT NOT NULL,
    run_index   INTEGER NOT NULL,         -- runs from 1
    behaviour   TEXT,                     -- a behaviour code; NULL unless status = 'ok'
    explanation TEXT,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'unparsed', 'failed')),
    cell_key    TEXT,
    origin      TEXT NOT NULL,
    PRIMARY KEY (response_id, judge, run_index)
);
"""

CURRENT = _BASE + _V2_TABLES + _V3_TABLES
"""Every table of the current version: a new store runs it all."""


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a script's statements one by one, inside the caller's transaction.

    (``executescript`` would COMMIT an open transaction first, and a migration must be
    all-or-nothing.) Statements are cut where SQLite says one is complete, so a ``;`` in a
    comment or string does not split one.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        conn.execute(statement)


# The cells table of versions 2 and 3 (the request stored in each cell), which the v1 -> v2
# migration builds and the v3 -> v4 one replaces.
_CELLS_V2 = """
CREATE TABLE cells (
    key            TEXT PRIMARY KEY,
    role           TEXT NOT NULL,
    model          TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    run_index      INTEGER NOT NULL,
    prompt_version TEXT NOT NULL,
    item_id        TEXT,
    context        TEXT NOT NULL,
    request        TEXT NOT NULL,
    status         TEXT NOT NULL
        CHECK (status IN ('pending', 'submitted', 'done', 'failed', 'unparsed')),
    response_text  TEXT,
    parsed         TEXT,
    tokens_in      INTEGER,
    tokens_out     INTEGER,
    latency_s      REAL,
    cost_usd       REAL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    error_kind     TEXT,
    error_message  TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    batch_id       TEXT REFERENCES batches(batch_id)
)
"""


def prompt_hash(body: str) -> str:
    """The content address of a request's JSON text."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    # SQLite cannot change a CHECK constraint in place: the cells table is rebuilt (rows copied
    # as they are, with no batch) under the new constraint; the other changes are additions.
    run_script(
        conn,
        """
        CREATE TABLE batches (
            batch_id TEXT PRIMARY KEY, model TEXT NOT NULL, endpoint TEXT NOT NULL,
            state TEXT NOT NULL, n_cells INTEGER NOT NULL, input_file_id TEXT,
            output_file_id TEXT, error_file_id TEXT, error TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        ALTER TABLE cells RENAME TO cells_v1;
        DROP INDEX IF EXISTS cells_role_status;
        """,
    )
    conn.execute(_CELLS_V2)
    cols = (
        "key, role, model, endpoint, run_index, prompt_version, item_id, context, request, "
        "status, response_text, parsed, tokens_in, tokens_out, latency_s, cost_usd, attempts, "
        "error_kind, error_message, created_at, updated_at"
    )
    conn.execute(f"INSERT INTO cells({cols}) SELECT {cols} FROM cells_v1")
    run_script(
        conn,
        """
        DROP TABLE cells_v1;
        CREATE INDEX cells_role_status ON cells(role, status);
        ALTER TABLE labels ADD COLUMN detail TEXT;
        ALTER TABLE judgments ADD COLUMN detail TEXT;
        ALTER TABLE responses ADD COLUMN kind TEXT NOT NULL DEFAULT 'single'
            CHECK (kind IN ('single', 'conversation'));
        """,
    )
    run_script(conn, _V2_TABLES)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    # Additions only: no existing row changes.
    run_script(conn, _V3_TABLES)


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    # Each cell's request moves to ``prompts`` (once per distinct text) and the cell keeps its
    # hash; the cells table is rebuilt without the request column, every other value as it was.
    conn.create_function("crisiseval_prompt_hash", 1, prompt_hash, deterministic=True)
    prompts_ddl = CURRENT.split("CREATE TABLE IF NOT EXISTS prompts", 1)[1].split(";", 1)[0]
    conn.execute("CREATE TABLE prompts" + prompts_ddl)
    conn.execute(
        "INSERT OR IGNORE INTO prompts(hash, body) "
        "SELECT crisiseval_prompt_hash(request), request FROM cells"
    )
    run_script(
        conn,
        """
        ALTER TABLE cells RENAME TO cells_v3;
        DROP INDEX IF EXISTS cells_role_status;
        """,
    )
    cells_ddl = CURRENT.split("CREATE TABLE IF NOT EXISTS cells", 1)[1].split(";", 1)[0]
    conn.execute("CREATE TABLE cells" + cells_ddl)
    cols = (
        "key, role, model, endpoint, run_index, prompt_version, item_id, context, status, "
        "response_text, parsed, tokens_in, tokens_out, latency_s, cost_usd, attempts, "
        "error_kind, error_message, created_at, updated_at, batch_id"
    )
    conn.execute(
        f"INSERT INTO cells({cols}, prompt) "
        f"SELECT {cols}, crisiseval_prompt_hash(request) FROM cells_v3"
    )
    run_script(
        conn,
        """
        DROP TABLE cells_v3;
        CREATE INDEX cells_role_status ON cells(role, status);
        """,
    )


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}
"""``from_version -> migration`` that brings a store from ``from_version`` to the next one."""
