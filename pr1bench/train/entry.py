"""The process `accelerate launch -m pr1bench.train RUN_DIR` runs: phases, final model, evaluation.

Reads everything from ``RUN_DIR/run.json`` (written by the parent), so a run can be re-launched or
resumed from its directory alone. Never opens the database: the parent ingests the run dir afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from pr1bench.dataset import build_rows
from pr1bench.launch import now_iso, read_run, update_run, write_json_atomic
from pr1bench.runspec import RunSpec, phases_of, resolved_trainer
from pr1bench.spec import TaskSpec
from pr1bench.task_rewards import build_task_rewards
from pr1bench.train import dist, rollout_trace


def _set_seed(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def _pixels(model_dir: str) -> dict[str, Any] | None:
    try:
        from transformers import AutoProcessor

        ip = AutoProcessor.from_pretrained(model_dir).image_processor
        size = getattr(ip, "size", None)
        lo = getattr(ip, "min_pixels", None) or getattr(size, "shortest_edge", None)
        hi = getattr(ip, "max_pixels", None) or getattr(size, "longest_edge", None)
        return {"min_pixels": lo, "max_pixels": hi, "patch_size": getattr(ip, "patch_size", None),
                "merge_size": getattr(ip, "merge_size", None)}
    except Exception:  # provenance only; never fail a run over it
        return None


def writes_record() -> bool:
    """This process writes a run.json: the main rank (the run), or another machine's local rank 0 (its worker
    record). Every other rank writes nothing of the run."""
    return dist.is_main() or (dist.is_local_main() and dist.machine_rank() > 0)


def _start(run_dir: Path, rec: dict[str, Any], resume: bool) -> None:
    """Agree on the run across ranks and record the process layout (main rank) or the worker record."""
    dist.check_supported()
    layout = dist.describe()
    mine = _same_training_hash(rec)
    main = dist.broadcast({"run_id": rec["run_id"], "hash": mine, "host": rec.get("host")})
    if main["hash"] != mine:
        raise RuntimeError(f"this machine's run {rec['run_id']} differs from machine 0's run {main['run_id']} in more "
                           "than launch.machine_rank: start every machine with the same task, variant, model and "
                           "key=value overrides (only launch.machine_rank differs)")
    before = (rec.get("distributed") or {}).get("world_size")
    if resume and before and int(before) != layout["world_size"]:
        raise RuntimeError(f"run {rec['run_id']} was trained with world size {before}; this resume has "
                           f"{layout['world_size']}. Resume with the run's own launch settings (run.json "
                           "config.run.launch) so its checkpoints, batches and RNG states line up")
    fields = {"status": "running", "started_at": rec.get("started_at") or now_iso(), "pid": os.getpid(),
              "error": None, "ended_at": None, "distributed": {**layout, "machine_rank": dist.machine_rank()}}
    if dist.is_main():
        update_run(run_dir, **fields)
    elif writes_record():
        update_run(run_dir, **fields, role="worker", main_run=main["run_id"], main_host=main["host"])


def _same_training_hash(rec: dict[str, Any]) -> str:
    """The config hash without what differs between the machines of one training (machine rank, model path)."""
    import copy

    from pr1bench.spec import config_hash

    cfg = copy.deepcopy(rec["config"])
    for key in ("sweep", "trial", "study", "model"):
        cfg["run"].pop(key, None)
    cfg["run"].get("launch", {}).pop("machine_rank", None)
    cfg["model_identity"] = rec.get("model_identity")  # the same weights, wherever each machine keeps them
    return config_hash(cfg)


def run(run_dir: Path) -> None:
    rec = read_run(run_dir)
    spec = RunSpec.model_validate(rec["config"]["run"])
    task = TaskSpec.model_validate(rec["config"]["task"])  # already the effective task
    resume = os.environ.get("PR1BENCH_RESUME") == "1"
    _start(run_dir, rec, resume)
    _set_seed(spec.seed)
    model_path = rec["model"]
    cot = spec.variant == "cot-grpo"
    done = list(rec.get("phases_done") or [])
    for phase in phases_of(spec):
        out = run_dir / f"{phase}_model"
        if phase in done and (out / "config.json").exists():
            model_path = str(out)
            continue
        model_path = str(_run_phase(phase, spec, task, run_dir, model_path, resume=resume, cot=cot))
        dist.barrier()  # the phase's model is saved before any rank loads it for the next phase
        done.append(phase)
        if writes_record():  # the layout again, now with the distributed type accelerate really set up
            update_run(run_dir, phases_done=done, final_model=model_path,
                       distributed={**dist.describe(), "machine_rank": dist.machine_rank()})
    dist.barrier()  # every rank has finished training; only the main rank evaluates (no collective waits on it)
    if not dist.is_main():
        if writes_record():
            update_run(run_dir, status="completed", ended_at=now_iso())
        dist.shutdown()
        return
    update_run(run_dir, final_model=model_path, pixels=_pixels(model_path))
    _final_eval(run_dir, spec, task, model_path, cot=cot)
    update_run(run_dir, status="completed", ended_at=now_iso())
    dist.shutdown()


def dist_trainer_keys(spec: RunSpec) -> dict[str, Any]:
    """Trainer arguments the process layout needs (user keys still win): the collective timeout on GPUs (CPU
    gloo gets it from :func:`pr1bench.train.dist.init`), and on several machines a full checkpoint and phase
    model on each one, since each machine has its own results dir (resume and sft-grpo's second phase read it
    locally)."""
    keys: dict[str, Any] = {}
    if dist.is_distributed():
        keys["ddp_timeout"] = int(spec.launch.dist_timeout_s)
    if dist.num_machines() > 1:
        keys["save_on_each_node"] = True
    return keys


def _run_phase(phase: str, spec: RunSpec, task: TaskSpec, run_dir: Path, model_path: str, *, resume: bool,
               cot: bool) -> Path:
    from pr1bench.train.phases import run_grpo, run_sft

    cfg = {**dist_trainer_keys(spec), **resolved_trainer(spec, phase)}  # type: ignore[arg-type]
    cfg = {**cfg, **tracker_keys(spec, phase, run_dir, cfg)}
    rows = build_rows(task, "train", cot=cot)
    common = {"model_path": model_path, "rows": rows, "system": task.system_prompt,
              "out_dir": run_dir / f"{phase}_model", "ckpt_dir": run_dir / "checkpoints" / phase,
              "metrics_path": run_dir / "metrics.jsonl", "seed": spec.seed, "resume": resume}
    if phase == "sft":  # the same intermediate evaluation as GRPO, so both phases have a learning curve
        evaluator = _intermediate_evaluator(spec, task, cot) if spec.eval.every_steps else None
        return run_sft(**common, trainer_cfg=cfg, evaluator=evaluator, eval_every=spec.eval.every_steps)
    funcs, weights = build_task_rewards(task, cot=cot)
    funcs = rollout_trace.trace(funcs, run_dir)
    cfg = {**vllm_trainer_keys(spec.vllm), **cfg}
    evaluator = _intermediate_evaluator(spec, task, cot) if spec.eval.every_steps else None
    max_new = task.generation.cot_max_new_tokens if cot else task.generation.max_new_tokens
    return run_grpo(**common, trainer_cfg=cfg, reward_funcs=funcs, reward_weights=weights,
                    max_completion_length=max_new, evaluator=evaluator, eval_every=spec.eval.every_steps)


def tracker_keys(spec: RunSpec, phase: str, run_dir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """``report_to`` for the trainer, with each tracker's files inside the run dir (default: none).

    TRL's own logging callbacks do the logging (TensorBoard event files, W&B offline, trackio's local database),
    on the main rank only, beside our metrics.jsonl. The SFT phase of sft-grpo follows ``report_to`` unless
    ``sft_trainer.report_to`` says otherwise.
    """
    from pr1bench.runspec import report_to_list

    value = cfg.get("report_to")
    if value is None and phase == "sft" and spec.variant == "sft-grpo":
        value = spec.trainer.get("report_to")
    trackers = report_to_list(value)
    out: dict[str, Any] = {"report_to": trackers}
    if not trackers:
        return out
    if "run_name" not in cfg:
        out["run_name"] = f"{run_dir.name}-{phase}"
    if "tensorboard" in trackers:  # read by transformers' TensorBoardCallback when it is built
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard" / phase)
    if "wandb" in trackers:
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        os.environ.setdefault("WANDB_PROJECT", "pr1bench")
    if "trackio" in trackers:
        os.environ.setdefault("TRACKIO_DIR", str(run_dir / "trackio"))
        if "project" not in cfg:
            out["project"] = "pr1bench"
    return out


def vllm_trainer_keys(mode: str) -> dict[str, Any]:
    """`--vllm colocate|server` in TRL's own terms (rollouts on GPU)."""
    if mode == "off":
        return {}
    return {"use_vllm": True, "vllm_mode": mode}


