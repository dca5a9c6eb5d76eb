"""Two processes and one DuckDB file: waiting with backoff, naming the holder, concurrent ingests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from store_factory import start_child

from pr1bench.store import StoreLockedError, connect, query, read_connection
from pr1bench.store.connection import LOCK_TIMEOUT_ENV, lock_holder, lock_timeout

HOLD = """
import sys, time
from pr1bench.store import write_connection
with write_connection(sys.argv[1]) as con:
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""
INGEST = """
import sys
from pr1bench.store import ingest_run
print(ingest_run(sys.argv[1], db=sys.argv[2]).run_id, flush=True)
"""


def _hold(db: Path, seconds: float):  # type: ignore[no-untyped-def]
    child = start_child(HOLD, str(db), str(seconds))
    assert child.stdout is not None and child.stdout.readline().strip() == "held", child.stderr
    return child


def test_lock_message_parsing() -> None:
    msg = ('IO Error: Could not set lock on file "/x/pr1bench.duckdb": Conflicting lock is held in '
           "/usr/bin/python3.11 (PID 999999999). See also https://duckdb.org/docs/current/connect/concurrency")  # fmt: skip
    assert lock_holder(msg) == (999999999, "/usr/bin/python3.11")


def test_lock_timeout_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "2.5")
    assert lock_timeout() == 2.5
    monkeypatch.delenv(LOCK_TIMEOUT_ENV)
    assert lock_timeout() == 60.0


def test_gives_up_naming_the_holder(db: Path) -> None:
    child = _hold(db, 30)
    try:
        start = time.monotonic()
        with pytest.raises(StoreLockedError) as info:
            connect(db, timeout=0.5)
        assert 0.5 <= time.monotonic() - start < 5
        assert info.value.pid == child.pid
        assert f"PID {child.pid}" in str(info.value) and "write_connection" in str(info.value)
        with pytest.raises(StoreLockedError):  # readers wait on a writer too
            connect(db, read_only=True, timeout=0.2)
    finally:
        child.kill()
        child.wait()


def test_waits_for_a_writer_to_finish(db: Path) -> None:
    child = _hold(db, 1.0)
    try:
        start = time.monotonic()
        with read_connection(db, timeout=30) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
        assert time.monotonic() - start > 0.3
    finally:
        child.wait(timeout=30)


def test_two_ingest_processes_started_at_once_both_complete(make_run: Callable[..., Path], db: Path) -> None:
    dirs = [make_run(f"run-{i}", steps=500, seed=i) for i in range(2)]
    children = [start_child(INGEST, str(d), str(db)) for d in dirs]
    outputs = [c.communicate(timeout=120) for c in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    assert sorted(o.strip() for o, _ in outputs) == ["run-0", "run-1"]
    df = query("SELECT run_id, count(*) AS c FROM train_metrics GROUP BY run_id ORDER BY run_id")
    assert df["run_id"].tolist() == ["run-0", "run-1"] and df["c"].min() > 4900
