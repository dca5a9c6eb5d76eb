"""Launch a run: write ``run.json``, start ``accelerate launch -m pr1bench.train RUN_DIR``, follow it.

The CLI (and the sweep driver) never hold the model: every training runs as an accelerate subprocess,
also on CPU. The parent follows ``metrics.jsonl`` for a live progress bar, keeps the child's output in
``train.log``, marks the run failed/killed when the child dies without saying so, and returns the run dir.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pr1bench import __version__
from pr1bench.models.loading import model_identity
from pr1bench.paths import runs_dir
from pr1bench.runspec import RunSpec, effective_task, hash_of, new_run_id, resolved_config
from pr1bench.spec import ConfigError, TaskSpec, check_task_names

ACCEL_DIR = Path(__file__).parent / "accelerate_configs"
ACCEL_CONFIGS = sorted(p.stem for p in ACCEL_DIR.glob("*.yaml"))
# One thread per CPU training process: on 2 cores, two threads ran SFT ~7x slower (oversubscription).
CPU_THREADS = 1


def accelerate_config(name_or_file: str) -> Path:
    """A shipped config name (cpu, single_gpu, ddp, zero2, zero3, fsdp) or a path to a YAML file."""
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise ConfigError(p, None, "accelerate config file not found")
        return p.resolve()
    cand = ACCEL_DIR / f"{name_or_file}.yaml"
    if not cand.is_file():
        from pr1bench.registry import did_you_mean

        raise ConfigError(None, "accelerate", f"unknown accelerate config {name_or_file!r}."
                          f"{did_you_mean(name_or_file, ACCEL_CONFIGS)} Known: {', '.join(ACCEL_CONFIGS)}, or a YAML path.")
    return cand


def accelerate_executable() -> list[str]:
    """`accelerate` next to this interpreter (a venv), else the module form of the same command."""
    exe = Path(sys.executable).with_name("accelerate")
    return [str(exe), "launch"] if exe.exists() else [sys.executable, "-m", "accelerate.commands.launch"]


def accelerate_config_name(spec: RunSpec) -> str:
    """The config a run launches with: ``cpu`` with more than one process or machine means ``multi_cpu``
    (accelerate's single-process CPU launcher would otherwise start one process and ignore the rest)."""
    procs, machines = spec.launch.num_processes or 1, spec.launch.num_machines or 1
    if spec.accelerate == "cpu" and (procs > 1 or machines > 1):
        return "multi_cpu"
    return spec.accelerate


def planned_layout(spec: RunSpec) -> dict[str, Any]:
    """The process layout the launch asks for (run.json ``distributed`` until the training records its own)."""
    import yaml

    cfg = yaml.safe_load(accelerate_config(accelerate_config_name(spec)).read_text()) or {}
    machines = spec.launch.num_machines or int(cfg.get("num_machines") or 1)
    procs = spec.launch.num_processes or int(cfg.get("num_processes") or 1)
    dtype = str(cfg.get("distributed_type") or "NO")
    if cfg.get("use_cpu") and procs > 1:
        dtype = "MULTI_CPU"
    return {"world_size": procs, "num_machines": machines, "processes_per_machine": max(1, procs // machines),
            "machine_rank": spec.launch.machine_rank or 0, "distributed_type": dtype,
            "backend": ("gloo" if cfg.get("use_cpu") else "nccl") if procs > 1 else None,
            "accelerate_config": accelerate_config_name(spec), "planned": True}


def build_command(spec: RunSpec, run_dir: Path) -> list[str]:
    """The exact `accelerate launch` command for a run (also what `--dry-run` prints)."""
    cmd = [*accelerate_executable(), "--config_file", str(accelerate_config(accelerate_config_name(spec)))]
    launch_args = spec.launch.accelerate_args()
    if (launch_args["num_processes"] or 1) > 1 and (launch_args["num_machines"] or 1) <= 1 \
            and launch_args["main_process_port"] is None:
        launch_args["main_process_port"] = 0  # a free port: sweeps run several multi-process trials side by side
    if spec.accelerate == "cpu" and launch_args["num_cpu_threads_per_process"] is None:
        launch_args["num_cpu_threads_per_process"] = CPU_THREADS
    for key, val in launch_args.items():
        if val is not None:
            cmd += [f"--{key}", str(val)]
    return [*cmd, "-m", "pr1bench.train", str(run_dir)]


def git_sha() -> str | None:
    from pr1bench.paths import project_root

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True,
                             timeout=5)
        sha = out.stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=project_root(),
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib import metadata

    names = ("torch", "torchvision", "transformers", "trl", "accelerate", "datasets", "tokenizers", "pillow",
             "numpy", "scipy", "faster-coco-eval", "pycocotools", "duckdb", "optuna", "vllm", "deepspeed")
    out = {"python": sys.version.split()[0], "pr1bench": __version__}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write via a temp file and rename, so a killed process never leaves half a JSON file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str, allow_nan=False))
    os.replace(tmp, path)


