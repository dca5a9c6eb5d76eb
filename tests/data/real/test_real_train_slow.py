"""End to end on a real-format fixture: a tiny random model trains (GRPO) and evaluates on a RefCOCO layout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import realfix as fx
from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


@pytest.mark.slow
def test_grpo_trains_and_evaluates_on_refcoco_fixture(tmp_path, results_dir) -> None:
    model = tmp_path / "tiny"
    subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", str(model)], check=True, capture_output=True)
    fx.refcoco_json(tmp_path / "data", 12)
    task = fx.task_file(tmp_path, "refcoco", {"annotations": str(tmp_path / "data" / "refcoco_val.json"),
                                              "images": str(tmp_path / "data" / "images"), "train": 8, "eval": 4})
    r = runner.invoke(app, ["train", str(task), "--variant", "grpo", "--model", str(model), "--no-ingest", "--json",
                            "max_steps=1", "num_generations=4", "per_device_train_batch_size=4", "eval.n=4",
                            "eval.batch_size=4", "generation.max_new_tokens=6", "logging_steps=1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    run_dir = results_dir / "runs" / out["run_id"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["n"] == 4 and "acc50" in ev["metrics"]
