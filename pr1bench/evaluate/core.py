"""Evaluation: batched generation, then parse, score and aggregate with the perception core.

Greedy decoding gives the accuracy-style metrics (the paper's protocol); one sampled completion per
prompt at the training temperature gives ``reward_sampled``, the quantity GRPO actually optimises. Both are
reported because at small scale they can move in opposite directions (../shared/SPIKE-NOTES.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pr1bench.dataset import Row
from pr1bench.spec import TaskSpec
from pr1bench.task_rewards import build_task_rewards, reward_name

Generate = Callable[[list[Row], bool], list[str]]


@dataclass
class EvalResult:
    summary: dict[str, Any]  # the eval.json payload
    samples: Any  # pandas.DataFrame for samples.parquet


def bucket_label(n: int, edges: list[int]) -> str:
    """Label of the complexity bucket holding ``n`` for lower edges like [1, 2, 4, 7, 11] -> '4-6'."""
    from pr1bench.perception import bucket

    return bucket(n, edges)


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def task_metrics(task: TaskSpec, parsed: list[Any], targets: list[dict[str, Any]]
                 ) -> tuple[dict[str, float], list[str]]:
    """All of the task's metrics on one set of samples (flattened into one name -> value dict)."""
    from pr1bench.perception import METRIC_NOTES, METRICS

    out: dict[str, float] = {}
    notes: list[str] = []
    protocol = task.eval.protocol
    for name in task.metrics:
        for k, v in METRICS.get(name)(parsed, targets, protocol=protocol, coords=task.answer.coords).items():
            if (f := _finite(v)) is not None:
                out[k] = f
        note = METRIC_NOTES.get(f"{name}@{protocol}") or METRIC_NOTES.get(name)
        if note:
            notes.append(note)
    return out, notes


def parse_completions(task: TaskSpec, completions: list[str], rows: list[Row], *, cot: bool) -> list[Any]:
    """Parse completions under the task's evaluation protocol (``eval.protocol``)."""
    from pr1bench.perception.protocols import parse_for

    return [parse_for(task.eval.protocol, task.type, task.answer.format, c, width=r.width, height=r.height,
                      coords=task.answer.coords, require_think=cot) for c, r in zip(completions, rows, strict=True)]


def bootstrap_ci(values: np.ndarray, *, seed: int = 0, n_resamples: int = 2000) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of a per-sample mean (None when undefined)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2 or np.all(values == values[0]):
        return (float(values[0]), float(values[0])) if values.size else None
    from scipy.stats import bootstrap

    res = bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=n_resamples, method="percentile",
                    random_state=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def weighted_rewards(task: TaskSpec, completions: list[str], rows: list[Row], *, cot: bool
                     ) -> tuple[dict[str, list[float]], list[float]]:
    funcs, weights = build_task_rewards(task, cot=cot)
    cols = {"target": [r.target_json for r in rows], "width": [r.width for r in rows],
            "height": [r.height for r in rows]}
    terms: dict[str, list[float]] = {}
    total = np.zeros(len(rows))
    for f, w in zip(funcs, weights, strict=True):
        vals = [v if v is not None and math.isfinite(v) else 0.0 for v in f(completions, **cols)]
        terms[reward_name(f)] = vals
        total += w * np.asarray(vals, dtype=float)
    return terms, total.tolist()


def task_weight_of(task: TaskSpec, name: str, *, cot: bool) -> float:
    """The weight a reward term gets in this evaluation (0 when the task does not use it)."""
    funcs, weights = build_task_rewards(task, cot=cot)
    return float(sum(w for f, w in zip(funcs, weights, strict=True) if reward_name(f) == name))


