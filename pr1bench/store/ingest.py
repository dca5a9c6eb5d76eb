"""Ingest run directories into the results database, idempotently and atomically.

A run is parsed first (no lock held), then in ONE transaction every row with its run_id is deleted and the new
rows are appended from Arrow tables. Re-ingesting a run (still running, finished, re-evaluated) therefore
replaces it, a crash or ``kill -9`` mid-ingest leaves the previous version (or nothing), and the write lock is
held only for the appends.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.store.connection import write_connection
from pr1bench.store.rundir import IngestError, ParsedRun, is_run_dir, parse_run_dir
from pr1bench.store.timeutil import utcnow

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# Tables whose rows belong to one run (deleted together; `runs` last so a partial delete is impossible to see).
RUN_TABLES = ("train_metrics", "eval_metrics", "evals", "samples", "sample_rewards", "runs")
_BATCH = 16  # runs parsed before one writer connection appends them


@dataclass
class IngestResult:
    """What one ingest did; ``error`` is set (and nothing was written) when the run could not be read."""

    run_id: str | None
    run_dir: str
    status: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    broken_lines: list[int] = field(default_factory=list)
    skipped_values: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for ``--json``)."""
        return asdict(self)


def find_run_dirs(paths: Iterable[Path | str]) -> list[Path]:
    """Expand each path: a run directory as is, else its immediate sub-directories that are run directories.

    Raises:
        IngestError: a path does not exist, or is neither a run directory nor contains any.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise IngestError(f"{path}: no such file or directory")
        if is_run_dir(path):
            found.append(path)
            continue
        children = sorted(p for p in path.iterdir() if is_run_dir(p)) if path.is_dir() else []
        if not children:
            raise IngestError(
                f"{path}: neither a run directory (no run.json) nor a folder of run directories"
            )
        found += children
    return list(dict.fromkeys(found))


def _insert_table(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Append an Arrow table by column name (DuckDB scans it zero-copy; no per-row Python)."""
    con.register("_pr1bench_src", data)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _pr1bench_src")
    finally:
        con.unregister("_pr1bench_src")


def _delete_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    counts = {}
    for table in RUN_TABLES:
        rows = con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id]).fetchall()
        counts[table] = int(rows[0][0]) if rows else 0
    return counts


