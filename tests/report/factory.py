"""Run directories with known values, shaped like the launcher writes them, ingested into a temporary store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

BUCKETS = ("1", "2-3", "4-6")
VARIANT_BASE = {"base": 0.30, "sft": 0.40, "grpo": 0.55, "cot-grpo": 0.45, "sft-grpo": 0.60}
DET_REWARDS = ("format", "box_iou", "label_match", "recall_f1", "missing_penalty")


@contextmanager
def module_results(tmp_path_factory: Any, name: str) -> Iterator[Path]:
    """A fresh results root for one test module, exported as PR1BENCH_RESULTS and as the in-process override."""
    import pytest

    from pr1bench.paths import set_results_dir

    results = tmp_path_factory.mktemp(name) / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("PR1BENCH_RESULTS", str(results))
    set_results_dir(results)
    try:
        yield results
    finally:
        set_results_dir(None)
        mp.undo()


def value(variant: str, seed: int, bucket: str = "all") -> float:
    """The known metric of a run: variant level + 0.01 * seed, and per bucket a gain growing with complexity."""
    v = VARIANT_BASE[variant] + 0.01 * seed
    if bucket != "all":
        k = BUCKETS.index(bucket)
        v += (0.05 * k) if variant in ("grpo", "sft-grpo") else -0.02 * k
    return round(v, 6)


def config(task: str, variant: str, seed: int, *, matching: str | None = None, order: str = "random",
           weights: dict[str, float] | None = None, num_generations: int = 8, beta: float = 0.04,
           sweep: str | None = None, trial: int | None = None) -> dict[str, Any]:
    """A resolved config with the keys the ablations read (run / task / trainer)."""
    w = weights or {"format": 1.0, "box_iou": 1.0, "label_match": 1.0, "recall_f1": 1.0, "missing_penalty": 0.5}
    run = {"task": task, "variant": variant, "seed": seed, "matching": matching, "trainer": {}, "rewards": {},
           "data": {}, "sweep": sweep, "trial": trial, "model": None}
    grpo = {"num_generations": num_generations, "beta": beta, "learning_rate": 2e-5}
    phases = {"base": {}, "sft": {"sft": {"learning_rate": 5e-4}}, "grpo": {"grpo": grpo},
              "cot-grpo": {"grpo": grpo}, "sft-grpo": {"sft": {"learning_rate": 5e-4}, "grpo": grpo}}
    return {"run": run, "trainer": phases[variant],
            "task": {"task": task, "version": 1, "matching": matching or "hungarian",
                     "data": {"order": order, "n_objects": [1, 6]},
                     "rewards": [{"name": n, "weight": w.get(n, 0.0), "args": {}} for n in DET_REWARDS]}}


def write_run(root: Path, run_id: str, task: str, variant: str, seed: int, *, metric: str = "acc",
              metric_value: float | None = None, cfg: dict[str, Any] | None = None, sweep: str | None = None,
              trial: int | None = None, n_samples: int = 12, packages: dict[str, str] | None = None) -> Path:
    """One completed run dir; the eval metric is :func:`value` unless ``metric_value`` is given."""
    d = root / run_id
    d.mkdir(parents=True, exist_ok=True)
    cfg = cfg or config(task, variant, seed, sweep=sweep, trial=trial)
    top = metric_value if metric_value is not None else value(variant, seed)
    meta = {"run_id": run_id, "task": task, "task_version": 1, "variant": variant, "model": "tiny", "seed": seed,
            "config": cfg, "config_hash": "x", "git_sha": "abc", "packages": packages or {"trl": "1.0"},
            "coords": "absolute_pixels", "answer_format": "json_boxes", "pixels": None, "host": "h",
            "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:01:00Z", "status": "completed",
            "error": None, "sweep": sweep, "trial": trial, "parent_run": None, "pr1bench_version": "0.1.0"}
    (d / "run.json").write_text(json.dumps(meta))
    lines = [json.dumps({"step": s, "phase": "grpo", "reward": 0.1 * s + VARIANT_BASE[variant], "loss": 1.0 / s})
             for s in range(1, 6)] if variant != "base" else []
    (d / "metrics.jsonl").write_text("".join(x + "\n" for x in lines))
    buckets = {b: {"n": n_samples // 3, "metrics": {metric: value(variant, seed, b)}} for b in BUCKETS}
    ev = {"split": "eval", "n": n_samples, "metrics": {metric: top, "reward_greedy": top + 1.0,
                                                       "reward_sampled": top + 0.5, "sample_score": top},
          "ci": {}, "buckets": buckets, "complexity": {"mean_fact": 1.0, "mean_log_fact": 0.5, "median_fact": 2.0}}
    (d / "eval.json").write_text(json.dumps(ev))
    ns = [1, 2, 3, 4, 5, 6] * (n_samples // 6)
    pq.write_table(pa.table({
        "id": [f"s{i}" for i in range(len(ns))], "split": ["eval"] * len(ns), "n": ns,
        "bucket": ["1" if n == 1 else "2-3" if n <= 3 else "4-6" for n in ns],
        "prompt": ["p"] * len(ns), "completion": ["c"] * len(ns), "parsed": [None] * len(ns),
        "correct": [True] * len(ns), "score": [top + 0.01 * (i % 3) for i in range(len(ns))],
    }), d / "samples.parquet")  # fmt: skip
    return d


def ingest_all(root: Path) -> None:
    from pr1bench.store import find_run_dirs, ingest_many

    for r in ingest_many(find_run_dirs([root])):
        assert r.ok, r.error