def _intermediate_evaluator(spec: RunSpec, task: TaskSpec, cot: bool) -> Any:
    """Greedy eval on a fixed small subset, returning the task's metrics (for sweeps' pruners)."""
    from pr1bench.evaluate.core import evaluate_rows, hf_generator

    rows = build_rows(task, "eval", n=min(spec.eval.n_intermediate, spec.eval.n or task.data.eval), cot=cot)
    state: dict[str, Any] = {}

    def evaluate(model: Any) -> dict[str, float]:
        if "processor" not in state:
            from transformers import AutoProcessor

            state["processor"] = AutoProcessor.from_pretrained(spec_model_dir(spec), padding_side="left")
        gen = hf_generator(model, state["processor"], task, batch_size=spec.eval.batch_size, cot=cot)
        return evaluate_rows(task, rows, gen, cot=cot, sampled=False, seed=spec.seed).summary["metrics"]

    return evaluate


def spec_model_dir(spec: RunSpec) -> str:
    from pr1bench.embedded import resolve_model

    return resolve_model(spec.model)


def _final_eval(run_dir: Path, spec: RunSpec, task: TaskSpec, model_path: str, *, cot: bool) -> None:
    res = evaluate_model(model_path, task, spec, cot=cot)
    res.samples.to_parquet(run_dir / "samples.parquet", index=False)
    write_json_atomic(run_dir / "eval.json", res.summary)


