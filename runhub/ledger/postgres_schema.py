"""The PostgreSQL ledger's schema, as a list of versioned, forward-only steps.

Step ``n`` (1-based) takes the schema from version ``n - 1`` to ``n``; the version
applied is kept in ``runhub_schema``. To change the schema, append a step (never
edit one that shipped): e.g. a table for a new Store operation::

    Step(5, "chain links", "CREATE TABLE chain_links (...)")

Steps run in one transaction each, under an advisory lock, on the first open by a
runhub that knows them (:func:`runhub.ledger.postgres_conn.migrate`). A ledger at a
version above the last step was written by a newer runhub and is refused.

The tables match the SQLite store's (:mod:`runhub.ledger.sqlite_schema`) column for
column, plus ``seq``: the order rows were recorded in (SQLite's ``rowid``).
"""

from __future__ import annotations

from typing import NamedTuple


class Step(NamedTuple):
    """One migration: the version it produces, what it is for, its SQL."""

    version: int
    why: str
    sql: str


#: Serialises migrations across every process and host using the database.
LOCK_ID = 0x72756E687562  # "runhub"

MIGRATIONS: tuple[Step, ...] = (
    Step(
        1,
        "launches, with claims (owner + lease) so concurrent launchers never both send",
        """
        CREATE TABLE launches (
            seq          BIGINT GENERATED ALWAYS AS IDENTITY,
            key          TEXT PRIMARY KEY,
            backend      TEXT NOT NULL,
            spec_hash    TEXT NOT NULL,
            batch        TEXT,
            row_key      TEXT,
            name         TEXT,
            ref          TEXT,
            ref_group    TEXT,
            state        TEXT,
            native       TEXT,
            error        TEXT,
            attempts     INTEGER NOT NULL DEFAULT 0,
            created_at   DOUBLE PRECISION NOT NULL,
            attempted_at DOUBLE PRECISION,
            launched_at  DOUBLE PRECISION,
            updated_at   DOUBLE PRECISION NOT NULL,
            claim_owner  TEXT,
            claim_until  DOUBLE PRECISION,
            sent_at      DOUBLE PRECISION
        );
        CREATE UNIQUE INDEX launches_batch_row ON launches (batch, row_key)
            WHERE batch IS NOT NULL AND row_key IS NOT NULL;
        CREATE INDEX launches_ref ON launches (ref);
        CREATE INDEX launches_created ON launches (created_at, seq);
        """,
    ),
    Step(
        2,
        "tombstones of pruned batch rows, so a pruned batch never launches a row again",
        """
        CREATE TABLE pruned (
            batch       TEXT NOT NULL,
            row_key     TEXT NOT NULL,
            key         TEXT NOT NULL,
            backend     TEXT NOT NULL,
            spec_hash   TEXT NOT NULL,
            name        TEXT,
            ref         TEXT NOT NULL,
            ref_group   TEXT,
            state       TEXT,
            native      TEXT,
            created_at  DOUBLE PRECISION NOT NULL,
            launched_at DOUBLE PRECISION,
            pruned_at   DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (batch, row_key)
        );
        CREATE INDEX pruned_backend ON pruned (backend);
        """,
    ),
    Step(
        3,
        "the spec of each launch and the launch it repeats (show, relaunch, --retry-failed)",
        """
        CREATE TABLE launch_specs (
            key      TEXT PRIMARY KEY,
            spec     TEXT NOT NULL,
            previous TEXT
        );
        CREATE INDEX launch_specs_previous ON launch_specs (previous);
        """,
    ),
    Step(
        4,
        "the ledger's identity, for runhub ledger info",
        """
        CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('ledger_id', md5(random()::text || clock_timestamp()::text));
        """,
    ),
    Step(
        5,
        "chains (runhub.chain): definitions, rows, and marks of skipped steps and verdicts",
        """
        CREATE TABLE chains (
            id          TEXT PRIMARY KEY,
            definition  TEXT NOT NULL,
            created_at  DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE chain_rows (
            chain       TEXT NOT NULL,
            row_key     TEXT NOT NULL,
            position    INTEGER NOT NULL,
            cells       TEXT NOT NULL,
            PRIMARY KEY (chain, row_key)
        );
        CREATE TABLE chain_marks (
            chain       TEXT NOT NULL,
            row_key     TEXT NOT NULL,
            step        TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            message     TEXT,
            at          DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (chain, row_key, step)
        );
        """,
    ),
    Step(
        6,
        "the group request a row was sent in with others (an ICA creation batch)",
        """
        ALTER TABLE launches ADD COLUMN launch_group TEXT;
        """,
    ),
)

# The versions must run 1, 2, 3, ... with no gap: a gap would skip a step.
assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))

#: The schema version this runhub writes.
CURRENT = len(MIGRATIONS)
