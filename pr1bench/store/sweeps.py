"""Writes the sweep driver makes: sweeps, trials, and task statistics.

Each call is one short transaction (an upsert keyed by the natural key), so the driver can call it after every
trial without holding the database: trials of a sweep run as subprocesses, and only the parent process writes.
Pass ``con`` to batch several calls on one open writer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.store.connection import StoreError, write_connection
from pr1bench.store.timeutil import parse_utc, utcnow

if TYPE_CHECKING:
    import duckdb

DIRECTIONS = ("maximize", "minimize")
TRIAL_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


@contextmanager
def _writer(
    con: duckdb.DuckDBPyConnection | None, db: Path | str | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    if con is not None:
        yield con
    else:
        with write_connection(db) as own:
            yield own


def upsert_sweep(
    name: str,
    *,
    task: str | None,
    objective_metric: str,
    direction: str,
    spec: Mapping[str, Any] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    db: Path | str | None = None,
) -> None:
    """Create or update a sweep (``created_at`` is kept from the first call).

    Args:
        name: the sweep's name (its YAML stem).
        task: task the sweep tunes.
        objective_metric: eval metric the study optimises (as in eval.json ``metrics``).
        direction: ``maximize`` or ``minimize`` (Optuna's StudyDirection names are accepted too).
        spec: the resolved sweep YAML, stored as JSON.

    Raises:
        StoreError: unknown direction.
    """
    direction = _name_of(direction).lower()
    if direction not in DIRECTIONS:
        raise StoreError(f"sweep direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    now = utcnow()
    with _writer(con, db) as c:
        c.execute(
            """
            INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET task = excluded.task, objective_metric = excluded.objective_metric,
                direction = excluded.direction, spec = excluded.spec, updated_at = excluded.updated_at
            """,
            [name, task, objective_metric, direction, _json(spec), now, now],
        )


def upsert_trial(
    sweep: str,
    number: int,
    *,
    state: Any,
    params: Mapping[str, Any] | None = None,
    value: float | None = None,
    run_id: str | None = None,
    started_at: datetime | str | None = None,
    ended_at: datetime | str | None = None,
    error: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    db: Path | str | None = None,
) -> None:
    """Create or replace one trial of a sweep (call it when a trial starts and again when it ends).

    Args:
        sweep: the sweep name (``upsert_sweep`` first).
        number: Optuna's trial number.
        state: an Optuna ``TrialState`` or its name (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``).
        params: the sampled values (dotted run-spec keys).
        value: the objective value, when the trial completed.
        run_id: the run the trial launched.
        started_at, ended_at: datetimes or ISO strings (stored as UTC).
        error: why the trial failed.

    Raises:
        StoreError: unknown state, or the sweep was never upserted.
    """
    state_name = _name_of(state).upper()
    if state_name not in TRIAL_STATES:
        raise StoreError(f"trial state {state_name!r} is not one of {', '.join(TRIAL_STATES)}")
    with _writer(con, db) as c:
        if not c.execute("SELECT 1 FROM sweeps WHERE name = ?", [sweep]).fetchall():
            raise StoreError(f"unknown sweep {sweep!r}: call upsert_sweep first")
        c.execute(
            "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sweep, int(number), _json(params), value, state_name, run_id, parse_utc(started_at),
             parse_utc(ended_at), error],
        )  # fmt: skip


def record_task_stats(
    task: str,
    task_version: str | int,
    split: str,
    *,
    n_samples: int,
    mean_fact: float | None,
    mean_log_fact: float | None,
    median_fact: float | None,
    con: duckdb.DuckDBPyConnection | None = None,
    db: Path | str | None = None,
) -> None:
    """Record (or replace) the size and perceptual complexity of one split of a task version."""
    with _writer(con, db) as c:
        c.execute(
            "INSERT OR REPLACE INTO task_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [task, str(task_version), split, int(n_samples), mean_fact, mean_log_fact, median_fact, utcnow()],
        )


def _name_of(value: Any) -> str:
    """Accept an enum (Optuna's TrialState / StudyDirection) or a string."""
    return str(getattr(value, "name", value))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)
