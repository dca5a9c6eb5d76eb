"""Build a task's reward functions (and their weights) from its spec: the one place train and eval share."""

from __future__ import annotations

from typing import Any

from pr1bench.spec import TaskSpec


def build_task_rewards(task: TaskSpec, *, cot: bool) -> tuple[list[Any], list[float]]:
    """Reward objects in task order and their weights; CoT variants add ``think_format`` (weight 1).

    Every reward gets the task-level answer format, coordinate convention, matching mode and whether the
    think/answer shape is required, plus its own ``args`` from the YAML.
    """
    from pr1bench.perception import build_reward

    common = {"answer_format": task.answer.format, "coords": task.answer.coords, "matching": task.matching,
              "require_think": cot}
    funcs, weights = [], []
    for r in task.rewards:
        funcs.append(build_reward(r.name, **common, **r.args))
        weights.append(float(r.weight))
    if cot and "think_format" not in task.reward_weights():
        funcs.append(build_reward("think_format", **common))
        weights.append(1.0)
    return funcs, weights


def reward_name(func: Any) -> str:
    return getattr(func, "__name__", type(func).__name__)
