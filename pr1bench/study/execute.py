"""Running a study: every planned run through the same runner as `pr1bench train`, K at a time, resumable.

A planned run is *done* when a completed run dir carries the same study name, key and plan hash (the hash of its
overrides): re-running the study skips it, so a killed study loses at most the runs in flight. A run that was
killed (Ctrl-C, kill -9 of the CLI, power loss) is resumed from its last checkpoint; a failed one is started once
more, then reported. Worker threads only wait on their training subprocess; the main thread writes DuckDB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pr1bench.study.spec import PlannedRun, StudySpec, run_fields


@dataclass
class StudyOutcome:
    done: dict[str, str] = field(default_factory=dict)  # key -> run_id (completed)
    skipped: list[str] = field(default_factory=list)  # keys already completed before this invocation
    failed: dict[str, str] = field(default_factory=dict)  # key -> error
    seconds: float = 0.0


def best_trials() -> dict[str, dict[str, Any]]:
    """{sweep: {trial, value, params}} for every sweep with a finished trial in the database (empty without one)."""
    from pr1bench.paths import db_path

    if not db_path().is_file():
        return {}
    from pr1bench.store.queries import query

    try:
        df = query("SELECT sweep, number, value, params FROM best_trials")
    except Exception:  # no database / no sweeps table yet: the pinned values apply
        return {}
    out = {}
    for row in df.itertuples(index=False):
        params = row.params if isinstance(row.params, dict) else json.loads(row.params or "{}")
        out[str(row.sweep)] = {"trial": int(row.number), "value": float(row.value), "params": params}
    return out


def existing_runs(study: StudySpec) -> dict[str, list[tuple[Path, dict[str, Any]]]]:
    """Run dirs of this study on disk, by key (newest last)."""
    from pr1bench.paths import runs_dir

    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    root = runs_dir()
    if not root.is_dir():
        return found
    for d in sorted(root.iterdir()):
        f = d / "run.json"
        if not f.is_file():
            continue
        try:
            rec = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        tag = ((rec.get("config") or {}).get("run") or {}).get("study") or {}
        if tag.get("name") == study.study and tag.get("key"):
            found.setdefault(tag["key"], []).append((d, rec))
    for v in found.values():
        v.sort(key=lambda item: str(item[1].get("created_at") or item[0].name))
    return found


def _matching(pr: PlannedRun, recs: list[tuple[Path, dict[str, Any]]], quick: bool) -> list[tuple[Path, dict]]:
    out = []
    for d, rec in recs:
        tag = rec["config"]["run"]["study"]
        if tag.get("plan") == pr.plan_hash and bool(tag.get("quick")) == quick:
            out.append((d, rec))
    return out


def run_study(study: StudySpec, runs: list[PlannedRun], *, quick: bool, jobs: int | None = None,
              on_event: Callable[[str, PlannedRun, str], None] | None = None, ingest: bool = True,
              poll: float = 0.5, fresh: bool = False) -> StudyOutcome:
    """Execute the planned runs that are not done yet; returns which completed, were skipped and failed.

    ``fresh`` ignores earlier runs of the study (a new replicate for `repro`; the report uses the newest runs).
    """
    from pr1bench import runner
    from pr1bench.procs import pid_alive

    start = time.perf_counter()
    out = StudyOutcome()
    emit = on_event or (lambda *_: None)
    have = {} if fresh else existing_runs(study)
    todo: list[PlannedRun] = []
    resumable: dict[str, Path] = {}
    for pr in runs:
        mine = _matching(pr, have.get(pr.key, []), quick)
        done = [d for d, rec in mine if rec.get("status") == "completed"]
        if done:
            out.done[pr.key] = done[-1].name
            out.skipped.append(pr.key)
            emit("skip", pr, done[-1].name)
            continue
        killed = [d for d, rec in mine if rec.get("status") in ("killed", "running")
                  and not (rec.get("pid") and pid_alive(int(rec["pid"])))]
        if killed:
            resumable[pr.key] = killed[-1]
        todo.append(pr)

    attempts: dict[str, int] = {}
    dirs: dict[str, Path] = {}  # key -> run dir of the run in flight (to stop it on Ctrl-C)
    pending = list(todo)
    running: dict[Future[Any], PlannedRun] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs or study.jobs), thread_name_prefix="study")

    def start_one(pr: PlannedRun) -> Future[Any]:
        attempts[pr.key] = attempts.get(pr.key, 0) + 1
        if pr.key in resumable:
            d = resumable.pop(pr.key)
            dirs[pr.key] = d
            emit("resume", pr, d.name)
            return pool.submit(runner.resume, d, ingest=False)
        fields: dict[str, Any] = {"seed": pr.seed, "study": run_fields(study, pr, quick=quick), "model": study.model}
        if pr.needs:
            fields["init_run"] = out.done[pr.needs]
            fields["parent_run"] = out.done[pr.needs]
        spec, task = runner.build_spec(pr.task, pr.variant, dict(pr.overrides), **fields)
        emit("start", pr, "")
        return pool.submit(runner.execute, spec, task, ingest=False,
                           on_start=lambda d, k=pr.key: dirs.__setitem__(k, d))

    try:
        while pending or running:
            for pr in list(pending):
                if len(running) >= max(1, jobs or study.jobs):
                    break
                if pr.needs and pr.needs not in out.done:
                    if pr.needs in out.failed:  # its SFT run failed: this one cannot start
                        pending.remove(pr)
                        out.failed[pr.key] = f"its SFT run {pr.needs} failed"
                        emit("failed", pr, out.failed[pr.key])
                    continue
                pending.remove(pr)
                try:
                    running[start_one(pr)] = pr
                except Exception as e:  # a bad spec: report and go on with the rest
                    out.failed[pr.key] = f"{type(e).__name__}: {e}"
                    emit("failed", pr, out.failed[pr.key])
            if not running:
                if not pending:
                    break
                # nothing runs and nothing could start: the runs left wait on runs that will never complete
                for pr in pending:
                    out.failed[pr.key] = f"its SFT run {pr.needs} did not complete"
                    emit("failed", pr, out.failed[pr.key])
                break
            finished, _ = wait(list(running), timeout=poll, return_when=FIRST_COMPLETED)
            for fut in finished:
                pr = running.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:
                    result = None
                    error = f"{type(e).__name__}: {e}"
                if result is not None:
                    error = result.error or f"status {result.status}"
                    if ingest:
                        note = runner.ingest_quietly(result.run_dir)
                        if note:
                            emit("warn", pr, note)
                if result is not None and result.status == "completed":
                    out.done[pr.key] = result.run_dir.name
                    emit("done", pr, result.run_dir.name)
                elif attempts.get(pr.key, 0) < 2:
                    emit("retry", pr, error)
                    pending.insert(0, pr)
                else:
                    out.failed[pr.key] = error
                    emit("failed", pr, error)
    except KeyboardInterrupt:
        _stop(running, dirs)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    out.seconds = time.perf_counter() - start
    return out


def _stop(running: dict[Future[Any], PlannedRun], dirs: dict[str, Path]) -> None:
    """Ctrl-C/SIGTERM: stop the training children (marked killed, resumed by the next `study run`)."""
    from pr1bench.sweep.study import signal_run

    for pr in running.values():
        signal_run(dirs.get(pr.key))
    wait(list(running), timeout=60)
