"""The embedded model's cost: builder v2 (shipped) against v1 (the model before issue 13), TRL against the plain loop.

Prints, on one torch thread, with the same rows (a mix of the four synthetic tasks' train splits):

* **train step**: seconds per SFT step of 16 samples through TRL's ``SFTTrainer`` (what ``pr1bench train
  --variant sft`` runs, without the subprocess) and through the plain PyTorch loop that pretrained the shipped
  model (``pr1bench.train.pretrain``: LM head at answer positions only), for both builder versions. Ratios:
  v2 / v1 (baseline: today's-before model, builder v1) and TRL / plain loop (baseline: the plain loop).
* **answer length**: tokens per ground-truth answer under each tokenizer (what generation must produce).
* **eval throughput**: greedy decoding tokens per second at batch 32 (fixed 32 new tokens, so untrained weights
  are comparable), and the shipped model's real greedy eval speed on the counting eval split (images/s).

Usage: python benchmarks/bench_embedded.py [--steps 20] [--rows 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

V1 = {"number_tokens": 0, "structure_tokens": False, "mrope": "chunked"}


def build(version: str, out: Path) -> Path:
    from pr1bench.models.tiny import TinyConfig, build_tiny

    return build_tiny(out, config=TinyConfig(**(V1 if version == "v1" else {})))


def rows_by_task(n: int) -> dict[str, list[Any]]:
    from pr1bench.dataset import build_rows
    from pr1bench.spec import load_task

    return {t: build_rows(load_task(t), "train", n=n) for t in ("grounding", "counting", "detection", "ocr")}


def trl_step_seconds(model_dir: Path, rows: list[Any], steps: int, tmp: Path) -> float:
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
    from trl import SFTConfig

    from pr1bench.train.phases import grouped_sft_trainer, sft_example

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.marks: list[float] = []

        def on_step_end(self, *_: Any, **__: Any) -> None:
            self.marks.append(time.perf_counter())

    ds = Dataset.from_list([sft_example(r, None) for r in rows])
    args = SFTConfig(output_dir=str(tmp / "trl"), report_to=[], max_steps=steps + 2, per_device_train_batch_size=16,
                     learning_rate=5e-4, save_strategy="no", use_cpu=True, bf16=False, disable_tqdm=True,
                     completion_only_loss=True, max_length=None, dataloader_num_workers=0, logging_steps=1000)
    clock = Clock()
    trainer = grouped_sft_trainer([len(r.answer) for r in rows])(
        model=AutoModelForImageTextToText.from_pretrained(model_dir), args=args, train_dataset=ds,
        processing_class=AutoProcessor.from_pretrained(model_dir), callbacks=[clock])
    trainer.train()
    return (clock.marks[-1] - clock.marks[1]) / (len(clock.marks) - 2)  # the first two steps warm up


def plain_step_seconds(model_dir: Path, by_task: dict[str, list[Any]], steps: int) -> float:
    import random

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from pr1bench.train.pretrain import Batcher, answer_loss

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    batcher = Batcher(processor)
    pools = list(by_task.values())  # batches of one task, as the pretraining draws them
    rng = random.Random(0)
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        pool = pools[rng.randrange(len(pools))]
        batch = batcher([(r.image, r.prompt_text, r.answer) for r in rng.sample(pool, min(16, len(pool)))])
        loss = answer_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return sum(times[2:]) / steps


def answer_tokens(model_dir: Path, rows: list[Any]) -> float:
    from transformers import AutoProcessor

    tok = AutoProcessor.from_pretrained(model_dir).tokenizer
    return sum(len(tok.encode(r.answer, add_special_tokens=False)) + 1 for r in rows) / len(rows)


def decode_tokens_per_second(model_dir: Path, rows: list[Any]) -> float:
    from pr1bench.models.generate import generate_batch
    from pr1bench.models.loading import load_model_and_processor

    model, processor = load_model_and_processor(model_dir)
    chunk = rows[:32]
    kw = {"max_new_tokens": 32, "batch_size": 32}
    model.generation_config.min_new_tokens = 32
    generate_batch(model, processor, [r.image for r in chunk[:4]], [r.prompt_text for r in chunk[:4]], **kw)
    t0 = time.perf_counter()
    generate_batch(model, processor, [r.image for r in chunk], [r.prompt_text for r in chunk], **kw)
    return 32 * len(chunk) / (time.perf_counter() - t0)


def shipped_eval_images_per_second(n: int = 100) -> tuple[float, float]:
    from pr1bench.dataset import build_rows
    from pr1bench.embedded import resolve_model
    from pr1bench.evaluate.core import evaluate_rows, hf_generator
    from pr1bench.models.loading import load_model_and_processor
    from pr1bench.spec import load_task

    model, processor = load_model_and_processor(resolve_model(None))
    task = load_task("counting")
    rows = build_rows(task, "eval", n=n)
    t0 = time.perf_counter()
    res = evaluate_rows(task, rows, hf_generator(model, processor, task, batch_size=50, cot=False), cot=False,
                        sampled=False)
    return n / (time.perf_counter() - t0), res.summary["metrics"]["acc"]


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rows", type=int, default=32, help="rows per task")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    by_task = rows_by_task(a.rows)
    rows = [r for task_rows in by_task.values() for r in task_rows]
    res: dict[str, dict[str, float]] = {}
    for v in ("v1", "v2"):
        d = build(v, tmp / v)
        res[v] = {"trl": trl_step_seconds(d, rows, a.steps, tmp / f"{v}-run"),
                  "plain": plain_step_seconds(d, by_task, a.steps), "answer_tokens": answer_tokens(d, rows),
                  "decode_tps": decode_tokens_per_second(d, rows)}
    v1, v2 = res["v1"], res["v2"]
    print(f"[1 torch thread, batch 16, {4 * a.rows} rows of the 4 synthetic tasks, {a.steps} timed steps]")
    for path in ("trl", "plain"):
        print(f"train step via {path:5s}: v2 {v2[path]:.3f} s vs v1 {v1[path]:.3f} s = {v2[path] / v1[path]:.2f}x "
              f"(baseline: builder v1, the model before issue 13)")
    for v in ("v1", "v2"):
        print(f"TRL SFTTrainer vs plain loop ({v}): {res[v]['trl']:.3f} s vs {res[v]['plain']:.3f} s = "
              f"{res[v]['trl'] / res[v]['plain']:.2f}x (baseline: the plain loop that pretrained the shipped model)")
    print(f"answer tokens per sample: v2 {v2['answer_tokens']:.1f} vs v1 {v1['answer_tokens']:.1f} = "
          f"{v2['answer_tokens'] / v1['answer_tokens']:.2f}x (baseline: v1 tokenizer)")
    print(f"greedy decoding, batch 32: v2 {v2['decode_tps']:.0f} tok/s vs v1 {v1['decode_tps']:.0f} tok/s = "
          f"{v2['decode_tps'] / v1['decode_tps']:.2f}x; per answer "
          f"{(v2['answer_tokens'] / v2['decode_tps']) / (v1['answer_tokens'] / v1['decode_tps']):.2f}x the time of v1")
    ips, acc = shipped_eval_images_per_second()
    print(f"shipped model, counting eval (greedy, batch 50): {ips:.1f} images/s, acc {acc:.3f}")


if __name__ == "__main__":
    main()