def _write_parsed(con: duckdb.DuckDBPyConnection, parsed: ParsedRun) -> None:
    """Delete-then-insert one run in one transaction (rolled back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        _delete_rows(con, parsed.run_id)
        # runs first: a reader inside another transaction never sees metrics without their run row.
        for table in ("runs", *RUN_TABLES[:-1]):
            if table in parsed.tables and parsed.tables[table].num_rows:
                _insert_table(con, table, parsed.tables[table])
        _record_task_stats_rows(con, parsed.task_stats)
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed COMMIT may already have ended it)."""
    import duckdb

    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _record_task_stats_rows(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Fill task_stats from eval.json complexity when nothing was recorded for that split yet."""
    for r in rows:
        if r["n_samples"] is None and r["mean_fact"] is None:
            continue
        con.execute(
            "INSERT INTO task_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [r["task"], r["task_version"], r["split"], r["n_samples"], r["mean_fact"], r["mean_log_fact"],
             r["median_fact"], utcnow()],
        )  # fmt: skip


def _result(parsed: ParsedRun, seconds: float) -> IngestResult:
    return IngestResult(
        run_id=parsed.run_id, run_dir=str(parsed.run_dir), status=parsed.status,
        rows={t: parsed.tables[t].num_rows for t in RUN_TABLES if t in parsed.tables},
        broken_lines=list(parsed.broken_lines), skipped_values=parsed.skipped_values,
        warnings=list(parsed.warnings), seconds=seconds,
    )  # fmt: skip


def ingest_run(
    run_dir: Path | str, *, db: Path | str | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> IngestResult:
    """Ingest one run directory (replacing any earlier ingest of the same run_id).

    Args:
        run_dir: ``results/runs/<run_id>/``.
        db: database file (default ``paths.db_path()``); ignored when ``con`` is given.
        con: an open read-write connection to reuse (the caller owns it and its lock).

    Raises:
        IngestError: run.json is missing or invalid (nothing is written).
        StoreLockedError: another process held the database too long.
    """
    start = time.perf_counter()
    parsed = parse_run_dir(run_dir)
    if con is not None:
        _write_parsed(con, parsed)
    else:
        with write_connection(db) as wcon:
            _write_parsed(wcon, parsed)
    return _result(parsed, time.perf_counter() - start)


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def ingest_many(
    paths: Iterable[Path | str],
    *,
    db: Path | str | None = None,
    on_result: Callable[[IngestResult], None] | None = None,
) -> list[IngestResult]:
    """Ingest run directories (or folders of them); a bad run is reported in its result, not raised.

    Runs are parsed in small batches with no lock held; each batch then takes the write lock once and
    commits one transaction per run, so a reader waits at most for one batch of appends.

    Args:
        paths: run directories and/or parents of run directories.
        db: database file (default ``paths.db_path()``).
        on_result: called after each run (progress bars).

    Raises:
        IngestError: a path is neither a run directory nor contains one.
    """
    results: list[IngestResult] = []
    for batch in _batches(find_run_dirs(paths), _BATCH):
        parsed: list[tuple[ParsedRun, float]] = []
        for run_dir in batch:
            start = time.perf_counter()
            try:
                parsed.append((parse_run_dir(run_dir), start))
            except IngestError as e:
                _emit(results, IngestResult(run_id=None, run_dir=str(run_dir), error=str(e)), on_result)
        if not parsed:
            continue
        with write_connection(db) as con:
            for p, start in parsed:
                _emit(results, _write_one(con, p, start), on_result)
    return results


def _write_one(con: duckdb.DuckDBPyConnection, parsed: ParsedRun, start: float) -> IngestResult:
    """Write one parsed run; a database error (rolled back) becomes the run's ``error``."""
    import duckdb

    try:
        _write_parsed(con, parsed)
    except duckdb.Error as e:
        return IngestResult(run_id=parsed.run_id, run_dir=str(parsed.run_dir), error=f"not written: {e}")
    return _result(parsed, time.perf_counter() - start)


def _emit(results: list[IngestResult], r: IngestResult, cb: Callable[[IngestResult], None] | None) -> None:
    results.append(r)
    if cb is not None:
        cb(r)


def delete_run(run_id: str, *, files: bool = False, db: Path | str | None = None) -> dict[str, int]:
    """Delete every row of a run in one transaction; with ``files``, also its run directory.

    Returns:
        Rows deleted per table (all zero when the run was not in the database).

    Raises:
        IngestError: ``files`` was asked for but the directory does not hold this run's run.json.
    """
    with write_connection(db) as con:
        found = con.execute("SELECT run_dir FROM runs WHERE run_id = ?", [run_id]).fetchall()
        row = found[0] if found else None
        con.execute("BEGIN TRANSACTION")
        try:
            counts = _delete_rows(con, run_id)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    if files:
        _remove_run_dir(run_id, Path(row[0]) if row and row[0] else None)
    return counts


def _remove_run_dir(run_id: str, recorded: Path | None) -> None:
    """Remove a run directory only after checking it really is that run (never an arbitrary folder)."""
    import json

    from pr1bench import paths

    for candidate in (recorded, paths.runs_dir() / run_id):
        if candidate is None or not is_run_dir(candidate):
            continue
        try:
            meta = json.loads((candidate / "run.json").read_text(encoding="utf-8"))
        except ValueError:
            meta = {}
        if meta.get("run_id") != run_id:
            raise IngestError(f"{candidate}: its run.json is not run {run_id!r}; not deleting it")
        shutil.rmtree(candidate)
        return
