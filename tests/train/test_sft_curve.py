"""SFT gets the same intermediate evaluation as GRPO (issue 24): a learning curve for both phases of sft-grpo.

A real tiny run through `accelerate launch` (random-init model, 2 + 2 steps): the SFT phase and the GRPO phase each
log ``eval/<metric>`` every ``eval.every_steps`` steps, with the evaluation's own seconds beside it.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


@pytest.mark.slow
def test_sft_phase_of_sft_grpo_logs_intermediate_evals(results_dir, raw_tiny):
    r = runner.invoke(app, [
        "train", "counting", "--variant", "sft-grpo", "--model", str(raw_tiny), "--no-ingest", "--json",
        "data.train=16", "eval.n=4", "eval.batch_size=4", "eval.every_steps=1", "eval.n_intermediate=3",
        "generation.max_new_tokens=6", "sft_trainer.max_steps=2", "sft_trainer.per_device_train_batch_size=8",
        "sft_trainer.logging_steps=1", "max_steps=2", "num_generations=4", "per_device_train_batch_size=8",
        "logging_steps=1"])
    assert r.exit_code == 0, r.output
    run_id = json.loads(r.output[r.output.index("{"):])["run_id"]
    lines = [json.loads(x) for x in (results_dir / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "eval/acc" in x]
    by_phase = {ph: sorted(x["step"] for x in evals if x["phase"] == ph) for ph in ("sft", "grpo")}
    assert by_phase == {"sft": [1, 2], "grpo": [1, 2]}, by_phase
    for x in evals:
        assert 0.0 <= x["eval/acc"] <= 1.0 and x["eval/seconds"] > 0
    # the training reward of the GRPO phase is logged at the same steps (the report puts them side by side)
    assert {x["step"] for x in lines if x["phase"] == "grpo" and "reward" in x} >= {1, 2}
