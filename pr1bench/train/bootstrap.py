"""Instruction warm-up of the embedded tiny model (the analog of an instruct checkpoint).

A random-init model gets reward 0 everywhere, so GRPO has no signal. First the vision tower is pretrained on
generic scenes (see ``vision_pretrain``: without it the tiny model never learns to look). Then a deterministic SFT on a
mixed synthetic set (all four synthetic tasks, a quarter of the samples in the CoT think/answer shape) teaches
the answer formats while leaving most of the accuracy to be won by task training: the per-task accuracy it
reaches is written to ``bootstrap_eval.json`` beside the model and shown by `pr1bench model bootstrap`.

Run by the parent as ``accelerate launch -m pr1bench.train.bootstrap OUT_DIR --base TINY_DIR --steps N``.
Writes into ``OUT_DIR.partial`` and renames at the end, so a killed bootstrap never leaves a half model.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from pr1bench.dataset import Row, build_rows

SYNTHETIC_TASKS = ("grounding", "counting", "detection", "ocr")
DEFAULT_STEPS = 1200
DEFAULT_PER_TASK = 3000
DEFAULT_VISION_STEPS = 400


def mixed_rows(per_task: int, seed: int) -> list[tuple[Row, bool]]:
    """Rows from every synthetic task; every fourth row uses the CoT prompt and think/answer target."""
    from pr1bench.spec import load_task

    out: list[tuple[Row, bool]] = []
    for name in SYNTHETIC_TASKS:
        task = load_task(name)
        task = task.model_copy(update={"data": task.data.model_copy(update={"seed": task.data.seed + 1000})})
        plain = build_rows(task, "train", n=per_task)
        n_cot = per_task // 4
        cot_rows = build_rows(task, "train", n=n_cot, cot=True)[:n_cot]
        out += [(r, False) for r in plain[n_cot:]] + [(r, True) for r in cot_rows]
    random.Random(seed).shuffle(out)
    return out


def train(out_dir: Path, base: Path, *, steps: int, per_task: int, seed: int, lr: float,
          vision_steps: int = DEFAULT_VISION_STEPS, vision_objective: str = "cells") -> None:
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor, set_seed
    from trl import SFTConfig

    from pr1bench.train.phases import grouped_sft_trainer, sft_example

    set_seed(seed)
    rows = mixed_rows(per_task, seed)
    ds = Dataset.from_list([sft_example(r, None, cot=cot) for r, cot in rows])
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    args = SFTConfig(output_dir=str(partial / "_trainer"), report_to=[], seed=seed, data_seed=seed, max_steps=steps,
                     per_device_train_batch_size=16, learning_rate=lr, lr_scheduler_type="cosine", warmup_steps=20,
                     logging_steps=25, save_strategy="no", use_cpu=True, bf16=False, disable_tqdm=False, gradient_checkpointing=False,
                     completion_only_loss=True, max_length=None, dataloader_num_workers=0)
    processor = AutoProcessor.from_pretrained(base)
    model = AutoModelForImageTextToText.from_pretrained(base)
    from pr1bench.train.vision_pretrain import pretrain_vision

    vision = (pretrain_vision(model, processor, steps=vision_steps, seed=seed, objective=vision_objective)
              if vision_steps else {})
    lengths = [len(r.answer) + (30 if cot else 0) for r, cot in rows]
    trainer = grouped_sft_trainer(lengths)(model=model, args=args, train_dataset=ds, processing_class=processor)
    trainer.train()
    trainer.save_model(str(partial))
    processor.save_pretrained(str(partial))
    shutil.rmtree(partial / "_trainer", ignore_errors=True)
    manifest = json.loads((base / "pr1bench_model.json").read_text())
    manifest["bootstrap"] = {"steps": steps, "per_task": per_task, "seed": seed, "learning_rate": lr,
                             "tasks": list(SYNTHETIC_TASKS), "cot_fraction": 0.25, "base": str(base),
                             "vision_pretrain": {"steps": vision_steps, "objective": vision_objective, **vision}}
    (partial / "pr1bench_model.json").write_text(json.dumps(manifest, indent=2))
    (partial / "bootstrap_eval.json").write_text(json.dumps(evaluate_all(partial, seed), indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)


def evaluate_all(model_dir: Path, seed: int, n: int = 100) -> dict[str, dict[str, float]]:
    """Greedy primary metric of the warmed-up model per synthetic task (the 'base' row of every table)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.evaluate.core import evaluate_rows, hf_generator
    from pr1bench.spec import load_task

    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    out = {}
    for name in SYNTHETIC_TASKS:
        task = load_task(name)
        rows = build_rows(task, "eval", n=n)
        res = evaluate_rows(task, rows, hf_generator(model, processor, task, batch_size=32, cot=False),
                            cot=False, sampled=False, seed=seed)
        m = res.summary["metrics"]
        out[name] = {"metric": task.primary_metric, "value": m.get(task.primary_metric, float("nan")),
                     "parse_rate": m["parse_rate"], "n": n}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--per-task", type=int, default=DEFAULT_PER_TASK)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--vision-steps", type=int, default=DEFAULT_VISION_STEPS)
    p.add_argument("--vision-objective", choices=["cells", "geometry"], default="cells",
                   help="vision pretraining targets (see pr1bench.train.vision_pretrain.OBJECTIVES)")
    a = p.parse_args(argv)
    train(a.out_dir, a.base, steps=a.steps, per_task=a.per_task, seed=a.seed, lr=a.lr, vision_steps=a.vision_steps,
          vision_objective=a.vision_objective)
    return 0


if __name__ == "__main__":
    sys.exit(main())
