"""Tables and statements of the SQLite job store.

`attempts` counts the runs of a job and `completions` how often it reached a final state.
An outcome is stored only while the job has none, and the result row is keyed by job id,
so `completions` stays at 1 however often the job ran. The inputs are dropped once the job
is finished, because the result rows are in the same order.
"""

from __future__ import annotations

JOB_COLUMNS = (
    "id, state, input_count, created_at, input_digest, idempotency_key, attempts, "
    "started_at, finished_at, error, model, dimensions, total_tokens"
)

CREATE = (
    """
    CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        idempotency_key TEXT UNIQUE,
        input_digest TEXT NOT NULL,
        inputs TEXT NOT NULL,
        input_count INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        completions INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        model TEXT,
        dimensions INTEGER,
        total_tokens INTEGER
    )
    """,
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_by_finish ON jobs (finished_at)",
    """
    CREATE TABLE IF NOT EXISTS results (
        job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        vectors BLOB NOT NULL
    )
    """,
    "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, filler BLOB)",
)

INSERT_JOB = (
    "INSERT INTO jobs (id, idempotency_key, input_digest, inputs, input_count, state, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
SELECT_BY_KEY = f"SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?"
SELECT_STATE = "SELECT state FROM jobs WHERE id = ?"
SELECT_INPUTS = "SELECT inputs, attempts FROM jobs WHERE id = ?"
SELECT_QUEUED = "SELECT seq, id FROM jobs WHERE state = 'queued' AND seq > ? ORDER BY seq LIMIT ?"
# substr() counts bytes of a BLOB, from 1.
SELECT_VECTORS = "SELECT substr(vectors, ?, ?) FROM results WHERE job_id = ?"
COUNT_UNFINISHED = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"

REQUEUE_RUNNING = "UPDATE jobs SET state = 'queued' WHERE state = 'running'"
MARK_RUNNING = (
    "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ? "
    "WHERE id = ? AND state = 'queued'"
)
MARK_QUEUED = "UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'"
INSERT_RESULT = (
    "INSERT INTO results (job_id, vectors) VALUES (?, ?) ON CONFLICT (job_id) DO NOTHING"
)
MARK_DONE = (
    "UPDATE jobs SET state = 'done', completions = completions + 1, finished_at = ?, "
    "model = ?, dimensions = ?, total_tokens = ?, error = NULL, inputs = '[]' WHERE id = ?"
)
MARK_FAILED = (
    "UPDATE jobs SET state = 'failed', completions = completions + 1, finished_at = ?, "
    "error = ?, inputs = '[]' WHERE id = ? AND state IN ('queued', 'running')"
)

DELETE_OLD_RESULTS = (
    "DELETE FROM results WHERE job_id IN (SELECT id FROM jobs WHERE finished_at < ?)"
)
DELETE_OLD_JOBS = "DELETE FROM jobs WHERE finished_at < ?"

INSERT_PROBE = "INSERT INTO probe (filler) VALUES (zeroblob(4096))"
DELETE_PROBE = "DELETE FROM probe"