def read_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def update_run(run_dir: Path, **fields: Any) -> dict[str, Any]:
    data = read_run(run_dir)
    data.update(fields)
    write_json_atomic(run_dir / "run.json", data)
    return data


def run_model_identity(spec: RunSpec, model_path: str) -> dict[str, Any]:
    """The ``model_identity`` of a run's starting model: what results and reports name it by.

    ``model`` in run.json stays the path the trainer loads, which is machine-specific; this is what survives
    a move to another machine. A run started from an earlier run's final model (``init_run``) is named after
    that run, with the identity that run started from as ``base``, since its weights have no manifest.
    """
    ident = model_identity(model_path)
    if spec.init_run and "weights_sha256" not in ident:
        try:
            base = read_run(runs_dir() / spec.init_run).get("model_identity")
        except (OSError, ValueError):
            base = None
        ident = {"name": f"{spec.init_run}/{Path(model_path).name}", "init_run": spec.init_run, "base": base}
    return ident


def prepare_run(spec: RunSpec, task: TaskSpec, *, model_path: str, run_id: str | None = None) -> Path:
    """Create the run dir and its ``run.json`` (status ``pending``) with full provenance.

    ``model`` is the path or hub id the trainer loads; ``model_identity`` (:func:`run_model_identity`) is how
    results name it, so nothing downstream has to show a machine path.
    """
    from pr1bench.models.family import resolve as resolve_family

    task, family = resolve_family(task, model_path)  # fills answer 'auto' and pixel limits; warns on a mismatch
    eff = effective_task(spec, task)
    check_task_names(eff, f"<run overrides of task {task.task}>")
    rid = run_id or new_run_id(spec)
    run_dir = runs_dir() / rid
    run_dir.mkdir(parents=True, exist_ok=False)
    record = {
        "run_id": rid, "task": spec.task, "task_version": task.version, "variant": spec.variant,
        "model": model_path, "model_identity": run_model_identity(spec, model_path), "seed": spec.seed,
        "config": resolved_config(spec, task),
        "config_hash": hash_of(spec, task), "git_sha": git_sha(), "packages": package_versions(),
        "coords": eff.answer.coords, "answer_format": eff.answer.format, "model_family": family, "pixels": None,
        "host": socket.gethostname(),
        "started_at": None, "ended_at": None, "status": "pending", "error": None, "sweep": spec.sweep,
        "trial": spec.trial, "parent_run": spec.parent_run, "pr1bench_version": __version__,
        "command": None, "distributed": planned_layout(spec),
    }
    record["command"] = shlex.join(build_command(spec, run_dir))
    write_json_atomic(run_dir / "run.json", record)
    return run_dir


@dataclass
class RunResult:
    run_dir: Path
    status: str
    returncode: int
    error: str | None


