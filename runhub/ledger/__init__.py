"""The ledger: every launch recorded before its request, so none is sent twice.

``Ledger`` is what clients and commands use; it keeps the rules (launch keys,
claims with leases, the order of writes) over one small storage interface,
``Store`` (:mod:`runhub.ledger.store`), with SQLite as the embedded default
(:mod:`runhub.ledger.sqlite`). docs/ledger.md describes the design.

    from runhub.ledger import Ledger

    with Ledger() as ledger:  # RUNHUB_HOME/ledger.sqlite
        for launch in ledger.runs(batch="b-1f2e3d4c5b6a7980"):
            print(launch.ref, launch.state)
"""

from __future__ import annotations

from runhub.ledger.claims import Claim
from runhub.ledger.core import Ledger, default_location
from runhub.ledger.records import (
    ATTEMPT_MARK,
    ERROR,
    TERMINAL,
    VERDICT,
    ChainMark,
    ChainRecord,
    Intent,
    Launch,
    SpecRecord,
    attempt_key,
    attempt_of,
    launch_key,
    row_family,
)
from runhub.ledger.sqlite_schema import MIGRATIONS
from runhub.ledger.store import Query, Result, Store, open_store

__all__ = [
    "ATTEMPT_MARK",
    "ERROR",
    "MIGRATIONS",
    "TERMINAL",
    "VERDICT",
    "ChainMark",
    "ChainRecord",
    "Claim",
    "Intent",
    "Launch",
    "Ledger",
    "Query",
    "Result",
    "SpecRecord",
    "Store",
    "attempt_key",
    "attempt_of",
    "default_location",
    "launch_key",
    "open_store",
    "row_family",
]
