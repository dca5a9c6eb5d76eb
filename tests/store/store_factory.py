"""Build realistic run directories following the trainer's contract, so store tests never need the trainer."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TRAIN_NAMES = (
    "loss", "reward", "reward_std", "rewards/box_iou/mean", "rewards/format/mean", "kl", "entropy",
    "learning_rate", "completions/mean_length", "step_time",
)  # fmt: skip


def make_run_dir(
    root: Path,
    run_id: str = "run-a",
    *,
    task: str = "detection",
    task_version: int = 1,
    variant: str = "grpo",
    seed: int = 0,
    model: str = "tiny-qwen2vl",
    status: str = "completed",
    steps: int = 20,
    names: tuple[str, ...] = TRAIN_NAMES,
    eval_every: int = 10,
    truncate_last: bool = False,
    with_eval: bool = True,
    n_samples: int = 12,
    metric_value: float | None = None,
    sweep: str | None = None,
    trial: int | None = None,
    extra_splits: tuple[str, ...] = (),
) -> Path:
    """Write ``root/run_id/`` with run.json, metrics.jsonl, eval.json and samples.parquet.

    Values are deterministic in (run_id, seed); ``metric_value`` pins eval ``accuracy`` for view tests.
    Line 3 of metrics.jsonl carries a NaN and a null (both skipped on ingest).
    """
    rng = random.Random(f"{run_id}-{seed}")
    run_dir = root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "task": task,
        "variant": variant,
        "seed": seed,
        "trainer": {"learning_rate": 1e-5, "beta": 0.04},
    }
    meta: dict[str, Any] = {
        "run_id": run_id, "task": task, "task_version": task_version, "variant": variant, "model": model,
        "seed": seed, "config": config,
        "config_hash": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "git_sha": "0123abcd", "packages": {"trl": "1.16.0", "transformers": "5.24.0"},
        "coords": "absolute_pixels", "answer_format": "json_boxes",
        "pixels": {"min_pixels": 3136, "max_pixels": 12544}, "host": "testhost",
        "started_at": "2026-11-24T10:00:00Z",
        "ended_at": "2026-11-24T10:05:00+00:00" if status != "running" else None,
        "status": status, "error": None if status != "failed" else "boom", "sweep": sweep, "trial": trial,
        "parent_run": None, "pr1bench_version": "0.1.0",
    }  # fmt: skip
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    _write_metrics(run_dir / "metrics.jsonl", rng, steps, names, eval_every, truncate_last)
    if with_eval:
        for split in ("eval", *extra_splits):
            name = "eval.json" if split == "eval" else f"eval-{split}.json"
            (run_dir / name).write_text(json.dumps(_eval_doc(rng, split, n_samples, metric_value)))
        _write_samples(run_dir / "samples.parquet", rng, n_samples)
    return run_dir


def _write_metrics(
    path: Path, rng: random.Random, steps: int, names: tuple[str, ...], eval_every: int, truncate: bool
) -> None:
    lines = []
    for step in range(1, steps + 1):
        rec: dict[str, Any] = {"step": step, "epoch": step / steps, "time": 1.8e9 + step, "phase": "grpo"}
        rec |= {n: rng.random() for n in names}
        if step == 3:
            rec["kl"], rec["entropy"] = math.nan, None
        if eval_every and step % eval_every == 0:
            rec["eval/accuracy"] = rng.random()
        lines.append(json.dumps(rec) + "\n")
    text = "".join(lines)
    if truncate:
        text += '{"step": ' + str(steps + 1) + ', "epoch": 1.0, "loss": 0.12'  # killed mid-write
    path.write_text(text)


def _eval_doc(rng: random.Random, split: str, n: int, metric_value: float | None) -> dict[str, Any]:
    acc = metric_value if metric_value is not None else rng.random()
    return {
        "split": split, "n": n,
        "metrics": {"accuracy": acc, "coco_ap": rng.random(), "undefined_metric": math.nan},
        "ci": {"accuracy": [acc - 0.1, acc + 0.1]},
        "buckets": {"1-3": {"n": n // 2, "metrics": {"accuracy": rng.random()}},
                    "4-6": {"n": n - n // 2, "metrics": {"accuracy": rng.random()}}},
        "complexity": {"mean_fact": 10.5, "mean_log_fact": 1.7, "median_fact": 6.0},
        "notes": ["synthetic fixture"],
    }  # fmt: skip


def _write_samples(path: Path, rng: random.Random, n: int) -> None:
    counts = [rng.randint(1, 6) for _ in range(n)]
    table = pa.table({
        "id": [f"s{i}" for i in range(n)], "split": ["eval"] * n, "n": counts,
        "bucket": ["1-3" if c <= 3 else "4-6" for c in counts],
        "prompt": ["Please output bbox coordinates."] * n, "completion": ['[{"bbox": [1, 2, 3, 4]}]'] * n,
        "parsed": [json.dumps([[1, 2, 3, 4]]) if i % 4 else None for i in range(n)],
        "correct": [i % 2 == 0 for i in range(n)], "score": [rng.random() for _ in range(n)],
        "reward/box_iou": [rng.random() for _ in range(n)],
        "reward/format": [1.0 if i % 3 else None for i in range(n)],
    })  # fmt: skip
    pq.write_table(table, path)


def child_env() -> dict[str, str]:
    """Environment for a child Python that imports pr1bench and the store test helpers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    return env


def start_child(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` with line-buffered text stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(), cwd=ROOT,
    )  # fmt: skip
