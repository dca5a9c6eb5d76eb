"""Ordered, recorded schema migrations from ``pr1bench/store/schema/NNNN_name.sql``.

The schema is plain commented SQL so that it can be read (and diffed) without running Python. Each file is
applied once, in version order, in its own transaction together with its row in ``schema_migrations``: a
crash mid-migration leaves the previous version intact, and re-running is a no-op.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from pr1bench.store.timeutil import utcnow

if TYPE_CHECKING:
    import duckdb

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,  -- the file's NNNN prefix
    name       VARCHAR NOT NULL,     -- the rest of the file name
    checksum   VARCHAR NOT NULL,     -- sha256 of the file when applied (edited-after-release detector)
    applied_at TIMESTAMP NOT NULL    -- UTC
)
"""


@dataclass(frozen=True)
class Migration:
    """One schema file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@cache
def load_migrations() -> tuple[Migration, ...]:
    """All shipped migrations, ordered by version (versions must be unique)."""
    found: dict[int, Migration] = {}
    for entry in resources.files("pr1bench.store.schema").iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"two schema migrations share version {version:04d}")
        found[version] = Migration(version, m.group(2), entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


def latest_version() -> int:
    """The version the code expects the database to be at."""
    migrations = load_migrations()
    return migrations[-1].version if migrations else 0


def applied_versions(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """``{version: checksum}`` already recorded (empty for a new database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists[0][0]:
        return {}
    return dict(con.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Migrations not yet recorded in this database, in the order they must run."""
    done = applied_versions(con)
    return [m for m in load_migrations() if m.version not in done]


def migrate(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Apply every missing migration, each in one transaction with its record; returns those applied."""
    con.execute(_BOOTSTRAP)
    done = applied_versions(con)
    for m in load_migrations():
        if m.version in done and done[m.version] != m.checksum:
            warnings.warn(
                f"schema migration {m.version:04d}_{m.name}.sql changed after it was applied; "
                "add a new migration instead of editing an old one",
                stacklevel=2,
            )
    todo = [m for m in load_migrations() if m.version not in done]
    for m in todo:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                [m.version, m.name, m.checksum, utcnow()],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return todo
