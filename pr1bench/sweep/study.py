"""The Optuna side of a sweep: storage, sampler, pruner, the study, and recovery of trials a dead driver left.

Storage is a JournalStorage file (``results/optuna/<sweep>.log``; readable by optuna-dashboard) on one machine, or
an RDB URL (``postgresql://...``) when several machines each run the same ``pr1bench sweep`` command as workers.
A journal has no heartbeat, so each running trial gets a *lease* file (driver pid, its start time, host, run dir)
under ``results/optuna/<sweep>.leases/``: a RUNNING trial whose lease names a dead process on this host is stale.
RDB storage uses Optuna's own heartbeat (``heartbeat_interval``/``grace_period``) and ``RetryFailedTrialCallback``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.paths import optuna_dir
from pr1bench.procs import pid_alive, process_start
from pr1bench.spec import ConfigError
from pr1bench.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 120
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")


def journal_path(name: str) -> Path:
    return optuna_dir() / f"{name}.log"


def leases_dir(name: str) -> Path:
    return optuna_dir() / f"{name}.leases"


def is_rdb(url: str | None) -> bool:
    return bool(url) and str(url).split(":", 1)[0].split("+", 1)[0] in RDB_SCHEMES


def open_storage(name: str, url: str | None = None, *, max_retries: int = 1) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file by default, RDB (with heartbeat) for ``postgresql://`` and friends."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if is_rdb(url):
        return _rdb_storage(str(url), max_retries)
    if url and not url.endswith(".log"):
        raise ConfigError(
            None,
            "--storage",
            f"{url!r} is neither a journal file (*.log) nor an RDB URL (postgresql://user@host/db)",
        )
    path = Path(url) if url else journal_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _rdb_storage(url: str, max_retries: int) -> optuna.storages.RDBStorage:
    """RDBStorage with Optuna's heartbeat; stale trials are failed and re-created up to ``max_retries`` times."""
    import importlib.util
    import warnings

    from optuna.storages import RDBStorage

    if (
        url.startswith("postgresql://")
        and importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2") is not None
    ):
        url = "postgresql+psycopg2://" + url.removeprefix(
            "postgresql://"
        )  # SQLAlchemy 2.1 defaults to psycopg 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeat options are flagged experimental
        try:
            from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry  # optuna >= 4.9

            cb = {"heartbeat_stale_trial_callback": Retry(max_retry=max_retries)}
        except ImportError:
            from optuna.storages import RetryFailedTrialCallback as Retry  # type: ignore[no-redef]

            cb = {"failed_trial_callback": Retry(max_retry=max_retries)}
        return RDBStorage(url, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD, **cb)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    import optuna

    return optuna.study.get_all_study_names(storage)


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    import optuna

    s = spec.study.sampler
    kwargs = dict(s.args)
    if s.name == "GridSampler":
        kwargs["search_space"] = spec.grid()
        return _construct(_grid_sampler_class(), kwargs, spec, "study.sampler.args")
    if s.seed is not None:
        kwargs["seed"] = s.seed
    if s.name == "CmaEsSampler":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError(
                spec.path, "study.sampler", "CmaEsSampler needs the cmaes package: pip install cmaes"
            ) from None
    return _construct(getattr(optuna.samplers, s.name), kwargs, spec, "study.sampler.args")


