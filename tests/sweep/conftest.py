"""Sweep fixtures: a temporary sweeps dir, a fake model dir, and a fake (torch-free) training child."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FAKE = Path(__file__).with_name("fake_train.py")


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


@pytest.fixture
def fake_model(tmp_path):
    d = tmp_path / "fake-model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return d


@pytest.fixture
def fake_plan(tmp_path, monkeypatch):
    """Write the plan the fake child follows; returns a setter."""
    path = tmp_path / "plan.json"
    monkeypatch.setenv("PR1BENCH_FAKE_PLAN", str(path))

    def set_plan(**plan):
        plan.setdefault("markers", str(tmp_path / "markers"))
        path.write_text(json.dumps(plan))
        return path

    set_plan()
    return set_plan


@pytest.fixture
def fake_launch(monkeypatch, fake_plan):
    """Start tests/sweep/fake_train.py instead of accelerate (the rest of the launch path is real)."""
    import pr1bench.launch as launch

    monkeypatch.setattr(
        launch, "build_command", lambda spec, run_dir: [sys.executable, str(FAKE), str(run_dir)]
    )
    return fake_plan


FAKE_SWEEP = """base:
  task: counting
  variant: grpo
  model: {model}
  trainer: {{max_steps: 2, per_device_train_batch_size: 8, num_generations: 4}}
  eval: {{n: 2, every_steps: 1}}
objective: {{metric: acc}}
study:
  n_trials: {n}
  sampler: {{name: {sampler}, seed: 0}}
  pruner: {{name: none}}
  max_retries: 1
search_space:
  trainer.beta: {space}
"""


@pytest.fixture
def fake_sweep(sweeps_dir, fake_model):
    def make(name="fake", n=3, sampler="TPESampler", space="{type: float, low: 0.1, high: 0.9}"):
        return write_sweep(
            sweeps_dir, name, FAKE_SWEEP.format(model=fake_model, n=n, sampler=sampler, space=space)
        )

    return make
