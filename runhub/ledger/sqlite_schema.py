"""The SQLite ledger's schema, as forward migrations (``PRAGMA user_version``).

Index i migrates version i to i + 1. Migrations only ever add: a ledger written by
an older runhub opens in a newer one with its rows intact, and a newer ledger is
refused by an older runhub rather than misread.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE launches (
        key         TEXT PRIMARY KEY,
        backend     TEXT NOT NULL,
        spec_hash   TEXT NOT NULL,
        batch       TEXT,
        row_key     TEXT,
        name        TEXT,
        ref         TEXT,
        state       TEXT,
        native      TEXT,
        error       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        attempted_at REAL,
        launched_at REAL,
        updated_at  REAL NOT NULL
    );
    CREATE UNIQUE INDEX launches_batch_row ON launches(batch, row_key)
        WHERE batch IS NOT NULL AND row_key IS NOT NULL;
    CREATE INDEX launches_ref ON launches(ref);
    CREATE INDEX launches_created ON launches(created_at);
    """,
    # v2: the polling-group hint of the run's ref (RunRef.batch), so runs launched
    # by one process can be polled cheaply by another.
    """
    ALTER TABLE launches ADD COLUMN ref_group TEXT;
    """,
    # v3: the spec each launch was made with, and the launch it repeats (relaunch,
    # batch --retry-failed). Specs of launches gone from the ledger are dropped by
    # keep_specs.
    """
    CREATE TABLE launch_specs (
        key       TEXT PRIMARY KEY,
        spec      TEXT NOT NULL,
        previous  TEXT
    );
    CREATE INDEX launch_specs_previous ON launch_specs(previous);
    """,
    # v4: claims (owner + lease) so concurrent launchers never both send a row; the
    # latest send (settling after a takeover); tombstones of pruned batch rows, so
    # a pruned batch never launches a row again; the ledger's identity and how many
    # rows and sends it ever recorded, so a replaced or truncated ledger is noticed.
    """
    ALTER TABLE launches ADD COLUMN claim_owner TEXT;
    ALTER TABLE launches ADD COLUMN claim_until REAL;
    ALTER TABLE launches ADD COLUMN sent_at REAL;
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
        created_at  REAL NOT NULL,
        launched_at REAL,
        pruned_at   REAL NOT NULL,
        PRIMARY KEY (batch, row_key)
    );
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('ledger_id', lower(hex(randomblob(16))));
    INSERT INTO meta VALUES ('written', (SELECT count(*) FROM launches));
    INSERT INTO meta VALUES ('sent', (SELECT coalesce(sum(attempts), 0) FROM launches));
    """,
    # v5: chains (runhub.chain), shareable through the ledger so that any process
    # (another host's event consumer) can advance them: each chain's definition and
    # rows, written once, and the marks of steps that never became runs (skipped,
    # failed to launch) and of each row's verdict (step ''), first mark kept.
    """
    CREATE TABLE chains (
        id          TEXT PRIMARY KEY,
        definition  TEXT NOT NULL,
        created_at  REAL NOT NULL
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
        at          REAL NOT NULL,
        PRIMARY KEY (chain, row_key, step)
    );
    """,
    # v6: the platform request a row was sent in together with other rows (an ICA
    # creation batch), written before that request: a re-run sends the same request.
    """
    ALTER TABLE launches ADD COLUMN launch_group TEXT;
    """,
)
