"""One library call per run: spec -> accelerate subprocess -> ingest (and the embedded model's bootstrap).

`pr1bench train`, `pr1bench eval`, sweep trials and `pr1bench repro` all go through :func:`execute`, so
they share provenance, crash handling and the database write (only this parent process writes it).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pr1bench.embedded import resolve_model
from pr1bench.launch import (
    RunResult,
    launch,
    prepare_run,
)
from pr1bench.procs import pid_alive
from pr1bench.runspec import RunSpec, apply_overrides, validate_run
from pr1bench.spec import TaskSpec, load_task


def build_spec(task_name: str, variant: str, overrides: list[str] | dict[str, Any], *, check_trl: bool = True,
               **fields: Any) -> tuple[RunSpec, TaskSpec]:
    """Task + variant + CLI/sweep overrides -> a validated RunSpec (errors name the key and the fix)."""
    task = load_task(task_name)
    raw: dict[str, Any] = {"task": task.task, "variant": variant, **{k: v for k, v in fields.items() if v is not None}}
    raw = apply_overrides(raw, overrides)
    return validate_run(raw, task, check_trl=check_trl), task


@contextmanager
def _file_lock(path: Path):  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_embedded(*, status: Callable[[str], None] | None = None, steps: int | None = None,
                    force: bool = False, seed: int = 0, threads: int = 1, eval_every: int = 0,
                    eval_n: int = 300, vision_steps: int | None = None, stage_steps: int | None = None,
                    from_stage1: Path | None = None) -> Path:
    """Reproduce the shipped embedded model from scratch under <results>/models/ (cached); returns its path.

    Each pretraining stage is ``pr1bench.train.pretrain`` in a subprocess whose log lines drive ``status``: stage 1
    builds the random-init tiny Qwen2-VL and pretrains it (``tiny-qwen2vl-v3-bootstrap``, the stage-1 recipe); each
    later stage N continues from stage N-1's output (``tiny-qwen2vl-v3sN-bootstrap``,
    :data:`pr1bench.train.pretrain.STAGES`); the last is the shipped model's rebuild. ``from_stage1`` skips stage 1
    and continues from that checkpoint (the shipped stage-1 model, say); ``steps`` and ``stage_steps`` shorten stage 1
    and the later stages. A killed bootstrap resumes from its last checkpoint (or finished stage) when run again.
    """
    from pr1bench.embedded import bootstrap_path, identity, is_ready, stage_bootstrap_path, tiny_path
    from pr1bench.models.tiny import BUILDER_VERSION
    from pr1bench.train.pretrain import LAST_STAGE

    out = bootstrap_path()
    dirs = {n: stage_bootstrap_path(n) for n in range(1, LAST_STAGE)} | {LAST_STAGE: out}
    with _file_lock(out.parent / ".bootstrap.lock"):
        if is_ready(out) and not force:
            return out
        if force:
            for p in dirs.values():
                shutil.rmtree(p, ignore_errors=True)
                shutil.rmtree(p.with_name(p.name + ".partial"), ignore_errors=True)
        if from_stage1 is None and not is_ready(dirs[1]):
            raw = tiny_path()
            if not is_ready(raw) or (identity(raw) or {}).get("builder_version") != BUILDER_VERSION:
                if status:
                    status(f"building the tiny Qwen2-VL into {raw}")
                subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", str(raw), "--seed", str(seed),
                                "--overwrite"], check=True, capture_output=True)
            cmd = ["--base", str(raw), "--seed", str(seed)]
            if steps:
                cmd += ["--steps", str(steps)]
            if vision_steps is not None:
                cmd += ["--vision-steps", str(vision_steps)]
            _pretrain(dirs[1], cmd + _common(threads, eval_every, eval_n), f"stage 1 of {LAST_STAGE}", status)
        previous = from_stage1 or dirs[1]
        for n in range(2, LAST_STAGE + 1):
            if not is_ready(dirs[n]):
                cmd = ["--stage", str(n), "--base", str(previous)] + (["--steps", str(stage_steps)] if stage_steps else [])
                _pretrain(dirs[n], cmd + _common(threads, eval_every, eval_n), f"stage {n} of {LAST_STAGE}", status)
            previous = dirs[n]
    return out


def _common(threads: int, eval_every: int, eval_n: int) -> list[str]:
    return ["--threads", str(threads), "--eval-every", str(eval_every), "--final-eval-n", str(eval_n)]


def _pretrain(out: Path, args: list[str], label: str, status: Callable[[str], None] | None) -> None:
    """One ``pr1bench.train.pretrain`` run into ``out``, its log beside it; raises with the log's path on failure."""
    import json

    from pr1bench.embedded import is_ready

    cmd = [sys.executable, "-m", "pr1bench.train.pretrain", str(out), *args]
    log_path = out.parent / f"{out.name}.log"
    if status:
        status(f"pretraining the embedded model ({label}) into {out}; log in {log_path}")
    with log_path.open("a") as log, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                     text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if status and line.startswith("{"):
                rec = json.loads(line)
                status(f"pretraining {label}, step {rec['step']} ({rec['seconds'] / 60:.1f} min); log in {log_path}")
        proc.wait()
    if proc.returncode != 0 or not is_ready(out):
        raise RuntimeError(f"bootstrap {label} failed (exit {proc.returncode}); see {log_path}")


