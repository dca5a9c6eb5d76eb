"""Real tiny-model trainings through `accelerate launch`: SFT and GRPO produce complete run dirs; a killed run resumes.

Random-init model, a handful of steps, short generations: this tests the harness, not learning.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()
QUICK = ["data.train=16", "eval.n=4", "eval.batch_size=4", "generation.max_new_tokens=6", "logging_steps=1"]


def _train(raw_tiny, *args):
    r = runner.invoke(app, ["train", *args, "--model", str(raw_tiny), "--no-ingest", "--json", *QUICK])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{"):])


def _check_run_dir(run_dir, phases):
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "completed" and rec["error"] is None
    for key in ("config_hash", "task_version", "seed", "packages", "coords", "pixels", "started_at", "ended_at"):
        assert rec[key] is not None, key
    assert rec["packages"]["trl"] and rec["pixels"]["max_pixels"] == 112 * 112
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {x["phase"] for x in lines} == set(phases)
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["n"] == 4 and "acc" in ev["metrics"] and "reward_sampled" in ev["metrics"]
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert len(samples) == 4 and {"id", "n", "bucket", "completion", "correct", "score", "reward"} <= set(samples)
    return lines


def test_sft_run_dir_complete(results_dir, raw_tiny):
    out = _train(raw_tiny, "counting", "--variant", "sft", "max_steps=2", "per_device_train_batch_size=8")
    lines = _check_run_dir(results_dir / "runs" / out["run_id"], ["sft"])
    assert any("loss" in x for x in lines)


def test_grpo_run_dir_complete(results_dir, raw_tiny):
    out = _train(raw_tiny, "counting", "--variant", "grpo", "max_steps=2", "num_generations=4",
                 "per_device_train_batch_size=8")
    lines = _check_run_dir(results_dir / "runs" / out["run_id"], ["grpo"])
    keys = set().union(*lines)
    for k in ("reward", "reward_std", "rewards/count_points/mean", "rewards/format/mean", "kl", "entropy",
              "completions/mean_length", "learning_rate", "step_time"):
        assert k in keys, k


def test_killed_run_resumes_from_checkpoint(results_dir, raw_tiny):
    env = {**os.environ, "PR1BENCH_RESULTS": str(results_dir)}
    cmd = [sys.executable, "-m", "pr1bench.cli.main", "train", "counting", "--variant", "sft", "--model",
           str(raw_tiny), "--no-ingest", "max_steps=40", "save_steps=2", "per_device_train_batch_size=4",
           "data.train=64", *QUICK]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    ckpt = None
    while time.time() < deadline and ckpt is None:
        time.sleep(0.5)
        found = list((results_dir / "runs").glob("*/checkpoints/sft/checkpoint-*/trainer_state.json"))
        ckpt = found[0] if found else None
    assert ckpt is not None, "no checkpoint appeared"
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the whole tree: parent and training child
    proc.wait()
    run_dir = ckpt.parents[3]
    # the orphaned training child notices its parent died, marks the run killed and stops
    for _ in range(40):
        rec = json.loads((run_dir / "run.json").read_text())
        if rec["status"] == "killed":
            break
        time.sleep(0.5)
    assert rec["status"] == "killed" and "died" in rec["error"], rec
    time.sleep(1.0)
    r = runner.invoke(app, ["train", "--resume", run_dir.name, "--no-ingest", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [x["step"] for x in lines if "loss" in x]
    assert steps == sorted(set(steps)) and steps[-1] == 40  # continued, no duplicated steps
    state = json.loads((run_dir / "checkpoints" / "sft" / "checkpoint-40" / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    assert (run_dir / "checkpoints" / "sft" / "checkpoint-40" / "optimizer.pt").exists()


@pytest.mark.parametrize("variant", ["sft-grpo", "cot-grpo"])
@pytest.mark.slow
def test_chained_and_cot_variants(results_dir, raw_tiny, variant):
    out = _train(raw_tiny, "counting", "--variant", variant, "max_steps=1", "sft_trainer.max_steps=1",
                 "num_generations=4", "per_device_train_batch_size=8", "generation.cot_max_new_tokens=8")
    phases = ["sft", "grpo"] if variant == "sft-grpo" else ["grpo"]
    _check_run_dir(results_dir / "runs" / out["run_id"], phases)
