"""`pr1bench sweep` commands that need no training: validate, ls, status/best of a missing study, did-you-mean.

The run/status/best/ls round trip over real trainings is in test_real_trials.py (slow).
"""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from pr1bench.cli.main import app
from tests.sweep.conftest import write_sweep

runner = CliRunner()
BODY = (
    "base: {task: counting, variant: grpo, trainer: {per_device_train_batch_size: 4, num_generations: 2}}\n"
    "objective: {metric: acc}\n"
    "search_space: {beta: {type: float, low: 0.0, high: 0.1}}\n"
)


def test_unknown_sweep_did_you_mean(sweeps_dir):
    write_sweep(sweeps_dir, "detect", BODY)
    r = runner.invoke(app, ["sweep", "detetc"])
    assert r.exit_code == 2 and "Did you mean 'detect'" in r.output


def test_validate_ok_file(sweeps_dir):
    path = write_sweep(sweeps_dir, "ok", BODY)
    r = runner.invoke(app, ["sweep", "validate", str(path)])
    assert r.exit_code == 0, r.output


def test_ls_status_best_without_a_study(results_dir, sweeps_dir):
    write_sweep(sweeps_dir, "ok", BODY)
    r = runner.invoke(app, ["sweep", "ls", "--json"])
    assert r.exit_code == 0, r.output
    assert all(row.get("finished", 0) == 0 for row in json.loads(r.stdout))
    for cmd in ("status", "best"):
        r = runner.invoke(app, ["sweep", cmd, "ok", "--json"])
        assert r.exit_code == 2 and "pr1bench sweep ok" in r.output, r.output


def test_help_does_not_import_heavy_modules():
    import subprocess

    code = (
        "import sys; from typer.testing import CliRunner; from pr1bench.cli.main import app; "
        "CliRunner().invoke(app, ['sweep', '--help']); "
        "print([m for m in ('torch', 'optuna', 'duckdb', 'trl') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
