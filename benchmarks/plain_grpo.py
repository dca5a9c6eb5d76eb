"""Baseline for bench_train.py: the same GRPO as `pr1bench train counting --variant grpo`, as a plain TRL script.

Same tiny model, same rows, same rewards and GRPOConfig values; no run dir, no callbacks, no evaluation.
Run under the same launcher: accelerate launch --config_file pr1bench/accelerate_configs/cpu.yaml
--num_cpu_threads_per_process 1 benchmarks/plain_grpo.py MODEL_DIR MAX_STEPS
"""

from __future__ import annotations

import sys
import tempfile

from datasets import Dataset
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import GRPOConfig, GRPOTrainer

from pr1bench.dataset import build_rows
from pr1bench.spec import load_task
from pr1bench.task_rewards import build_task_rewards


def main(model_dir: str, max_steps: int, n_train: int) -> None:
    task = load_task("counting")
    rows = build_rows(task, "train", n=n_train)
    ds = Dataset.from_list([
        {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r.prompt_text}]}],
         "image": r.image, "target": r.target_json, "width": r.width, "height": r.height}
        for r in rows
    ])
    funcs, weights = build_task_rewards(task, cot=False)
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, report_to=[], use_cpu=True, bf16=False, gradient_checkpointing=False,
                          max_steps=max_steps, learning_rate=2e-5, beta=0.04, num_generations=8,
                          per_device_train_batch_size=16, temperature=1.0, logging_steps=5, save_strategy="no",
                          max_completion_length=task.generation.max_new_tokens, reward_weights=weights, seed=0,
                          disable_tqdm=True)
        trainer = GRPOTrainer(model=AutoModelForImageTextToText.from_pretrained(model_dir), reward_funcs=funcs,
                              args=args, train_dataset=ds, processing_class=AutoProcessor.from_pretrained(model_dir))
        trainer.train()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
