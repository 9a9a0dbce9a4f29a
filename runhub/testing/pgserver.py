"""A real PostgreSQL server in a temporary folder, on 127.0.0.1, for tests and benches.

    with TempPostgres.start() as server:          # initdb + pg_ctl start
        url = server.create_database("ledger_a")   # postgresql://runhub:...@127.0.0.1:P/ledger_a
        server.restart()                           # a database restart, mid-test

The server binaries are looked up in ``RUNHUB_PG_BIN``, then Debian's
``/usr/lib/postgresql/<version>/bin`` (newest first), then ``PATH``;
:func:`find_bin` returns None when there are none (tests then skip, or fail under
CI). PostgreSQL refuses to run as root: run as root, the cluster belongs to an
unprivileged user (``postgres`` if it exists, else ``nobody``) and each server
command runs as that user through ``runuser``. The superuser ``runhub`` logs in with
a password over TCP only (scram-sha-256), so tests see the same URLs a team uses.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

USER = "runhub"
#: A distinctive password, so tests can check it is never printed.
PASSWORD = "PGPASS-fake-5d0c8e21a9b4"


def find_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    explicit = os.environ.get("RUNHUB_PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: -int(p.name))]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing() -> str | None:
    """Why a real server cannot be started here (no binaries, no psycopg), or None."""
    import importlib.util

    if find_bin() is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres): install Debian's "
            "'postgresql' package, or set RUNHUB_PG_BIN to their folder"
        )
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed: pip install -e '.[test]'"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> str | None:
    """Who runs the server: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and no 'postgres' or 'nobody' user to run PostgreSQL")


class TempPostgres:
    """A PostgreSQL cluster in a temporary folder, served on 127.0.0.1:``port``."""

    def __init__(
        self, bindir: Path, root: Path, port: int, user: str | None, *, durable: bool = False
    ) -> None:
        self.durable = durable
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.user = user
        self.log = root / "server.log"

    @classmethod
    @contextlib.contextmanager
    def start(cls, bindir: Path | None = None, *, durable: bool = False) -> Iterator[TempPostgres]:
        """initdb a new cluster, start it, and remove it all afterwards. Tests skip
        fsync; ``durable`` keeps PostgreSQL's defaults (every commit flushed), for
        benchmarks."""
        found = bindir or find_bin()
        if found is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")
        root = Path(tempfile.mkdtemp(prefix="runhub-pg-"))
        server = cls(found, root, _free_port(), _server_user(), durable=durable)
        try:
            server._init()
            server.start_server()
            yield server
        finally:
            server.stop_server()
            shutil.rmtree(root, ignore_errors=True)

    # -- the server ------------------------------------------------------------------

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120)

    def _init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            info = pwd.getpwnam(self.user)
            for path in (self.root, pwfile):
                os.chown(path, info.pw_uid, info.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        fast = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n" + ("" if self.durable else fast)
            )

    def start_server(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: ends every session; ``immediate``: a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (every connection is dropped), wait, start it again."""
        self.stop_server()
        time.sleep(down_for)
        self.start_server()

    # -- databases -------------------------------------------------------------------

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        """The URL of ``database`` on this server."""
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (autocommit)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (with the password)."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending its sessions first."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