def evaluate_rows(task: TaskSpec, rows: list[Row], generate: Generate, *, cot: bool, split: str = "eval",
                  sampled: bool = True, seed: int = 0) -> EvalResult:
    """Generate for ``rows`` (greedy, and once sampled), then build eval.json and the samples table."""
    import pandas as pd

    from pr1bench.perception import bucket_labels, score_samples, task_complexity

    completions = generate(rows, False)
    parsed = parse_completions(task, completions, rows, cot=cot)
    targets = [r.target for r in rows]
    per_sample = score_samples(task.type, parsed, targets, protocol=task.eval.protocol)
    terms, total = weighted_rewards(task, completions, rows, cot=cot)
    metrics, notes = task_metrics(task, parsed, targets)
    metrics["sample_score"] = float(np.mean([s["score"] for s in per_sample]))
    metrics["parse_rate"] = float(np.mean([p is not None for p in parsed]))
    metrics["reward_greedy"] = float(np.mean(total))
    sampled_total: list[float] = []
    if sampled:
        s_terms, sampled_total = weighted_rewards(task, generate(rows, True), rows, cot=cot)
        metrics["reward_sampled"] = float(np.mean(sampled_total))
        # the task's own reward terms only (CoT adds think_format): comparable across CoT and no-CoT variants
        think = task_weight_of(task, "think_format", cot=cot)
        task_only = np.asarray(sampled_total) - think * np.asarray(s_terms.get("think_format", 0.0))
        metrics["reward_sampled_task"] = float(np.mean(task_only))
    labels = [bucket_label(r.n, task.buckets) for r in rows]
    buckets: dict[str, Any] = {}
    order = {lab: i for i, lab in enumerate(bucket_labels(task.buckets))}
    for lab in sorted(set(labels), key=lambda s: order.get(s, -1)):
        idx = [i for i, x in enumerate(labels) if x == lab]
        bm, _ = task_metrics(task, [parsed[i] for i in idx], [targets[i] for i in idx])
        bm["sample_score"] = float(np.mean([per_sample[i]["score"] for i in idx]))
        bm["reward_greedy"] = float(np.mean([total[i] for i in idx]))
        if sampled_total:
            bm["reward_sampled"] = float(np.mean([sampled_total[i] for i in idx]))
        buckets[lab] = {"n": len(idx), "metrics": bm, "mean_n": float(np.mean([rows[i].n for i in idx]))}
    ci = {}
    for key, vals in (("sample_score", [s["score"] for s in per_sample]), ("reward_greedy", total)):
        c = bootstrap_ci(np.asarray(vals), seed=seed)
        if c:
            ci[key] = list(c)
    summary = {"split": split, "n": len(rows), "cot": cot, "metrics": metrics, "ci": ci, "buckets": buckets,
               "complexity": task_complexity([r.n for r in rows]), "notes": notes,
               "primary_metric": task.primary_metric, "protocol": task.eval.protocol}
    samples = pd.DataFrame({
        "id": [r.id for r in rows], "split": split, "n": [r.n for r in rows], "bucket": labels,
        "prompt": [r.prompt_text for r in rows], "completion": completions,
        "parsed": [parsed_json(p) for p in parsed],
        "correct": [bool(s["correct"]) for s in per_sample], "score": [float(s["score"]) for s in per_sample],
        **{f"reward/{k}": v for k, v in terms.items()}, "reward": total,
    })
    return EvalResult(summary, samples)


def parsed_json(p: Any) -> str | None:
    """A parsed answer as compact JSON for samples.parquet (None when unparseable)."""
    if p is None:
        return None
    return json.dumps({"boxes": np.round(p.boxes, 2).tolist(), "labels": list(p.labels),
                       "points": np.round(p.points, 2).tolist(), "count": p.count, "text": p.text})


def hf_generator(model: Any, processor: Any, task: TaskSpec, *, batch_size: int, cot: bool,
                 temperature: float = 1.0) -> Generate:
    """A Generate function over HF ``generate`` (CPU or one GPU)."""
    from pr1bench.models.generate import generate_batch

    max_new = task.generation.cot_max_new_tokens if cot else task.generation.max_new_tokens

    def gen(rows: list[Row], sample: bool) -> list[str]:
        out: list[str] = []
        for i in range(0, len(rows), batch_size):  # decode one batch of (lazy, real-data) images at a time
            chunk = rows[i:i + batch_size]
            out += generate_batch(model, processor, [r.image for r in chunk], [r.prompt_text for r in chunk],
                                  system=task.system_prompt, max_new_tokens=max_new, do_sample=sample,
                                  temperature=temperature, batch_size=batch_size)
        return out

    return gen
