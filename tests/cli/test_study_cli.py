"""`pr1bench study` commands that need no training: validate, dry run, and clear errors without runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


def test_validate_and_dry_run_list_the_grid(results_dir):
    r = runner.invoke(app, ["study", "validate", "embedded"])
    assert r.exit_code == 0 and "70 runs" in r.output
    r = runner.invoke(app, ["study", "run", "embedded", "--quick", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == 26 and not (results_dir / "runs").exists()  # nothing ran
    sg = next(x for x in rows if x["key"] == "main/counting/sft-grpo/s0")
    assert sg["needs"] == "main/counting/sft/s0" and sg["hparams"]["grpo"]["source"] == "pinned"


def test_report_without_runs_says_what_to_run(results_dir):
    r = runner.invoke(app, ["study", "report", "embedded"])
    assert r.exit_code != 0
    assert "pr1bench study run embedded" in r.output


def test_check_needs_an_existing_reference(results_dir, tmp_path):
    r = runner.invoke(app, ["study", "check", "embedded", "--reference", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_unknown_study_is_a_clear_error(results_dir):
    r = runner.invoke(app, ["study", "validate", "embeded"])
    assert r.exit_code == 2 and "Did you mean 'embedded'" in r.output
