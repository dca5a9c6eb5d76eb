"""The sweep driver: ask Optuna, run trials on K worker threads, tell Optuna, record everything in DuckDB.

Uses Optuna's ask-and-tell interface rather than ``study.optimize`` because the driver must own four things that
``optimize`` hides: the stopping rule ("until N trials are finished across every worker and every restart"),
retries of trials whose process died, leases for crash recovery, and the database, which only this (main) thread
writes: worker threads only wait on their training subprocess and talk to Optuna's storage (thread-safe).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.spec import ConfigError, TaskSpec
from pr1bench.sweep import study as st
from pr1bench.sweep.record import Recorder, TrialRow
from pr1bench.sweep.space import suggest, trial_spec
from pr1bench.sweep.spec import SweepSpec
from pr1bench.sweep.trial import Outcome, run_trial

if TYPE_CHECKING:
    import optuna


@dataclass
class SweepOptions:
    trials: int | None = None  # finished (COMPLETE + PRUNED) trials to reach; default from the YAML
    jobs: int = 1
    storage: str | None = None  # None: results/optuna/<sweep>.log; or postgresql://...
    resume: bool = False
    max_retries: int | None = None  # default from the YAML (study.max_retries)
    record: bool = True  # write DuckDB
    poll: float = 0.5


@dataclass
class SweepResult:
    name: str
    target: int
    rows: list[TrialRow]
    finished: int
    best: TrialRow | None
    recovered: list[tuple[int, str, str | None]] = field(default_factory=list)
    aborted: str | None = None
    overhead: dict[int, float] = field(
        default_factory=dict
    )  # driver bookkeeping seconds per trial (critical path)
    db_seconds: dict[int, float] = field(default_factory=dict)  # DuckDB writes per trial (writer thread)
    walls: dict[int, float] = field(default_factory=dict)  # seconds inside execute per trial
    warnings: list[str] = field(default_factory=list)


class Driver:
    """Runs one sweep to its target; construct, then :meth:`run`."""

    def __init__(
        self,
        spec: SweepSpec,
        task: TaskSpec,
        opts: SweepOptions,
        *,
        execute: Callable[..., Any] | None = None,
        on_update: Callable[[list[TrialRow], TrialRow | None], None] | None = None,
        status: Callable[[str], None] | None = None,
    ):
        self.spec, self.task, self.opts = spec, task, opts
        self.execute, self.on_update, self.status = execute, on_update, status or (lambda m: None)
        self.max_retries = spec.study.max_retries if opts.max_retries is None else opts.max_retries
        self.target = opts.trials or spec.n_trials()
        self.rows: dict[int, TrialRow] = {}
        self.active: dict[Future[Outcome], tuple[optuna.Trial, TrialRow]] = {}
        self.events: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        self.overhead: dict[int, float] = {}
        self.walls: dict[int, float] = {}
        self.failures = 0
        self.aborted: str | None = None
        self.recorder = Recorder(spec, task, enabled=opts.record)

    # ------------------------------------------------------------------ set-up

    def open(self) -> None:
        """Open (or join) the study; refuse to silently extend a finished journal study without --resume."""
        self.storage = st.open_storage(self.spec.sweep, self.opts.storage, max_retries=self.max_retries)
        rdb = st.is_rdb(self.opts.storage)
        if not rdb and not self.opts.resume and self.spec.sweep in st.study_names(self.storage):
            import optuna

            n = len(optuna.load_study(study_name=self.spec.sweep, storage=self.storage).trials)
            if n:
                raise ConfigError(
                    None,
                    "--resume",
                    f"sweep {self.spec.sweep!r} already has {n} trial(s) in "
                    f"{self.opts.storage or st.journal_path(self.spec.sweep)}: pass --resume to "
                    "continue it (to N finished trials), or delete that journal to start over",
                )
        self.study = st.open_study(self.spec, self.storage)
        if not self.study.get_trials(deepcopy=False):  # a new study: the YAML's enqueued settings go first
            for params in self.spec.enqueue:
                self.study.enqueue_trial(dict(params), skip_if_exists=True)
        self.leases = st.Leases(self.spec.sweep)
        self.rdb = rdb

    def preflight(self) -> None:
        """Resolve the model once, before any worker starts (a missing one fails here, not in every trial)."""
        from pr1bench import runner

        probe = trial_spec(self.spec, self.task, {})
        runner.model_for(probe)

    # ------------------------------------------------------------------ main loop

    def run(self) -> SweepResult:
        self.open()
        if self.execute is None:
            self.preflight()
        self.recorder.sweep()
        self._recover()
        pool = ThreadPoolExecutor(max_workers=max(1, self.opts.jobs), thread_name_prefix="trial")
        try:
            self._loop(pool)
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            pool.shutdown(wait=True)
            self.recorder.sync(self.study)
            self.recorder.close()
        return self._result()

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        budget = max(3, self.target) * (self.max_retries + 1)
        while True:
            self._drain_events()
            finished, running, waiting = self._counts()
            if finished >= self.target and not self.active:
                return
            room = len(self.active) < self.opts.jobs and finished + running < self.target
            if room and self.failures < budget and not self._grid_done(waiting):
                self._start(pool)
                continue
            if not self.active:
                if self.failures >= budget:
                    self.aborted = (
                        f"stopped after {self.failures} failed trials (see `pr1bench sweep status`)"
                    )
                    return
                if self._grid_done(waiting):
                    self.aborted = "the grid is exhausted; some grid points failed beyond --max-retries"
                    return
                time.sleep(self.opts.poll * 4)  # the remaining trials run on other workers
                continue
            done, _ = wait(list(self.active), timeout=self.opts.poll, return_when=FIRST_COMPLETED)
            for fut in done:
                self._finish(fut)
            self._notify()

    def _counts(self) -> tuple[int, int, int]:
        from optuna.trial import TrialState

        trials = self.storage.get_all_trials(self.study._study_id, deepcopy=False)
        fin = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        run = sum(t.state == TrialState.RUNNING for t in trials)
        return fin, run, sum(t.state == TrialState.WAITING for t in trials)

    def _grid_done(self, waiting: int) -> bool:
        return self.spec.is_grid() and not waiting and self.study.sampler.is_exhausted(self.study)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ one trial

    def _start(self, pool: ThreadPoolExecutor) -> None:
        t0 = time.perf_counter()
        if self.rdb:
            _fail_stale(self.study)
        trial = self.study.ask()
        self.leases.take(trial.number, trial._trial_id)
        trial.set_user_attr(
            "driver", {"pid": os.getpid(), "start": st.process_start(os.getpid()), "host": _host()}
        )
        params = suggest(trial, self.spec)
        run = trial_spec(self.spec, self.task, params, trial.number)
        trial.set_user_attr("run_spec", run.model_dump(mode="json"))
        row = TrialRow(trial.number, params, attempt=int(trial.user_attrs.get("attempt", 0)))
        self.rows[trial.number] = row
        self.recorder.started(row)
        fut = pool.submit(self._work, trial, run)
        self.active[fut] = (trial, row)
        self.overhead[trial.number] = time.perf_counter() - t0
        self._notify()

    def _work(self, trial: optuna.Trial, run: Any) -> Outcome:
        with _Heartbeat(self.storage if self.rdb else None, trial._trial_id):
            return run_trial(
                trial,
                run,
                self.task,
                metric=self.spec.metric,
                split=self.spec.objective.split,
                on_event=lambda *e: self.events.put(e),
                execute=self.execute,
            )

    def _finish(self, fut: Future[Outcome]) -> None:
        from optuna.trial import TrialState

        trial, row = self.active.pop(fut)
        out = fut.result()
        t0 = time.perf_counter()
        self._drain_events()
        row.state, row.value, row.error, row.ended = out.state, out.value, out.error, time.time()
        row.run_id = out.run_dir.name if out.run_dir else row.run_id
        if row.run_id:
            trial.set_user_attr("run_id", row.run_id)
        if out.state == "COMPLETE":
            self.study.tell(trial, out.value)
        elif out.state == "PRUNED":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr("error", (out.error or "unknown")[:2000])
            self.study.tell(trial, state=TrialState.FAIL)
            self.failures += 1
            if row.attempt < self.max_retries:
                st.requeue(self.study, dict(trial.params), row.attempt + 1, trial.number)
                row.error = f"{row.error} (retrying)"
        self.leases.drop(trial.number)
        self.recorder.ended(row, out.run_dir)
        self.walls[trial.number] = out.wall
        self.overhead[trial.number] = (
            self.overhead.get(trial.number, 0.0) + out.prep + time.perf_counter() - t0
        )

    def _drain_events(self) -> None:
        while True:
            try:
                kind, number, payload = self.events.get_nowait()
            except queue.Empty:
                return
            row = self.rows.get(number)
            if row is None:
                continue
            if kind == "run":
                row.run_id = Path(payload).name
                trial = next((t for t, r in self.active.values() if r is row), None)
                if trial is not None:
                    self.leases.take(number, trial._trial_id, Path(payload))
            elif kind == "step":
                row.step = int(payload)
            elif kind == "intermediate":
                row.intermediate = payload[1]

    # ------------------------------------------------------------------ recovery and interruption

    def _recover(self) -> None:
        if self.rdb:
            _fail_stale(self.study)
            self.recovered: list[tuple[int, str, str | None]] = []
            return
        self.recovered = st.recover_stale(self.study, self.storage, self.leases, self.max_retries)
        for number, reason, run_dir in self.recovered:
            self.status(f"trial {number}: {reason}; marked FAIL")
            self.recorder.ingest(run_dir)

    def _interrupt(self) -> None:
        """Ctrl-C/SIGTERM: stop the training children, fail their trials and queue them for --resume."""
        from optuna.trial import TrialState

        for _trial, row in list(self.active.values()):
            if row.run_id:
                st.signal_run(st.run_path(row.run_id))
        done, _ = wait(list(self.active), timeout=60)
        for fut in done:
            trial, row = self.active.pop(fut)
            trial.set_user_attr("error", "the sweep was interrupted (Ctrl-C/SIGTERM)")
            self.study.tell(trial, state=TrialState.FAIL)
            st.requeue(self.study, dict(trial.params), row.attempt, trial.number)
            self.leases.drop(trial.number)
            row.state, row.error = "FAIL", "interrupted"
            self.recorder.ended(row, fut.result().run_dir)

    # ------------------------------------------------------------------ reporting

    def _notify(self) -> None:
        if self.on_update:
            self.on_update(self.snapshot(), self.best())

    def snapshot(self) -> list[TrialRow]:
        return [self.rows[k] for k in sorted(self.rows)]

    def best(self) -> TrialRow | None:
        done = [r for r in self.rows.values() if r.state == "COMPLETE" and r.value is not None]
        if not done:
            return None
        sign = 1 if self.spec.objective.direction == "maximize" else -1
        return max(done, key=lambda r: sign * float(r.value or 0.0))

    def _result(self) -> SweepResult:
        finished, _, _ = self._counts()
        return SweepResult(
            self.spec.sweep,
            self.target,
            self.snapshot(),
            finished,
            self.best(),
            getattr(self, "recovered", []),
            self.aborted,
            self.overhead,
            dict(self.recorder.seconds),
            self.walls,
            self.recorder.warnings,
        )


def _fail_stale(study: optuna.Study) -> None:
    """What ``study.optimize`` does before each trial with a heartbeat storage (flagged experimental)."""
    import warnings

    from optuna.storages import fail_stale_trials

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fail_stale_trials(study)


def _host() -> str:
    import socket

    return socket.gethostname()


class _Heartbeat:
    """Optuna's heartbeat for RDB storage (what ``study.optimize`` runs per trial), as a context manager."""

    def __init__(self, storage: Any, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self.storage is not None:
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def _beat(self) -> None:
        interval = self.storage.get_heartbeat_interval() or st.HEARTBEAT_INTERVAL
        while True:
            self.storage.record_heartbeat(self.trial_id)
            if self.stop.wait(interval):
                return

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join()
