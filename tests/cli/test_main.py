"""CLI skeleton: help without torch, version, tasks commands, global --results-dir."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from pr1bench.cli.main import app

runner = CliRunner()


def test_help_does_not_import_torch():
    code = ("import sys; from pr1bench.cli.main import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'duckdb', 'optuna') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported {out.stdout.strip()}"


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("pr1bench ")


def test_tasks_ls_json_lists_all_valid():
    r = runner.invoke(app, ["tasks", "ls", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {row["task"] for row in rows} >= {"grounding", "counting", "ocr", "detection"}
    assert all(row["ok"] for row in rows)


def test_tasks_show_resolves_templates():
    r = runner.invoke(app, ["tasks", "show", "detection", "--json"])
    assert r.exit_code == 0, r.output
    spec = json.loads(r.output)
    assert spec["data"]["image_size"] == 112  # from tasks/_templates/synthetic.yaml
    assert spec["answer"] == {"format": "json_boxes", "coords": "absolute_pixels"}


def test_tasks_validate_bad_file_exits_1(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("task: broken\nversion: 1\ntype: detection\nfoo: 1\n")
    r = runner.invoke(app, ["tasks", "validate", "counting", str(bad)])
    assert r.exit_code == 1
    assert "broken.yaml" in r.output and "foo" in r.output


def test_tasks_show_unknown_task_suggests():
    r = runner.invoke(app, ["tasks", "show", "detecton"])
    assert r.exit_code == 2 and "detection" in r.output


def test_results_dir_option_sets_root(tmp_path):
    from pr1bench import paths

    r = runner.invoke(app, ["--results-dir", str(tmp_path / "res"), "tasks", "ls", "--json"])
    assert r.exit_code == 0
    assert paths.results_dir() == (tmp_path / "res").resolve()
    paths.set_results_dir(None)
