"""The results store: one DuckDB file (``paths.db_path()``) with a migrated schema, fed by run directories.

Public API (import from here; the sub-modules are implementation):

* writing (parent CLI process only): :func:`ingest_run`, :func:`ingest_many`, :func:`delete_run`,
  :func:`upsert_sweep`, :func:`upsert_trial`, :func:`record_task_stats`
* reading: :func:`query`, :func:`list_runs`, :func:`get_run`, :func:`export_parquet`, :func:`read_connection`
* connections and errors: :func:`connect`, :func:`write_connection`, :class:`StoreError` and subclasses

The schema itself is the commented SQL in ``pr1bench/store/schema/``.
"""

from __future__ import annotations

from pr1bench.store.connection import (
    NoResultsError,
    ReadOnlyError,
    StoreError,
    StoreLockedError,
    connect,
    read_connection,
    write_connection,
)
from pr1bench.store.ingest import IngestResult, delete_run, find_run_dirs, ingest_many, ingest_run
from pr1bench.store.migrations import latest_version, migrate, pending_migrations
from pr1bench.store.queries import TABLES, VIEWS, export_parquet, get_run, list_runs, query
from pr1bench.store.rundir import IngestError
from pr1bench.store.sweeps import record_task_stats, upsert_sweep, upsert_trial

__all__ = [
    "TABLES", "VIEWS", "IngestError", "IngestResult", "NoResultsError", "ReadOnlyError", "StoreError",
    "StoreLockedError", "connect", "delete_run", "export_parquet", "find_run_dirs", "get_run", "ingest_many",
    "ingest_run", "latest_version", "list_runs", "migrate", "pending_migrations", "query", "read_connection",
    "record_task_stats", "upsert_sweep", "upsert_trial", "write_connection",
]  # fmt: skip
