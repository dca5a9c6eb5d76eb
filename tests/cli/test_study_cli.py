"""`pr1bench study` commands that need no training: validate, dry run, and clear errors without runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


def test_validate_and_dry_run_list_the_grid(results_dir):
    r = runner.invoke(app, ["study", "validate", "embedded"])
    # 4 tasks x (base + 4 trained variants x 3 seeds) + the matching ablation (GRPO, 2 tasks x 3 seeds)
    assert r.exit_code == 0 and "58 runs" in r.output
    r = runner.invoke(app, ["study", "run", "embedded", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == 58 and not (results_dir / "runs").exists()  # nothing ran
    sg = next(x for x in rows if x["key"] == "main/counting/sft-grpo/s0")
    assert sg["needs"] is None and sg["hparams"]["grpo"]["source"] == "pinned"  # budget: both phases in one run
    r = runner.invoke(app, ["study", "run", "embedded", "--quick", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == 16 and {x["key"].split("/")[2] for x in rows} == {"base", "sft", "grpo", "cot-grpo"}


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


def test_report_meta_counts_each_key_once_when_a_run_was_re_run(results_dir):
    """A re-run replaces the run it supersedes in the report's run count and compute table, as in the findings."""
    import json

    from pr1bench.cli.study_cmds import _meta
    from pr1bench.store.connection import write_connection
    from pr1bench.study.spec import load_study

    study, _ = load_study("embedded", quick=False)
    rows = [("old", "2026-01-01 00:00:00", "2026-01-01 00:01:00", 40), ("new", "2026-01-02 00:00:00",
                                                                         "2026-01-02 00:02:00", 50)]
    with write_connection() as con:
        for rid, start, end, steps in rows:
            cfg = {"run": {"study": {"name": "embedded", "quick": False, "arm": "main", "key": "main/detection/grpo/s0",
                                     "hparams": {"grpo": {"source": rid}}}}}
            con.execute("INSERT INTO runs (run_id, task, variant, seed, config, started_at, ended_at, status, ingested_at) "
                        "VALUES (?, 'detection', 'grpo', 0, ?, ?, ?, 'completed', now())", [rid, json.dumps(cfg), start, end])
            con.execute("INSERT INTO train_metrics (run_id, step, name, value) VALUES (?, ?, 'train_runtime', 10.0)",
                        [rid, steps])
    meta = _meta(study, False)
    assert meta["runs"] == 1 and meta["run_seconds"] == 120.0
    assert meta["hparams"]["detection"]["grpo"] == {"source": "new"}
    assert meta["compute"]["detection"]["grpo"]["steps"] == 50
