"""Opt-in record of every GRPO rollout a rank scored: ``PR1BENCH_TRACE_ROLLOUTS=1`` in the training's environment.

Each rank appends one line per completion to ``RUN_DIR/rollouts/rank<R>.jsonl``: the optimizer step it was
generated for, the prompt's key (a hash of its target, unique per generated scene), the completion and the first
reward term's value. This is how the distributed equivalence check (benchmarks/bench_dist_equivalence.py) counts
prompts, completions and groups per rank and step; it costs one small JSON write per completion.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ENV = "PR1BENCH_TRACE_ROLLOUTS"


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def prompt_key(target: Any) -> str:
    text = target if isinstance(target, str) else json.dumps(target, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


class TracedReward:
    """A reward function that also writes what it scored (TRL calls it with the rank's local completions)."""

    def __init__(self, func: Any, path: Path, rank: int):
        self.func, self.path, self.rank = func, path, rank
        self.__name__ = getattr(func, "__name__", type(func).__name__)  # TRL names the logged reward after it

    def __call__(self, prompts: Any = None, completions: Any = None, **kw: Any) -> Any:
        out = self.func(prompts=prompts, completions=completions, **kw)
        state = kw.get("trainer_state")
        step = int(getattr(state, "global_step", -1)) + 1  # the step these completions are trained in
        targets = kw.get("target") or [None] * len(completions or [])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for t, c, r in zip(targets, completions or [], out, strict=False):
                text = c if isinstance(c, str) else (c[-1].get("content") if c else "")
                f.write(json.dumps({"rank": self.rank, "step": step, "key": prompt_key(t), "completion": text,
                                    "reward": r}, default=str) + "\n")
        return out


def trace(funcs: list[Any], run_dir: Path) -> list[Any]:
    """Wrap the first reward function (one line per completion is enough); the rest are unchanged."""
    if not enabled() or not funcs:
        return funcs
    from pr1bench.train import dist

    path = run_dir / "rollouts" / f"rank{dist.rank()}.jsonl"
    return [TracedReward(funcs[0], path, dist.rank()), *funcs[1:]]
