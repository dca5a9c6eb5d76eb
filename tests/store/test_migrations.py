"""Schema migrations are ordered, recorded, atomic, and re-running them is a no-op."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pr1bench.store import connect, latest_version, migrate, pending_migrations, read_connection
from pr1bench.store import migrations as mig


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_fresh_database_gets_every_migration_recorded(db: Path) -> None:
    con = connect(db)
    try:
        applied = migrate(con)
        assert [m.version for m in applied] == [m.version for m in mig.load_migrations()]
        rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert rows == [(1, "init"), (2, "views"), (3, "pruned_status")]
        assert latest_version() == 3
        expected = {
            "runs",
            "train_metrics",
            "evals",
            "eval_metrics",
            "samples",
            "sample_rewards",
            "sweeps",
            "trials",
            "task_stats",
            "final_metrics",
            "best_trials",
            "rl_gain",
            "schema_migrations",
        }
        assert expected <= _tables(con)
    finally:
        con.close()


def test_rerunning_migrations_is_a_no_op(db: Path) -> None:
    con = connect(db)
    try:
        migrate(con)
        before = con.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
        assert migrate(con) == []
        assert pending_migrations(con) == []
        assert con.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall() == before
    finally:
        con.close()


def test_missing_migration_is_applied_in_order(db: Path) -> None:
    con = connect(db)
    migrate(con)
    con.execute("DROP VIEW rl_gain; DROP VIEW best_trials; DROP VIEW final_metrics")
    con.execute("DELETE FROM schema_migrations WHERE version = 2")
    assert [m.version for m in pending_migrations(con)] == [2]
    con.close()
    # A reader brings an old database up to date before reading.
    with read_connection(db) as ro:
        assert "rl_gain" in _tables(ro)
        assert pending_migrations(ro) == []


def test_failing_migration_rolls_back_and_is_not_recorded(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = mig.load_migrations()
    bad = mig.Migration(99, "broken", "CREATE TABLE half_done (a INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(mig, "load_migrations", lambda: (*good, bad))
    con = connect(db)
    try:
        with pytest.raises(duckdb.CatalogException):
            migrate(con)
        assert "half_done" not in _tables(con)
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchall() == [(good[-1].version,)]
    finally:
        con.close()


def test_pruned_status_migration_relabels_old_pruned_runs(db: Path) -> None:
    """A version-2 database with a sweep-pruned run stored as killed comes out of 0003 with it as pruned."""
    old = [m for m in mig.load_migrations() if m.version < 3]
    con = connect(db)
    try:
        con.execute(mig._BOOTSTRAP)
        for m in old:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, now())", [m.version, m.name, m.checksum])
        con.execute(
            "INSERT INTO runs (run_id, task, variant, status, error, ingested_at) VALUES "
            "('p', 'detection', 'grpo', 'killed', 'pruned by the sweep: trial pruned at step 2', now()), "
            "('k', 'detection', 'grpo', 'killed', 'interrupted in the parent (Ctrl-C/SIGTERM)', now()), "
            "('c', 'detection', 'grpo', 'completed', NULL, now())"
        )
        with pytest.raises(duckdb.ConstraintException):  # version 2 refuses the new status
            con.execute("UPDATE runs SET status = 'pruned' WHERE run_id = 'c'")
        assert [m.version for m in migrate(con)] == [3]
        got = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        assert got == {"p": "pruned", "k": "killed", "c": "completed"}
        con.execute("UPDATE runs SET status = 'pruned' WHERE run_id = 'c'")  # now allowed
        with pytest.raises(duckdb.ConstraintException):
            con.execute("UPDATE runs SET status = 'bogus' WHERE run_id = 'c'")
        assert con.execute("SELECT count(*) FROM final_metrics").fetchall() == [(0,)]  # the views still bind
    finally:
        con.close()


def test_schema_files_are_commented() -> None:
    for m in mig.load_migrations():
        assert m.sql.lstrip().startswith("--"), f"{m.version:04d}_{m.name}.sql should open with a comment"
