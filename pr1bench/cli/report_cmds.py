"""`pr1bench report` (tables and plots from DuckDB) and `pr1bench repro` (re-run stored configs, check drift)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pr1bench.cli.common import console, err_console, fail, print_json

REPORT_HELP = """Paper-style tables from the results database (never re-trains).

Sections: per task a main table (base | SFT | GRPO | CoT-GRPO | SFT-then-GRPO, mean [95% bootstrap CI] over seeds),
perceptual complexity vs gain per bucket with Spearman's rho, ablations found in the stored configs (matching,
CoT, detection reward terms, rollouts, KL beta, target order), and sweep summaries. Missing data is explained
with the command that would produce it.

  pr1bench report

  pr1bench report --format markdown --out report/ --paper

  pr1bench report --tasks counting detection --format latex --out paper/

  pr1bench report --sweep detection --format csv --out csv/
"""

REPRO_HELP = """Re-run stored runs with their configs and seeds; compare metrics with the stored ones.

Prints a pass/fail table per run and exits 1 when any metric drifts beyond its absolute tolerance (default 0.05,
reward_sampled 0.15; see pr1bench/report/repro.py). Warns when package versions or the task version differ.

  pr1bench repro counting-grpo-s0-20261125-101500-ab12cd

  pr1bench repro --sweep ablation-kl --tolerance acc=0.02

  pr1bench repro --reference results/reference          (run dirs or a `pr1bench export --parquet` folder)
"""


def _report_errors() -> Any:
    from contextlib import contextmanager

    @contextmanager
    def guard() -> Any:
        from pr1bench.store import StoreError

        try:
            yield
        except StoreError as e:
            fail(str(e), code=1)

    return guard()


def report(
    tasks: list[str] = typer.Option(None, "--tasks", "-t", help="Only these tasks (repeat the option)."),
    sweep: str = typer.Option(None, "--sweep", help="Only this sweep in the sweep summary."),
    fmt: str = typer.Option("rich", "--format", "-f", help="rich | markdown | latex | csv"),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for report.md/.tex, CSVs and plots (PNG+SVG)."),
    paper: bool = typer.Option(False, "--paper", help="Add Perception-R1's published numbers beside ours."),
    metric: str = typer.Option(None, "--metric", "-m", help="Metric for every task (default: each task's primary)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the plots when --out is given."),
) -> None:
    from pr1bench.report import build
    from pr1bench.report.render import FORMATS

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "csv" and out is None:
        fail("--format csv writes one file per table: give --out DIR")
    with _report_errors():
        sections, data = build(tasks=tasks or None, metric=metric, sweep=sweep, with_paper=paper)
    _emit(sections, fmt, out)
    if out is not None and not no_plots:
        from pr1bench.report.plots import write_all

        files = write_all(data, sections, out)
        err_console.print(f"wrote {len(files)} plot files to {out}" if files else "no data to plot", highlight=False)


def _emit(sections: list[Any], fmt: str, out: Path | None) -> None:
    from pr1bench.report import render

    if fmt == "csv":
        files = render.write_csv(sections, out)  # type: ignore[arg-type]
        err_console.print(f"wrote {len(files)} CSV files to {out}", highlight=False)
        return
    if fmt == "rich":
        for r in render.rich_renderables(sections):
            console.print(r)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.md").write_text(render.markdown(sections))
        return
    text = render.markdown(sections) if fmt == "markdown" else render.latex(sections)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / ("report.md" if fmt == "markdown" else "report.tex")
        path.write_text(text)
        err_console.print(f"wrote {path}", highlight=False)
    typer.echo(text, nl=False)


# ---------------------------------------------------------------- repro


def repro(
    run_id: str = typer.Argument(None, help="A stored run to re-run (see `pr1bench runs ls`)."),
    sweep: str = typer.Option(None, "--sweep", help="Re-run every completed run of this sweep."),
    reference: Path = typer.Option(None, "--reference", help="Folder of reference run dirs or a Parquet export."),
    tolerance: list[str] = typer.Option(None, "--tolerance", help="METRIC=ABS, repeatable; '*=ABS' for all."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be re-run; train nothing."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    from pr1bench.report import repro as R

    if sum(x is not None for x in (run_id, sweep, reference)) != 1:
        fail("give exactly one of RUN_ID, --sweep S or --reference DIR")
    try:
        overrides = R.parse_tolerances(tolerance)
        refs = _references(R, run_id, sweep, reference)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    if dry_run:
        _print_plan(R, refs, overrides, json_out)
        return
    outcomes = []
    for i, ref in enumerate(refs, 1):
        with console.status(f"[{i}/{len(refs)}] re-running {ref.run_id} ({ref.task} {ref.variant} seed {ref.seed})"):
            outcomes.append(R.reproduce(ref, overrides))
    _print_outcomes(outcomes, json_out)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


def _references(R: Any, run_id: str | None, sweep: str | None, reference: Path | None) -> list[Any]:
    from pr1bench.store import StoreError

    if reference is not None:
        refs = R.from_directory(reference)
    else:
        try:
            refs = R.from_database(run_id=run_id, sweep=sweep)
        except StoreError as e:
            fail(str(e), code=1)
    if not refs:
        what = f"run {run_id!r}" if run_id else f"completed runs of sweep {sweep!r}"
        fail(f"no {what} in the database (see `pr1bench runs ls`)")
    return refs


def _print_plan(R: Any, refs: list[Any], overrides: dict[str, float], json_out: bool) -> None:
    plan = [{"run_id": r.run_id, "task": r.task, "variant": r.variant, "seed": r.seed,
             "tolerances": {m: R.tolerance_for(m, overrides) for m in sorted(r.metrics)}} for r in refs]
    if json_out:
        print_json(plan)
        return
    for p in plan:
        console.print(f"would re-run {p['run_id']} ({p['task']} {p['variant']} seed {p['seed']}), "
                      f"checking {len(p['tolerances'])} metrics", highlight=False)  # fmt: skip


def _print_outcomes(outcomes: list[Any], json_out: bool) -> None:
    if json_out:
        print_json([{"run_id": o.ref.run_id, "new_run": o.new_run, "ok": o.ok, "error": o.error,
                     "warnings": o.warnings, "checks": [c.__dict__ | {"diff": c.diff} for c in o.checks]}
                    for o in outcomes])  # fmt: skip
        return
    from rich.table import Table

    for o in outcomes:
        for w in o.warnings:
            err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
        if o.error:
            err_console.print(f"[red]{o.ref.run_id}: {o.error}[/]", highlight=False)
            continue
        t = Table(title=f"{o.ref.run_id} -> {o.new_run}", title_justify="left")
        for col in ("metric", "stored", "new", "Δ", "tolerance", "status"):
            t.add_column(col, justify="left" if col in ("metric", "status") else "right")
        for c in o.checks:
            style = {"pass": "green", "FAIL": "red", "missing": "red"}.get(c.status, "dim")
            t.add_row(c.metric, _f(c.stored), _f(c.new), _f(c.diff, signed=True), _f(c.tolerance),
                      f"[{style}]{c.status}[/]")
        console.print(t)
    bad = sum(not o.ok for o in outcomes)
    console.print(f"[{'red' if bad else 'green'}]{len(outcomes) - bad}/{len(outcomes)} runs reproduced[/]")


def _f(x: float | None, *, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def mount(app: typer.Typer) -> None:
    """Attach `report` and `repro` to the main app (called by ``pr1bench.cli.main``)."""
    app.command("report", help=REPORT_HELP)(report)
    app.command("repro", help=REPRO_HELP)(repro)