def _grid_sampler_class() -> type:
    """GridSampler whose ``after_trial`` does not call ``study.stop()``: that only works inside
    ``study.optimize`` (ask-and-tell raises), and the driver checks ``is_exhausted`` itself."""
    from optuna.samplers import GridSampler

    class DriverGridSampler(GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    DriverGridSampler.__name__ = "GridSampler"
    return DriverGridSampler


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    import optuna

    p = spec.study.pruner
    if p is None or p.name in ("none", "NopPruner"):
        return optuna.pruners.NopPruner()
    return _construct(getattr(optuna.pruners, p.name), dict(p.args), spec, "study.pruner.args")


def _construct(cls: Any, kwargs: dict[str, Any], spec: SweepSpec, where: str) -> Any:
    import inspect

    from pr1bench.registry import did_you_mean

    allowed = [n for n in inspect.signature(cls).parameters if n not in ("self", "args", "kwargs")]
    for k in kwargs:
        if k not in allowed:
            raise ConfigError(
                spec.path,
                f"{where}.{k}",
                f"{cls.__name__} has no argument {k!r}."
                f"{did_you_mean(k, allowed)} Arguments: {', '.join(allowed)}.",
            )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(spec.path, where, f"{cls.__name__}: {e}") from None


def open_study(spec: SweepSpec, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create or load the study named after the sweep (its YAML is stored as a study user attribute)."""
    import optuna

    from pr1bench.sweep.spec import resolved

    study = optuna.create_study(
        study_name=spec.sweep,
        storage=storage,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        direction=spec.objective.direction,
        load_if_exists=True,
    )
    if "sweep_spec" not in study.user_attrs:
        study.set_user_attr("sweep_spec", resolved(spec))
    return study


def load_study(name: str, url: str | None = None) -> optuna.Study:
    """An existing study, read-only use (status, best, ls)."""
    import optuna

    storage = open_storage(name, url)
    if name not in study_names(storage):
        where = url or journal_path(name)
        raise ConfigError(
            None, name, f"no sweep study named {name!r} in {where} (run `pr1bench sweep {name}` first)"
        )
    return optuna.load_study(study_name=name, storage=storage)


def requeue(study: optuna.Study, params: dict[str, Any], attempt: int, retry_of: int) -> None:
    """Queue the same parameters again (a retry); WAITING trials are asked before new samples."""
    study.enqueue_trial(params, user_attrs={"attempt": attempt, "retry_of": retry_of})


# ----------------------------------------------------------------------------------------------
# Leases (journal storage has no heartbeat)
# ----------------------------------------------------------------------------------------------


@dataclass
class Lease:
    number: int
    trial_id: int
    pid: int
    start: str | None
    host: str
    run_dir: str | None = None


class Leases:
    """One JSON file per running trial of this driver; written before launch, removed after tell."""

    def __init__(self, name: str):
        self.dir = leases_dir(name)
        self._lock = threading.Lock()

    def path(self, number: int) -> Path:
        return self.dir / f"{number}.json"

    def take(self, number: int, trial_id: int, run_dir: Path | None = None) -> None:
        from pr1bench.launch import write_json_atomic

        lease = Lease(
            number,
            trial_id,
            os.getpid(),
            process_start(os.getpid()),
            socket.gethostname(),
            str(run_dir) if run_dir else None,
        )
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path(number), asdict(lease))

    def read(self, number: int) -> Lease | None:
        try:
            return Lease(**json.loads(self.path(number).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def drop(self, number: int) -> None:
        with self._lock:
            self.path(number).unlink(missing_ok=True)


def stale_reason(lease: Lease | None, attrs: dict[str, Any]) -> str | None:
    """Why a RUNNING trial is dead, or None if its driver may still be alive (or runs on another host)."""
    host = socket.gethostname()
    drv = attrs.get("driver") or {}
    pid = lease.pid if lease else drv.get("pid")
    start = lease.start if lease else drv.get("start")
    where = lease.host if lease else drv.get("host")
    if pid is None:
        return "left RUNNING by a driver that died before it recorded its pid"
    if where not in (None, host):
        return None
    if pid_alive(int(pid), start):
        return None
    return f"left RUNNING by driver pid {pid} on {where or host}, which is no longer alive"


def run_path(run_id: str) -> Path:
    from pr1bench.paths import runs_dir

    return runs_dir() / run_id


def signal_run(run_dir: str | Path | None, sig: int = signal.SIGTERM) -> str | None:
    """Signal a run's training process group, if run.json's pid is alive and really runs that run dir."""
    from pr1bench.launch import read_run

    if not run_dir or not (Path(run_dir) / "run.json").is_file():
        return None
    pid = read_run(Path(run_dir)).get("pid")
    if not pid or not pid_alive(int(pid), None) or str(run_dir) not in _cmdline(int(pid)):
        return None
    try:
        os.killpg(os.getpgid(int(pid)), sig)
    except (ProcessLookupError, PermissionError):
        return None
    return f"sent signal {int(sig)} to the training process group of pid {pid}"


def reap_orphan(run_dir: str | Path | None) -> str | None:
    """Kill the training child a dead driver left behind (own session) and mark its run killed."""
    from pr1bench.launch import now_iso, read_run, update_run

    if not run_dir or not (Path(run_dir) / "run.json").is_file():
        return None
    note = signal_run(run_dir, signal.SIGKILL)
    if read_run(Path(run_dir)).get("status") in ("pending", "running"):
        update_run(
            Path(run_dir), status="killed", error="the sweep driver died; trial re-queued", ended_at=now_iso()
        )
    return note


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def recover_stale(
    study: optuna.Study, storage: optuna.storages.BaseStorage, leases: Leases, max_retries: int
) -> list[tuple[int, str, str | None]]:
    """Fail (and re-queue within the retry limit) RUNNING trials whose driver died; returns (number, reason, run_dir).

    With RDB storage Optuna's heartbeat does this (``fail_stale_trials`` + ``RetryFailedTrialCallback``).
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        lease = leases.read(t.number)
        reason = stale_reason(lease, t.user_attrs)
        if reason is None:
            continue
        run_dir = (lease.run_dir if lease else None) or t.user_attrs.get("run_dir")
        note = reap_orphan(run_dir)
        if note:
            reason += f"; {note}"
        try:
            storage.set_trial_user_attr(t._trial_id, "error", reason)
            failed = storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:  # another driver finished it meanwhile
            failed = False
        if failed:
            attempt = int(t.user_attrs.get("attempt", 0))
            if attempt < max_retries:
                requeue(study, dict(t.params), attempt + 1, t.number)
        leases.drop(t.number)
        out.append((t.number, reason, run_dir))
    return out
