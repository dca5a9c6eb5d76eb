"""`pr1bench sql | runs | ingest | export` through Typer's CliRunner on a temporary results dir."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from pr1bench.cli.store_cmds import mount
from pr1bench.store import ingest_many

MakeRun = Callable[..., Path]
runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    mount(app)
    return app


@pytest.fixture
def two_runs(make_run: MakeRun) -> list[Path]:
    dirs = [make_run("run-a"), make_run("run-b", variant="sft", seed=1, truncate_last=True)]
    ingest_many(dirs)
    return dirs


def test_sql_formats(app: typer.Typer, two_runs: list[Path]) -> None:
    sql = "SELECT run_id, variant FROM runs ORDER BY run_id"
    table = runner.invoke(app, ["sql", sql])
    assert table.exit_code == 0 and "run-a" in table.stdout and "sft" in table.stdout
    csv = runner.invoke(app, ["sql", sql, "--format", "csv"])
    assert csv.stdout.splitlines() == ["run_id,variant", "run-a,grpo", "run-b,sft"]
    js = runner.invoke(app, ["sql", sql, "-f", "json"])
    assert json.loads(js.stdout) == [
        {"run_id": "run-a", "variant": "grpo"},
        {"run_id": "run-b", "variant": "sft"},
    ]
    md = runner.invoke(app, ["sql", sql, "--format", "markdown"])
    assert md.stdout.splitlines()[:3] == ["| run_id | variant |", "| --- | --- |", "| run-a | grpo |"]
    nan = runner.invoke(
        app, ["sql", "SELECT value FROM final_metrics WHERE metric = 'undefined_metric'", "-f", "json"]
    )
    assert json.loads(nan.stdout) == [{"value": None}, {"value": None}]


def test_sql_refuses_writes(app: typer.Typer, two_runs: list[Path]) -> None:
    res = runner.invoke(app, ["sql", "DELETE FROM runs"])
    assert res.exit_code == 1
    assert "read-only" in res.stderr and "DELETE" in res.stderr and "Traceback" not in res.output
    assert "run-a" in runner.invoke(app, ["sql", "SELECT run_id FROM runs"]).stdout


def test_sql_error_is_one_line(app: typer.Typer, two_runs: list[Path]) -> None:
    res = runner.invoke(app, ["sql", "SELECT * FROM nope"])
    assert res.exit_code == 1 and "SQL error" in res.stderr and "Traceback" not in res.output


def test_missing_database_is_friendly(app: typer.Typer, results_dir: Path) -> None:
    for args in (["sql", "SELECT 1"], ["runs", "ls"], ["runs", "show", "x"], ["export", "--parquet", "out"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, args
        assert "no results yet at" in res.stderr and "pr1bench train" in res.stderr
    assert not results_dir.exists()  # readers never create anything


def test_runs_ls_filters_and_json(app: typer.Typer, two_runs: list[Path]) -> None:
    res = runner.invoke(app, ["runs", "ls", "--variant", "sft", "--json"])
    rows = json.loads(res.stdout)
    assert [r["run_id"] for r in rows] == ["run-b"] and rows[0]["started_at"].startswith(
        "2026-11-24T10:00:00"
    )
    assert "2 runs" in runner.invoke(app, ["runs", "ls", "--task", "detection"]).stdout
    assert "no runs match" in runner.invoke(app, ["runs", "ls", "--status", "failed"]).stdout


def test_runs_show(app: typer.Typer, two_runs: list[Path]) -> None:
    res = runner.invoke(app, ["runs", "show", "run-b"])
    assert res.exit_code == 0 and "config_hash" in res.stdout and "accuracy" in res.stdout
    js = json.loads(runner.invoke(app, ["runs", "show", "run-b", "--json"]).stdout)
    assert js["run"]["seed"] == 1 and {m["metric"] for m in js["final_metrics"]} >= {"accuracy", "coco_ap"}
    assert any("line 21" in n for n in js["run"]["ingest_notes"])
    missing = runner.invoke(app, ["runs", "show", "nope"])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.stderr


def test_runs_rm_asks_then_deletes(app: typer.Typer, two_runs: list[Path]) -> None:
    declined = runner.invoke(app, ["runs", "rm", "run-a"], input="n\n")
    assert declined.exit_code == 1
    assert "run-a" in runner.invoke(app, ["sql", "SELECT run_id FROM runs"]).stdout
    ok = runner.invoke(app, ["runs", "rm", "run-a"], input="y\n")
    assert ok.exit_code == 0 and "deleted run run-a" in ok.stdout
    assert two_runs[0].exists()
    gone = runner.invoke(app, ["runs", "rm", "run-b", "--files", "--yes"])
    assert gone.exit_code == 0 and not two_runs[1].exists()
    assert runner.invoke(app, ["sql", "SELECT count(*) AS c FROM runs", "-f", "csv"]).stdout.split() == [
        "c",
        "0",
    ]
    assert runner.invoke(app, ["runs", "rm", "run-a", "--yes"]).exit_code == 1


def test_ingest_command(app: typer.Typer, make_run: MakeRun, runs_root: Path) -> None:
    make_run("run-a")
    make_run("run-b", truncate_last=True)
    res = runner.invoke(app, ["ingest", str(runs_root)])
    assert res.exit_code == 0, res.output
    assert "2 of 2 runs ingested" in res.stdout and "line 21" in res.stdout
    js = json.loads(runner.invoke(app, ["ingest", str(runs_root / "run-b"), "--json"]).stdout)
    assert js[0]["run_id"] == "run-b" and js[0]["broken_lines"] == [21]
    bad = runner.invoke(app, ["ingest", str(runs_root / "nope")])
    assert bad.exit_code == 1 and "no such file" in bad.stderr


def test_export_parquet(app: typer.Typer, two_runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "export"
    res = runner.invoke(app, ["export", "--parquet", str(out), "--views"])
    assert res.exit_code == 0, res.output
    names = {p.stem for p in out.glob("*.parquet")}
    assert {"runs", "train_metrics", "samples", "sample_rewards", "schema_migrations", "rl_gain"} <= names
    assert pq.read_table(out / "runs.parquet").num_rows == 2


def test_every_command_has_an_example(app: typer.Typer) -> None:
    for args in (["sql"], ["runs", "ls"], ["runs", "show"], ["runs", "rm"], ["ingest"], ["export"]):
        res = runner.invoke(app, [*args, "--help"])
        assert res.exit_code == 0 and "Example" in res.stdout and "pr1bench" in res.stdout, args
