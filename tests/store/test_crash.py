"""kill -9 during an ingest: afterwards the run is wholly present (old version) or wholly absent."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from store_factory import start_child

from pr1bench.store import ingest_run, query

# The child pauses inside the write transaction, after the big append, so the kill lands mid-transaction.
PAUSED_INGEST = """
import sys, time
import pr1bench.store.ingest as ing
real = ing._insert_table
def paused(con, table, data):
    real(con, table, data)
    if table == "train_metrics":
        print("mid-transaction", flush=True)
        time.sleep(120)
ing._insert_table = paused
ing.ingest_run(sys.argv[1], db=sys.argv[2])
"""
PLAIN_INGEST = """
import sys
from pr1bench.store import ingest_run
print("start", flush=True)
ingest_run(sys.argv[1], db=sys.argv[2])
"""
TABLES = ("runs", "train_metrics", "evals", "eval_metrics", "samples", "sample_rewards")


def _counts(run_id: str) -> dict[str, int]:
    return {
        t: int(query(f"SELECT count(*) AS c FROM {t} WHERE run_id = ?", [run_id])["c"][0]) for t in TABLES
    }


def _kill_mid_transaction(run_dir: Path, db: Path) -> None:
    child = start_child(PAUSED_INGEST, str(run_dir), str(db))
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == "mid-transaction", child.stderr.read() if child.stderr else ""
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_kill_mid_first_ingest_leaves_nothing_and_reingest_completes(
    make_run: Callable[..., Path], db: Path
) -> None:
    ingest_run(make_run("other"))  # an unrelated run must survive untouched
    before_other = _counts("other")
    run_dir = make_run("big", steps=1000)
    _kill_mid_transaction(run_dir, db)
    assert _counts("big") == dict.fromkeys(TABLES, 0)
    assert _counts("other") == before_other
    res = ingest_run(run_dir)
    assert _counts("big") == {t: res.rows.get(t, 0) for t in TABLES} and res.rows["train_metrics"] > 9900


def test_kill_mid_reingest_keeps_the_previous_version(make_run: Callable[..., Path], db: Path) -> None:
    run_dir = make_run("big", steps=500, status="running", with_eval=False)
    ingest_run(run_dir)
    old = _counts("big")
    make_run("big", steps=1000)  # the run finished: more steps, eval and samples
    _kill_mid_transaction(run_dir, db)
    assert _counts("big") == old
    assert query("SELECT status FROM runs")["status"].tolist() == ["running"]
    res = ingest_run(run_dir)
    assert _counts("big") == {t: res.rows.get(t, 0) for t in TABLES}


@pytest.mark.slow
def test_kill_at_random_moments(make_run: Callable[..., Path], db: Path) -> None:
    """Unsynchronised kills anywhere in parse/connect/write/commit/close, five times."""
    run_dir = make_run("big", steps=30000)
    expected = None
    rng = random.Random(0)
    for _ in range(5):
        child = start_child(PLAIN_INGEST, str(run_dir), str(db))
        assert child.stdout is not None and child.stdout.readline().strip() == "start"
        time.sleep(rng.uniform(0.0, 4.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        counts = _counts("big")
        if counts["runs"]:
            expected = expected or ingest_run(run_dir).rows
            assert counts == {t: expected.get(t, 0) for t in TABLES}
        else:
            assert counts == dict.fromkeys(TABLES, 0)
