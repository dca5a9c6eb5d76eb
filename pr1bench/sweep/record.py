"""The sweep's rows in DuckDB (``sweeps``, ``trials``, ``runs``), written only from the driver thread.

The Optuna storage is the source of truth for the study; DuckDB is the queryable mirror that reports join with
runs. A database problem (locked for too long, store missing) must not kill a sweep that has been training for an
hour, so every write is best effort: it is retried by the store's lock backoff, then recorded as a warning, and
:meth:`Recorder.sync` rewrites every trial row from the storage at the end (also after a crash, on --resume).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.spec import TaskSpec
from pr1bench.sweep.spec import SweepSpec, resolved

if TYPE_CHECKING:
    import optuna


@dataclass
class TrialRow:
    """What the live table and the database know about one trial."""

    number: int
    params: dict[str, Any]
    state: str = "RUNNING"
    value: float | None = None
    run_id: str | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str | None = None
    step: int | None = None
    intermediate: float | None = None
    attempt: int = 0

    def elapsed(self) -> float:
        return (self.ended or time.time()) - self.started


def _iso(ts: float | None) -> str | None:
    import datetime as dt

    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _local(value: Any) -> Any:
    """Optuna stores naive local datetimes; the store wants UTC."""
    return value.astimezone() if value is not None else None


class Recorder:
    """Best-effort writes of one sweep into the results database, in order, on one writer thread.

    Opening DuckDB for writing costs ~70 ms and an ingest a few hundred: done inline they would delay the next
    trial's launch, so the driver hands them to this single writer thread (still one process, one writer at a
    time) and :meth:`close` waits for the queue to drain.
    """

    def __init__(self, spec: SweepSpec, task: TaskSpec, *, enabled: bool = True):
        self.spec, self.task, self.enabled = spec, task, enabled
        self.warnings: list[str] = []
        self.seconds: dict[int, float] = {}  # database time per trial number (-1: the sweep itself)
        self._queue: queue.Queue[tuple[str, int, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def _safe(self, what: str, fn: Any, number: int = -1) -> None:
        if not self.enabled:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="duckdb-writer", daemon=True)
            self._thread.start()
        self._queue.put((what, number, fn))

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            what, number, fn = item
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as e:  # StoreError, IngestError, ImportError while the store is being built, ...
                self.warnings.append(f"{what}: {type(e).__name__}: {e}")
            self.seconds[number] = self.seconds.get(number, 0.0) + time.perf_counter() - t0

    def close(self) -> None:
        """Wait until every queued write is done."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def sweep(self) -> None:
        from pr1bench.store import upsert_sweep

        self._safe(
            "upsert_sweep",
            lambda: upsert_sweep(
                self.spec.sweep,
                task=self.task.task,
                objective_metric=self.spec.metric,
                direction=self.spec.objective.direction,
                spec=resolved(self.spec),
            ),
        )

    def started(self, row: TrialRow) -> None:
        from pr1bench.store import upsert_trial

        self._safe(
            f"trial {row.number}",
            lambda: upsert_trial(
                self.spec.sweep, row.number, state="RUNNING", params=row.params, started_at=_iso(row.started)
            ),
            row.number,
        )

    def ended(self, row: TrialRow, run_dir: Path | None) -> None:
        """Ingest the trial's run and update its row, on one connection (one lock, one open)."""
        from pr1bench.store import ingest_run, upsert_trial, write_connection

        def write() -> None:
            with write_connection() as con:
                if run_dir is not None and (run_dir / "run.json").is_file():
                    ingest_run(run_dir, con=con)
                upsert_trial(
                    self.spec.sweep,
                    row.number,
                    state=row.state,
                    params=row.params,
                    value=row.value,
                    run_id=row.run_id,
                    started_at=_iso(row.started),
                    ended_at=_iso(row.ended),
                    error=row.error,
                    con=con,
                )

        self._safe(f"trial {row.number}", write, row.number)

    def ingest(self, run_dir: str | Path | None) -> None:
        from pr1bench.store import ingest_run

        if run_dir and (Path(run_dir) / "run.json").is_file():
            self._safe(f"ingest {run_dir}", lambda: ingest_run(Path(run_dir)))

    def sync(self, study: optuna.Study) -> None:
        """Rewrite every trial row from the Optuna storage (states changed by recovery or other workers)."""
        from pr1bench.store import upsert_trial, write_connection

        def write() -> None:
            with write_connection() as con:
                for t in study.get_trials(deepcopy=False):
                    upsert_trial(
                        self.spec.sweep,
                        t.number,
                        state=t.state.name,
                        params=t.params,
                        value=t.value,
                        run_id=t.user_attrs.get("run_id"),
                        started_at=_local(t.datetime_start),
                        ended_at=_local(t.datetime_complete),
                        error=t.user_attrs.get("error"),
                        con=con,
                    )

        self._safe("sync", write)
