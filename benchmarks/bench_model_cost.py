"""What one GRPO step costs with one embedded model against another (issue 20's cost bound: new <= 1.3x old).

Both models run the same code (TRL's own GRPOTrainer, built by ``pr1bench.train.phases.build_grpo_trainer``, at
the study's shape: counting, 8 prompts x 8 completions,
``per_device_train_batch_size=64 num_generations=8``, the task's max completion length, beta 0.04, one torch
thread) in one process, in alternating blocks of ``--steps`` optimizer steps, so that machine load drifts over
both arms alike. The first block of each model is a warm-up and is not counted. Prints seconds per step, mean
completion length and the ratio new/old (the baseline is ``--old``).

Run: python benchmarks/bench_model_cost.py --old OLD_DIR --new pr1bench/models/weights/tiny-qwen2vl-v3s6 [--reps 3]
(v2, the baseline of issue 20: git archive 2d4e3cb~1 pr1bench/models/weights/tiny-qwen2vl-v2 | tar -x -C /tmp;
v3, stage 1 of the shipped model: --old pr1bench/models/weights/tiny-qwen2vl-v3)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback
from trl import GRPOTrainer

from pr1bench.dataset import build_rows
from pr1bench.spec import load_task
from pr1bench.task_rewards import build_task_rewards
from pr1bench.train.phases import build_grpo_trainer


class _Clock(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.lengths: list[float] = []
        self._t = 0.0

    def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001, D102
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):  # noqa: ANN001, D102
        self.times.append(time.perf_counter() - self._t)

    def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001, D102
        if logs and "completions/mean_length" in logs:
            self.lengths.append(float(logs["completions/mean_length"]))


def block(model_dir: str, rows, funcs, weights, task, steps: int, seed: int) -> tuple[list[float], list[float]]:
    """``steps`` optimizer steps of TRL's own GRPOTrainer, built as run_grpo builds its trainer."""
    clock = _Clock()
    with tempfile.TemporaryDirectory() as out:
        cfg = {"max_steps": steps, "learning_rate": 1e-4, "beta": 0.04, "num_generations": 8,
               "per_device_train_batch_size": 64, "temperature": 1.0, "logging_steps": 1, "save_strategy": "no"}
        trainer, _ = build_grpo_trainer(model_path=model_dir, rows=rows, system=task.system_prompt,
                                        ckpt_dir=Path(out), seed=seed, trainer_cfg=cfg, reward_funcs=funcs,
                                        reward_weights=weights, max_completion_length=task.generation.max_new_tokens,
                                        callbacks=[clock], trainer_cls=GRPOTrainer)
        trainer.train()
    return clock.times, clock.lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--task", default="counting")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    task = load_task(a.task)
    rows = build_rows(task, "train", n=64 * a.steps * (a.reps + 1) // 8 + 64)
    funcs, weights = build_task_rewards(task, cot=False)
    res: dict[str, dict[str, list[float]]] = {"old": {"t": [], "len": []}, "new": {"t": [], "len": []}}
    for rep in range(a.reps + 1):
        for arm, path in (("old", a.old), ("new", a.new)) if rep % 2 == 0 else (("new", a.new), ("old", a.old)):
            t, n = block(path, rows, funcs, weights, task, a.steps, seed=rep)
            if rep:  # rep 0 is the warm-up
                res[arm]["t"] += t
                res[arm]["len"] += n
    out = {arm: {"s_per_step": statistics.median(v["t"]), "mean_s_per_step": statistics.fmean(v["t"]),
                 "completion_len": statistics.fmean(v["len"]) if v["len"] else None, "steps": len(v["t"])}
           for arm, v in res.items()}
    out["ratio_new_over_old_median"] = out["new"]["s_per_step"] / out["old"]["s_per_step"]
    out["ratio_new_over_old_mean"] = out["new"]["mean_s_per_step"] / out["old"]["mean_s_per_step"]
    out["shape"] = {"task": a.task, "prompts": 8, "completions": 64, "threads": 1}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
