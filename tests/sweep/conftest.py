"""Sweep fixtures: a temporary sweeps dir, a raw tiny model built once per session, and small real sweep YAMLs.

No fake trainer: every trial of a test that runs one goes through the real launch path
(``accelerate launch -m pr1bench.train``) on the raw tiny model, with one GRPO step and a 2-sample eval.
Those tests are marked slow (``nox -s e2e``); the default sweep tests only validate, sample and read files.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def write_sweep(dir_: Path, name: str, body: str) -> Path:
    path = dir_ / f"{name}.yaml"
    path.write_text(f"# test sweep {name}\nsweep: {name}\n{body}")
    return path


@pytest.fixture
def sweeps_dir(tmp_path, monkeypatch):
    d = tmp_path / "sweeps"
    d.mkdir()
    monkeypatch.setenv("PR1BENCH_SWEEPS", str(d))
    return d


# One GRPO step of 2 completions on 8 training samples, a 2-sample final eval: ~20 s a trial on 2 CPU cores.
REAL_SWEEP = """base:
  task: counting
  variant: grpo
  model: {model}
  trainer: {{max_steps: 1, per_device_train_batch_size: 2, num_generations: 2, logging_steps: 1, save_steps: 1000}}
  data: {{train: 8}}
  generation: {{max_new_tokens: 4}}
  eval: {{n: 2, batch_size: 2{eval_extra}}}
objective: {{metric: {metric}, split: {split}}}
study:
  n_trials: {n}
  sampler: {{name: {sampler}, seed: 0}}
  pruner: {pruner}
  max_retries: {max_retries}
search_space:
  trainer.beta: {space}
{extra}"""


@pytest.fixture
def real_sweep(sweeps_dir, raw_tiny):
    """Write a small sweep over ``trainer.beta`` that trains the raw tiny model for real; returns its path."""

    def make(
        name: str = "real",
        *,
        n: int = 2,
        sampler: str = "RandomSampler",
        space: str = "{type: float, low: 0.0, high: 0.1}",
        metric: str = "acc",
        split: str = "eval",
        pruner: str = "{name: none}",
        max_retries: int = 1,
        intermediate: bool = False,
        extra: str = "",
    ) -> Path:
        body = REAL_SWEEP.format(
            model=raw_tiny,
            n=n,
            sampler=sampler,
            space=space,
            metric=metric,
            split=split,
            pruner=pruner,
            max_retries=max_retries,
            eval_extra=", every_steps: 1, n_intermediate: 2" if intermediate else "",
            extra=extra,
        )
        return write_sweep(sweeps_dir, name, body)

    return make