def evaluate_model(model_path: str, task: TaskSpec, spec: RunSpec, *, cot: bool) -> Any:
    """Load ``model_path`` and evaluate it on the task's eval split (HF generate, or vLLM on a GPU)."""
    rows = build_rows(task, "eval", n=spec.eval.n, cot=cot)
    temperature = float(resolved_trainer(spec, "grpo").get("temperature", 1.0))
    if spec.eval.backend == "vllm":
        from pr1bench.evaluate.vllm_backend import vllm_generator

        gen = vllm_generator(model_path, task, cot=cot, temperature=temperature, seed=spec.seed)
    else:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from pr1bench.evaluate.core import hf_generator

        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForImageTextToText.from_pretrained(model_path).to(device).eval()
        processor = AutoProcessor.from_pretrained(model_path, padding_side="left")
        gen = hf_generator(model, processor, task, batch_size=spec.eval.batch_size, cot=cot, temperature=temperature)
    from pr1bench.evaluate.core import evaluate_rows

    return evaluate_rows(task, rows, gen, cot=cot, seed=spec.seed)


def watch_parent(run_dir: Path, interval: float = 1.0) -> None:
    """End this training when the launching CLI dies (even by kill -9), so no orphan keeps writing the run dir.

    The child runs in its own session (Ctrl-C reaches only the parent, which then stops it gracefully), so
    it would otherwise outlive a killed parent; the run is left resumable from its last checkpoint. With
    several processes, torchrun puts each rank in a session of its own: every rank watches the CLI and its
    torchrun agent (a killed agent would otherwise leave its ranks running), and only the process that
    writes the record marks it killed.
    """
    import signal
    import threading
    import time

    from pr1bench.procs import pid_alive

    ppid = int(os.environ.get("PR1BENCH_PARENT_PID", "0") or 0)
    agent = os.getppid() if dist.is_distributed() else 0
    if ppid <= 0 and agent <= 0:
        return

    def loop() -> None:
        while True:
            time.sleep(interval)
            if ppid > 0 and not pid_alive(ppid):
                why = f"launching process {ppid} died"
            elif agent > 0 and os.getppid() != agent:
                why = f"the torchrun agent {agent} of rank {dist.rank()} died"
            else:
                continue
            if writes_record():
                update_run(run_dir, status="killed", error=why, ended_at=now_iso())
            else:  # let the writer record why first: our death would show up there as a lost peer
                time.sleep(3 * interval)
            os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=loop, name="pr1bench-parent-watch", daemon=True).start()


# Messages of a collective whose peer went away (gloo/NCCL/the TCP store): the run was killed elsewhere, not broken.
PEER_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "timed out", "timeout",
             "recvbytes failed", "connection refused", "nccl communicator was aborted")


def failure_status(e: BaseException) -> str:
    """``killed`` (resumable) for an interrupt, a SIGTERM from the launcher, or a lost peer rank; else ``failed``."""
    if isinstance(e, KeyboardInterrupt | SystemExit):
        return "killed"
    if dist.is_distributed():
        text = f"{type(e).__name__}: {e}".lower()
        if "distbackenderror" in text or any(m in text for m in PEER_LOST):
            return "killed"
    return "failed"


def _on_sigterm(signum: int, frame: Any) -> None:
    """torchrun stops the surviving ranks with SIGTERM when one dies: say so instead of vanishing."""
    raise SystemExit(f"stopped by signal {signum} (SIGTERM): the launcher stopped this rank, "
                     "usually because another rank died or the run was interrupted")


def main(argv: list[str] | None = None) -> int:
    import signal

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: accelerate launch -m pr1bench.train RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    watch_parent(run_dir)
    if dist.is_distributed():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        dist.init(float(os.environ.get("PR1BENCH_DIST_TIMEOUT") or dist.DEFAULT_TIMEOUT_S))
        run(run_dir)
    except BaseException as e:  # record why, then let the parent see a non-zero exit
        tb = traceback.format_exc()
        if writes_record():
            (run_dir / "error.txt").write_text(tb)
            where = f" (rank {dist.rank()} of {dist.world_size()})" if dist.is_distributed() else ""
            update_run(run_dir, status=failure_status(e), error=f"{type(e).__name__}{where}: {e}"[:2000],
                       ended_at=now_iso())
        print(tb, file=sys.stderr)
        return 1
    if dist.is_main():
        print(json.dumps({"run_dir": str(run_dir), "status": "completed"}))
    return 0
