"""`pr1bench report` / `repro` through the CLI, the sweep summary, and the plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pr1bench.cli.main import app


def _add_sweep(results: Path) -> None:
    from pr1bench.store import upsert_sweep, upsert_trial

    upsert_sweep("demo", task="counting", objective_metric="acc", direction="maximize")
    for i, (beta, lr, value) in enumerate([(0.0, 1e-5, 0.4), (0.04, 2e-5, 0.6), (0.1, 3e-5, 0.5), (0.01, 4e-5, 0.45),
                                           (0.02, 5e-5, None)]):
        upsert_trial("demo", i, state="COMPLETE" if value is not None else "FAIL", value=value,
                     params={"trainer.beta": beta, "trainer.learning_rate": lr})


def test_report_markdown_csv_and_plots(store: Path, tmp_path: Path) -> None:
    _add_sweep(store)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["report", "--format", "markdown", "--out", str(out), "--paper"])
    assert res.exit_code == 0, res.output
    assert "## Sweeps" in res.output and "| demo | counting | acc (max) | 1 | 0.6000 |" in res.output
    assert "parameter importances" in res.output
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "complexity_gain.png", "complexity_gain.svg", "reward_curves.png",
            "sweep_demo.png", "sweep_demo.svg"} <= names
    res = CliRunner().invoke(app, ["report", "--format", "csv", "--out", str(tmp_path / "csv"), "--no-plots"])
    assert res.exit_code == 0, res.output
    hist = (tmp_path / "csv" / "sweep-history-demo.csv").read_text().splitlines()
    assert len(hist) == 6 and hist[2].split(",")[3] == "0.6"
    res = CliRunner().invoke(app, ["report", "--format", "latex", "--tasks", "counting"])
    assert res.exit_code == 0 and r"\begin{tabular}" in res.output


def test_report_errors(store: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["report", "--format", "html"]).exit_code == 2
    assert CliRunner().invoke(app, ["report", "--format", "csv"]).exit_code == 2
    res = CliRunner().invoke(app, ["--results-dir", str(tmp_path / "none"), "report"])
    assert res.exit_code == 1 and "no results yet" in res.output


def test_repro_cli_dry_run_and_missing_reference(store: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["repro", "--sweep", "ablation-matching", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert len(plan) == 4 and plan[0]["tolerances"]["AP"] == 0.05
    res = CliRunner().invoke(app, ["repro", "--reference", str(tmp_path / "ref")])
    assert res.exit_code == 2 and "pr1bench export --parquet" in res.output
    assert CliRunner().invoke(app, ["repro"]).exit_code == 2
    assert CliRunner().invoke(app, ["repro", "nope"]).exit_code == 2


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from typer.testing import CliRunner; from pr1bench.cli.main import app; "
            "r = CliRunner().invoke(app, ['report', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('duckdb', 'matplotlib', 'scipy', 'optuna', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
