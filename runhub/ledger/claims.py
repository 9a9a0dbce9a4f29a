"""Who is launching a row right now: claim owners, their leases, and liveness.

A row is *claimed* before its launch request is sent: its owner id and a lease
expiry are written into the row by a conditional update, so of several processes
exactly one sends it. The rules kept here, for every store:

- An owner id is ``host/pid/token``: a fresh token per launch, so two launches in
  one process never share a claim. ``host`` includes the pid namespace on Linux,
  so two containers sharing a ledger never judge each other's pids.
- A claim is *live* until its lease expires, or until its owner is seen to be dead
  (a pid of this host that no longer exists): a killed ``runhub batch`` does not
  keep the rows it held for a whole lease. Owners on other hosts (a shared
  PostgreSQL ledger) are trusted until their lease expires.
- The lease outlasts one request with all its retries (:func:`lease_for`), and is
  renewed whenever the launch sends a request: a live launch never loses its claim
  while it waits on the platform.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runhub.ledger.records import Launch
    from runhub.policy import RetryPolicy

#: Seconds between looks at a row claimed by a live process.
CLAIM_POLL = 0.25
#: Added to the longest a request can take, for the lease.
LEASE_MARGIN = 30.0
#: The lease when no retry policy is known.
DEFAULT_LEASE = 300.0


@cache
def this_host() -> str:
    """This machine (and pid namespace), as claim owners name it."""
    host = socket.gethostname() or "localhost"
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return host
    return f"{host}~{namespace.strip('pid:[]')}"


def new_owner() -> str:
    """A fresh owner id for one launch: ``host/pid/token``."""
    return f"{this_host()}/{os.getpid()}/{secrets.token_hex(6)}"


def alive(owner: str) -> bool:
    """False only if ``owner`` is certainly gone: a process of this host that has
    exited. Anything else (other hosts, unreadable ids) counts as alive."""
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != this_host() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process, so it exists
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True for an exited process its parent has not reaped yet (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[:1] == [b"Z"]
    except OSError:
        return False


def lease_for(policy: RetryPolicy | None) -> float:
    """A lease long enough to outlive one request with all its retries."""
    if policy is None:
        return DEFAULT_LEASE
    # Retries stop at the budget; the attempt under way then ends by its deadline.
    return policy.budget + policy.deadline + LEASE_MARGIN


@dataclass(frozen=True)
class Claim:
    """What trying to claim a row found.

    ``record`` is the row as it is now. Exactly one of: ``mine`` (this launch
    holds the row and may send it), ``launched`` (the row has its run: re-attach),
    or neither (a live launch elsewhere holds it until ``until``: wait).
    """

    record: Launch
    mine: bool = False
    until: float | None = None
    #: The owner this claim took the row over from (expired or dead), if any.
    took_over: str | None = None

    @property
    def launched(self) -> bool:
        """The row already has its run."""
        return self.record.ref is not None
