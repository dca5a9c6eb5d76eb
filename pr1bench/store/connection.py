"""Opening the results database: lock retry with backoff, read-only readers, friendly errors.

DuckDB lets one process open a database file for writing, and while it does, every other process (readers
included) gets "Could not set lock on file ... Conflicting lock is held in ... (PID n)". Sweeps run trials
side by side and a user may run ``pr1bench sql`` during an ingest, so every open retries with exponential
backoff up to a limit (``PR1BENCH_DB_LOCK_TIMEOUT`` seconds, default 60) and then names the holder.
Writers keep their connection (and therefore the lock) only as long as one short write needs it.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pr1bench import paths

if TYPE_CHECKING:
    import duckdb

LOCK_TIMEOUT_ENV = "PR1BENCH_DB_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
_FIRST_DELAY = 0.02
_MAX_DELAY = 1.0
_PID_RE = re.compile(r"\(PID (\d+)\)")
_HELD_IN_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID")


class StoreError(Exception):
    """A results-store problem worth one clear line to the user (no traceback)."""


class NoResultsError(StoreError):
    """The database file does not exist yet."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no results yet at {path}; run `pr1bench train ...` first")
        self.path = path


class StoreLockedError(StoreError):
    """Another process kept the database locked for longer than the timeout."""

    def __init__(self, path: Path, waited: float, pid: int | None, command: str | None) -> None:
        holder = f"PID {pid}" if pid is not None else "another process"
        if command:
            holder += f" ({command})"
        super().__init__(
            f"the results database {path} is locked by {holder}; gave up after {waited:.1f} s "
            f"(raise {LOCK_TIMEOUT_ENV} to wait longer, or let that process finish)"
        )
        self.path, self.waited, self.pid, self.command = path, waited, pid, command


class ReadOnlyError(StoreError):
    """A writing statement was sent over a read-only connection."""


def lock_timeout() -> float:
    """Seconds to keep retrying a locked database, from ``PR1BENCH_DB_LOCK_TIMEOUT`` (default 60)."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError as e:
        raise StoreError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds") from e


def is_lock_error(exc: BaseException) -> bool:
    """Whether a DuckDB error means "another process holds the file lock"."""
    return "Could not set lock on file" in str(exc)


def lock_holder(message: str) -> tuple[int | None, str | None]:
    """Parse the holder's PID from DuckDB's lock message and find its command line (Linux ``/proc``)."""
    m = _PID_RE.search(message)
    pid = int(m.group(1)) if m else None
    command = None
    if pid is not None:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            command = " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p) or None
        except OSError:
            command = None
    if command is None:
        held = _HELD_IN_RE.search(message)
        command = held.group(1) if held else None
    return pid, command


def connect(
    path: Path | str | None = None, *, read_only: bool = False, timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the database, retrying with exponential backoff while another process holds the lock.

    Args:
        path: database file (default ``paths.db_path()``).
        read_only: open read-only (a missing file then raises ``NoResultsError`` instead of creating one).
        timeout: seconds to keep retrying (default ``lock_timeout()``).

    Raises:
        NoResultsError: read-only and the file does not exist.
        StoreLockedError: still locked after ``timeout`` seconds; names the holder.
    """
    import duckdb

    db = Path(path) if path is not None else paths.db_path()
    if read_only and not db.exists():
        raise NoResultsError(db)
    if not read_only:
        db.parent.mkdir(parents=True, exist_ok=True)
    limit = lock_timeout() if timeout is None else timeout
    start = time.monotonic()
    delay = _FIRST_DELAY
    while True:
        try:
            return duckdb.connect(str(db), read_only=read_only)
        except duckdb.IOException as e:
            waited = time.monotonic() - start
            if not is_lock_error(e):
                raise
            if waited >= limit:
                raise StoreLockedError(db, waited, *lock_holder(str(e))) from e
            # Jitter keeps two waiting processes from retrying in lockstep.
            time.sleep(min(delay * random.uniform(0.75, 1.25), max(limit - waited, 0.001)))
            delay = min(delay * 2, _MAX_DELAY)


@contextmanager
def write_connection(
    path: Path | str | None = None, *, timeout: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated read-write connection, closed (releasing the file lock) when the block ends."""
    from pr1bench.store.migrations import migrate

    con = connect(path, read_only=False, timeout=timeout)
    try:
        # Row order inside a table means nothing here (every read sorts), and without the guarantee DuckDB
        # writes big multi-batch Arrow appends straight to disk instead of through the WAL: measured on
        # 1M metric rows, checkpoint-on-close drops from ~0.5 s to ~0.02 s.
        con.execute("SET preserve_insertion_order = false")
        migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def read_connection(
    path: Path | str | None = None, *, timeout: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; brings an older database's schema up to date first (a short write).

    Raises:
        NoResultsError: the database does not exist yet (readers never create it).
    """
    from pr1bench.store.migrations import pending_migrations

    con = connect(path, read_only=True, timeout=timeout)
    if pending_migrations(con):
        con.close()
        with write_connection(path, timeout=timeout):
            pass
        con = connect(path, read_only=True, timeout=timeout)
    try:
        yield con
    finally:
        con.close()


def friendly_readonly(exc: BaseException) -> ReadOnlyError | None:
    """Turn DuckDB's "attached in read-only mode" error into a message that says what to do instead."""
    text = str(exc)
    if "read-only mode" not in text:
        return None
    m = re.search(r'statement of type "(\w+)"', text)
    kind = m.group(1) if m else "a writing"
    return ReadOnlyError(
        f"`pr1bench sql` is read-only: {kind} statements are refused. Results change only through "
        "`pr1bench ingest`, `pr1bench runs rm` and the train/sweep commands."
    )
