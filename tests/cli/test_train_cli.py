"""`pr1bench train --dry-run`: the exact accelerate command per shipped config, vLLM mapping, bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app
from pr1bench.launch import ACCEL_CONFIGS

runner = CliRunner()


def dry(results_dir, *args):
    r = runner.invoke(app, ["train", *args, "--dry-run", "--json"])
    return r, (json.loads(r.output) if r.exit_code == 0 else None)


def test_shipped_accelerate_configs():
    assert set(ACCEL_CONFIGS) == {"cpu", "multi_cpu", "single_gpu", "ddp", "zero2", "zero3", "fsdp"}


@pytest.mark.parametrize("config", ["cpu", "single_gpu", "ddp", "zero2", "zero3", "fsdp"])
def test_dry_run_command_per_config(results_dir, config):
    r, out = dry(results_dir, "counting", "--variant", "grpo", "--accelerate", config, "max_steps=7")
    assert r.exit_code == 0, r.output
    cmd = out["command"]
    assert cmd[1] == "launch" or cmd[1:3] == ["-m", "accelerate.commands.launch"]
    i = cmd.index("--config_file")
    assert cmd[i + 1].endswith(f"accelerate_configs/{config}.yaml")
    assert cmd[-3:-1] == ["-m", "pr1bench.train"] and "/runs/counting-grpo-s0-" in cmd[-1]
    grpo = out["trainer"]["grpo"]
    assert grpo["max_steps"] == 7 and grpo["beta"] == 0.04  # beta explicit: TRL's default is 0


def test_dry_run_multinode_passthrough(results_dir):
    r, out = dry(results_dir, "counting", "--accelerate", "ddp", "launch.num_machines=2", "launch.machine_rank=1",
                 "launch.main_process_ip=10.0.0.1", "launch.main_process_port=29500")
    assert r.exit_code == 0, r.output
    cmd = out["command"]
    for flag, val in (("--num_machines", "2"), ("--machine_rank", "1"), ("--main_process_ip", "10.0.0.1"),
                      ("--main_process_port", "29500")):
        assert cmd[cmd.index(flag) + 1] == val


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_vllm_maps_to_trl_keys(results_dir, mode):
    r, out = dry(results_dir, "grounding", "--vllm", mode)
    assert r.exit_code == 0, r.output
    assert out["trainer"]["grpo"]["use_vllm"] is True and out["trainer"]["grpo"]["vllm_mode"] == mode


def test_sft_grpo_has_both_phases(results_dir):
    r, out = dry(results_dir, "counting", "--variant", "sft-grpo", "sft_trainer.max_steps=3", "max_steps=4")
    assert r.exit_code == 0, r.output
    assert out["trainer"]["sft"]["max_steps"] == 3 and out["trainer"]["grpo"]["max_steps"] == 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["countin", "--variant", "grpo"], "did you mean 'counting'"),
        (["counting", "--variant", "ppo"], "variant"),
        (["counting", "--model", "/nonexistent/model"], "does not exist"),
        (["counting", "num_generation=8"], "did you mean 'num_generations'"),
        (["counting", "output_dir=/tmp/x"], "set by pr1bench"),
        (["counting", "rewards.box_iou.weight=1"], "has no reward 'box_iou'"),
        (["counting", "--accelerate", "zero4"], "zero2"),
        (["counting", "maxsteps"], "key=value"),
    ],
)
def test_bad_input_clear_error(results_dir, args, needle):
    r = runner.invoke(app, ["train", *args, "--dry-run"])
    assert r.exit_code != 0
    assert needle.lower() in r.output.lower(), r.output
    assert not (results_dir / "runs").exists()  # nothing was created


def test_scientific_notation_overrides_are_numbers(results_dir):
    r, out = dry(results_dir, "counting", "learning_rate=1e-3", "beta=4e-2")
    assert r.exit_code == 0, r.output
    assert out["trainer"]["grpo"]["learning_rate"] == 1e-3 and out["trainer"]["grpo"]["beta"] == 0.04
