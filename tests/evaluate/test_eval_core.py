"""Evaluation aggregation with fixed completions: greedy metrics, sampled reward, and its task-only form."""

from __future__ import annotations

import pytest

from pr1bench.dataset import build_rows
from pr1bench.evaluate.core import evaluate_rows, task_weight_of
from pr1bench.spec import load_task


def _points(row) -> str:
    return ", ".join(f"({(b[0] + b[2]) // 2},{(b[1] + b[3]) // 2})" for b in row.target["boxes"])


@pytest.mark.parametrize("cot", [False, True])
def test_sampled_reward_task_terms_exclude_think_format(cot):
    task = load_task("counting")
    rows = build_rows(task, "eval", n=12, cot=cot)

    def generate(batch, sampled):
        # greedy: every answer right; sampled: right for even rows, empty for odd rows (deterministic)
        out = []
        for i, r in enumerate(batch):
            ans = _points(r) if (not sampled or i % 2 == 0) else ""
            out.append(f"<think> </think><answer>{ans}</answer>" if cot else ans)
        return out

    res = evaluate_rows(task, rows, generate, cot=cot)
    m = res.summary["metrics"]
    assert m["acc"] == 1.0 and m["parse_rate"] == 1.0
    think = task_weight_of(task, "think_format", cot=cot)
    assert (think > 0) == cot
    assert m["reward_sampled"] - m["reward_sampled_task"] == pytest.approx(think if cot else 0.0)
    assert m["reward_sampled"] < m["reward_greedy"]  # half of the sampled answers are empty
    per_bucket = [b["metrics"]["reward_sampled"] for b in res.summary["buckets"].values()]
    weights = [b["n"] for b in res.summary["buckets"].values()]
    assert sum(p * w for p, w in zip(per_bucket, weights, strict=True)) / sum(weights) == pytest.approx(
        m["reward_sampled"])