def launch(run_dir: Path, *, on_metrics: Callable[[dict[str, Any]], None] | None = None,
           poll: float = 0.5, env: dict[str, str] | None = None, resume: bool = False) -> RunResult:
    """Run the accelerate subprocess for a prepared run dir and wait for it.

    ``on_metrics`` receives every new line of ``metrics.jsonl`` as it appears (live progress). Ctrl-C
    or SIGTERM in the parent terminates the child's process group and marks the run ``killed``.
    """
    spec = RunSpec.model_validate(read_run(run_dir)["config"]["run"])
    cmd = build_command(spec, run_dir)
    child_env = {**os.environ, **(env or {}), "PR1BENCH_RESUME": "1" if resume else "0",
                 "PR1BENCH_PARENT_PID": str(os.getpid()), "PR1BENCH_DIST_TIMEOUT": str(spec.launch.dist_timeout_s),
                 "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    log = open(run_dir / "train.log", "ab")  # noqa: SIM115 - closed in finally
    follower = _MetricsFollower(run_dir / "metrics.jsonl", skip_existing=not resume)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env, start_new_session=True)
    try:
        while proc.poll() is None:
            time.sleep(poll)
            for rec in follower.read_new():
                if on_metrics:
                    on_metrics(rec)
    except BaseException:
        _terminate(proc)
        update_run(run_dir, status="killed", error="interrupted in the parent (Ctrl-C/SIGTERM)", ended_at=now_iso())
        raise
    finally:
        log.close()
    for rec in follower.read_new():
        if on_metrics:
            on_metrics(rec)
    data = read_run(run_dir)
    signalled = rank_signals(run_dir / "train.log") if proc.returncode != 0 else []
    if signalled and data.get("status") != "pruned":
        # torchrun's failure summary: a rank died by a signal (kill -9, OOM killer); it stopped the others.
        who = ", then ".join(f"rank {r} by signal {sig} ({_signame(sig)})" for r, sig in signalled)
        seen = f"; rank 0 saw: {data['error']}" if data.get("error") else ""
        data = update_run(run_dir, status="killed", error=f"training processes ended by signals: {who}; resumable "
                          f"with --resume; see {run_dir / 'train.log'}{seen}"[:2000],
                          ended_at=data.get("ended_at") or now_iso())
    elif proc.returncode != 0 and data.get("status") not in ("failed", "killed", "pruned"):
        reason = f"training process exited with code {proc.returncode}"
        if proc.returncode < 0:
            reason = f"training process was killed by signal {-proc.returncode}"
        data = update_run(run_dir, status="failed", error=f"{reason}; see {run_dir / 'train.log'}",
                          ended_at=now_iso())
    elif proc.returncode == 0 and data.get("status") != "completed":
        data = update_run(run_dir, status="failed", error="training process exited without completing the run",
                          ended_at=now_iso())
    return RunResult(run_dir, data["status"], proc.returncode, data.get("error"))


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def rank_signals(log_path: Path, tail_bytes: int = 200_000) -> list[tuple[int, int]]:
    """(rank, signal) of the ranks torchrun's failure summary says died by a signal, its root cause first.

    torchrun prints, per failed rank, ``rank : 1 (local_rank: 1)`` and ``exitcode : -9 (pid: 123)``; a rank it
    stopped itself after another failed shows -15 (SIGTERM). Empty when the root cause is not a signal (a rank
    that raised, exit code 1: the run failed, it was not killed) or when there is no summary (one process).
    """
    import re

    try:
        with log_path.open("rb") as f:
            f.seek(max(0, log_path.stat().st_size - tail_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    pat = r"rank\s*:\s*(\d+)\s*\(local_rank:[^)]*\)\s*\n\s*exitcode\s*:\s*(-?\d+)"
    root = text.rfind("Root Cause")
    first = re.search(pat, text[root:]) if root >= 0 else None
    if first is None or int(first.group(2)) >= 0:
        return []
    out = [(int(first.group(1)), -int(first.group(2)))]
    for m in re.finditer(pat, text):
        r, code = int(m.group(1)), int(m.group(2))
        if code < 0 and (r, -code) not in out:
            out.append((r, -code))
    return out


def _terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _MetricsFollower:
    """Reads complete new lines of a growing JSONL file (a partial last line waits for its newline)."""

    def __init__(self, path: Path, *, skip_existing: bool):
        self.path = path
        self.offset = path.stat().st_size if (skip_existing and path.exists()) else 0

    def read_new(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for line in chunk[: end + 1].splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