def model_for(spec: RunSpec) -> str:
    """The starting model of a run: an earlier run's final model, a given path/hub id, or the embedded one."""
    if spec.init_run:
        from pr1bench.launch import read_run
        from pr1bench.paths import runs_dir

        rec = read_run(runs_dir() / spec.init_run)
        if not rec.get("final_model"):
            raise FileNotFoundError(f"run {spec.init_run} has no final model (status {rec.get('status')})")
        return rec["final_model"]
    return resolve_model(spec.model)


def execute(spec: RunSpec, task: TaskSpec, *, on_metrics: Callable[[dict[str, Any]], None] | None = None,
            status: Callable[[str], None] | None = None, ingest: bool = True,
            on_start: Callable[[Path], None] | None = None) -> RunResult:
    """Prepare, launch and (optionally) ingest one run; never raises for a failed training.

    ``on_start(run_dir)`` is called once the run dir exists, before the launch (sweeps track it there, so a
    trial pruned from inside ``on_metrics`` still knows its run).
    """
    run_dir = prepare_run(spec, task, model_path=model_for(spec))
    if on_start:
        on_start(run_dir)
    if status:
        status(f"run {run_dir.name}: launching accelerate")
    result = launch(run_dir, on_metrics=on_metrics)
    if ingest and not is_worker(run_dir):
        ingest_quietly(run_dir)
    return result


def is_worker(run_dir: Path) -> bool:
    """Another machine's record of a multi-node run (it joins machine 0's run; nothing of it goes to the DB)."""
    from pr1bench.launch import read_run

    try:
        return read_run(run_dir).get("role") == "worker"
    except (OSError, ValueError):
        return False


def resume(run_dir: Path, *, on_metrics: Callable[[dict[str, Any]], None] | None = None,
           status: Callable[[str], None] | None = None, ingest: bool = True) -> RunResult:
    """Continue a killed or failed run from its last checkpoint (optimizer and RNG state included)."""
    from pr1bench.launch import read_run

    rec = read_run(run_dir)
    if rec.get("status") == "completed":
        raise ValueError(f"run {run_dir.name} already completed; nothing to resume")
    pid = rec.get("pid")
    if rec.get("status") == "running" and pid and pid_alive(int(pid)):
        raise ValueError(f"run {run_dir.name} is still running (pid {pid}); stop it first or wait")
    if status:
        status(f"resuming {run_dir.name}")
    result = launch(run_dir, on_metrics=on_metrics, resume=True)
    if ingest and not is_worker(run_dir):
        ingest_quietly(run_dir)
    return result


def ingest_quietly(run_dir: Path) -> str | None:
    """Ingest a finished run into DuckDB; a missing store module or a failure is reported, not raised."""
    try:
        from pr1bench.store import ingest_run
    except ImportError:
        return "store not available"
    try:
        ingest_run(run_dir)
        return None
    except Exception as e:  # the run dir stays; `pr1bench ingest` can retry
        return f"ingest failed: {e}"
