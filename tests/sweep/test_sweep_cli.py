"""`pr1bench sweep NAME` (default run), ls, status and best through the CLI, with the fake training child."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


def test_sweep_run_status_best_ls(results_dir, fake_sweep, fake_launch):
    fake_sweep(n=2)
    r = runner.invoke(app, ["sweep", "fake", "--jobs", "2", "--json", "eval.n=2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{") :])
    assert out["finished"] == 2 and out["best"]["value"] == max(t["value"] for t in out["trials"])
    assert out["best_command"].startswith("pr1bench train counting --variant grpo")

    r = runner.invoke(app, ["sweep", "status", "fake", "--json"])
    assert r.exit_code == 0 and [t["state"] for t in json.loads(r.stdout)] == ["COMPLETE", "COMPLETE"]
    r = runner.invoke(app, ["sweep", "best", "fake", "--json"])
    best = json.loads(r.stdout)
    assert best["value"] == out["best"]["value"] and " beta=" in best["command"]
    r = runner.invoke(app, ["sweep", "ls", "--json"])
    rows = {x["sweep"]: x for x in json.loads(r.stdout)}
    assert rows["fake"]["finished"] == 2 and rows["fake"]["ok"]
    r = runner.invoke(app, ["sweep", "fake"])  # the study exists: --resume is required
    assert r.exit_code == 2 and "--resume" in r.output


def test_unknown_sweep_did_you_mean(sweeps_dir, fake_sweep):
    fake_sweep(name="detect")
    r = runner.invoke(app, ["sweep", "detetc"])
    assert r.exit_code == 2 and "Did you mean 'detect'" in r.output


def test_help_does_not_import_heavy_modules():
    import subprocess

    code = (
        "import sys; from typer.testing import CliRunner; from pr1bench.cli.main import app; "
        "CliRunner().invoke(app, ['sweep', '--help']); "
        "print([m for m in ('torch', 'optuna', 'duckdb', 'trl') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
