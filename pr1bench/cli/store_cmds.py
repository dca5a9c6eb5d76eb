"""CLI over the results store: `sql`, `runs ls|show|rm`, `ingest`, `export`.

Thin bodies: parse options, call one ``pr1bench.store`` function, render. duckdb/pandas are imported inside
the commands so that ``pr1bench --help`` stays fast. The lead mounts these with :func:`mount`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pr1bench.cli.common import console, err_console, fail

if TYPE_CHECKING:
    import pandas as pd


class OutputFormat(StrEnum):
    """How `pr1bench sql` prints a result."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


runs_app = typer.Typer(
    help="List, inspect and delete ingested runs.\n\nExample:\n\n  pr1bench runs ls --task detection --variant grpo",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Store problems (no database yet, lock timeout, read-only SQL, bad run dir) become one red line."""
    import duckdb

    from pr1bench.store import IngestError, StoreError

    try:
        yield
    except (StoreError, IngestError) as e:
        fail(str(e), code=1)
    except duckdb.Error as e:
        fail(f"SQL error: {e}", code=1)


# ---------------------------------------------------------------- rendering


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: NaN becomes null, timestamps ISO 8601."""
    return json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _markdown(df: pd.DataFrame) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    lines = [row([str(c) for c in df.columns]), row(["---"] * len(df.columns))]
    lines += [row([_cell(v) for v in r]) for r in df.itertuples(index=False)]
    return "\n".join(lines)


def _rich_table(df: pd.DataFrame, title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        numeric = df[col].dtype.kind in "iuf"
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold")
    for r in df.itertuples(index=False):
        table.add_row(*[_cell(v) for v in r])
    console.print(table)


def render(df: pd.DataFrame, fmt: OutputFormat, title: str | None = None) -> None:
    """Print a DataFrame as a rich table, CSV, JSON records or a Markdown table."""
    if fmt is OutputFormat.csv:
        df.to_csv(sys.stdout, index=False)
    elif fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(_records(df), indent=2) + "\n")
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(_markdown(df) + "\n")
    elif df.empty and not len(df.columns):
        console.print("OK (no result set)")
    else:
        _rich_table(df, title)


# ---------------------------------------------------------------- sql


def sql_command(
    query: str = typer.Argument(..., help="SQL to run (several statements: the last one's result is shown)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
) -> None:
    """Query the results database (read-only).

    Tables: runs, train_metrics, evals, eval_metrics, samples, sample_rewards, sweeps, trials, task_stats;
    views: final_metrics, best_trials, rl_gain.

    Example:

      pr1bench sql "SELECT task, variant, avg(value) FROM final_metrics WHERE metric = 'accuracy' GROUP BY ALL" --format markdown
    """
    from pr1bench.store import query as run_query

    with _store_errors():
        df = run_query(query)
    render(df, fmt)


# ---------------------------------------------------------------- runs


@runs_app.command("ls")
def runs_ls(
    task: str | None = typer.Option(None, "--task", help="Only this task."),
    variant: str | None = typer.Option(None, "--variant", help="Only this variant (base, sft, grpo, ...)."),
    sweep: str | None = typer.Option(None, "--sweep", help="Only trials of this sweep."),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
) -> None:
    """List ingested runs, newest first.

    Example:

      pr1bench runs ls --task detection --status completed --json
    """
    from pr1bench.store import list_runs

    with _store_errors():
        df = list_runs(task=task, variant=variant, sweep=sweep, status=status)
    if as_json:
        render(df, OutputFormat.json)
    elif df.empty:
        console.print("no runs match")
    else:
        render(df, OutputFormat.table, title=f"{len(df)} runs")


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="The run to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show one run's provenance, final metrics and a training summary.

    Example:

      pr1bench runs show detection-grpo-s0-20261124T1000
    """
    from pr1bench.store import get_run

    with _store_errors():
        found = get_run(run_id)
    if found is None:
        fail(f"no run {run_id!r} in the database (see `pr1bench runs ls`)", code=1)
    layout = run_layout(found["run"])
    if as_json:
        out = {"run": found["run"], "distributed": layout, "final_metrics": _records(found["final_metrics"]),
               "train_summary": _records(found["train_summary"])}  # fmt: skip
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    _show_provenance(found["run"])
    if not found["final_metrics"].empty:
        render(found["final_metrics"], OutputFormat.table, title="final metrics (bucket all)")
    if not found["train_summary"].empty:
        render(found["train_summary"], OutputFormat.table, title="training log")


def run_layout(run: dict[str, Any]) -> dict[str, Any]:
    """The process layout a run trained with (run.json ``distributed``, kept in the runs row's ``extra``).

    Runs recorded before pr1bench wrote it have none: they ran one process unless their launch config said more.
    """
    extra = run.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = None
    d = (extra or {}).get("distributed") if isinstance(extra, dict) else None
    if not isinstance(d, dict):
        return {"world_size": None, "num_machines": None, "distributed_type": None, "backend": None,
                "recorded": False}
    keys = ("world_size", "num_machines", "processes_per_machine", "distributed_type", "backend", "device")
    return {**{k: d.get(k) for k in keys}, "recorded": not d.get("planned", False)}


def _show_provenance(run: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"run {run['run_id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    lay = run_layout(run)
    if lay["world_size"] is not None:
        table.add_row("world size", f"{lay['world_size']} ({lay['num_machines']} machine(s) x "
                      f"{lay.get('processes_per_machine')} process(es))" + ("" if lay["recorded"] else ", as launched"))
        table.add_row("distributed", f"{lay['distributed_type']}, backend {lay['backend'] or 'none'}")
    for key, value in run.items():
        if key == "config":
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, dict | list):
            value = json.dumps(value)
        table.add_row(key, _cell(value))
    console.print(table)


@runs_app.command("rm")
def runs_rm(
    run_id: str = typer.Argument(..., help="The run to delete."),
    files: bool = typer.Option(
        False, "--files", help="Also delete its run directory (checkpoints included)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a run's rows from the database (one transaction); --files also removes its directory.

    Example:

      pr1bench runs rm detection-grpo-s0-20261124T1000 --files --yes
    """
    from pr1bench.store import delete_run

    what = "its rows and its run directory" if files else "its rows (the run directory stays)"
    if not yes and not typer.confirm(f"Delete run {run_id}: {what}?", default=False):
        raise typer.Exit(1)
    with _store_errors():
        counts = delete_run(run_id, files=files)
    if not any(counts.values()) and not files:
        fail(f"no run {run_id!r} in the database (see `pr1bench runs ls`)", code=1)
    total = sum(counts.values())
    console.print(f"deleted run {run_id}: {total} rows" + (" and its directory" if files else ""))


# ---------------------------------------------------------------- ingest / export


def ingest_command(
    paths: list[Path] = typer.Argument(..., help="Run directories, or folders containing run directories."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON result per run."),
) -> None:
    """Load run directories into the results database (re-ingesting a run replaces it).

    Example:

      pr1bench ingest results/runs            # every run under it

      pr1bench ingest results/runs/detection-grpo-s0-20261124T1000
    """
    from pr1bench.store import find_run_dirs, ingest_many

    with _store_errors():
        n = len(find_run_dirs(paths))
        results = _ingest_with_progress(ingest_many, paths, n, quiet=as_json)
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    else:
        _print_ingest_summary(results)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _ingest_with_progress(ingest_many: Any, paths: list[Path], n: int, *, quiet: bool) -> list[Any]:
    from rich.progress import Progress

    if quiet or n < 2:
        return ingest_many(paths)
    with Progress(console=err_console, transient=True) as progress:
        bar = progress.add_task("ingesting runs", total=n)
        return ingest_many(paths, on_result=lambda _r: progress.advance(bar))


def _print_ingest_summary(results: list[Any]) -> None:
    for r in results:
        if not r.ok:
            err_console.print(f"[bold red]failed[/] {r.run_dir}: {r.error}", highlight=False)
            continue
        rows = ", ".join(f"{v} {k}" for k, v in r.rows.items() if k != "runs" and v)
        console.print(f"[green]ingested[/] {r.run_id} ({r.status}): {rows or 'no rows'} in {r.seconds:.2f} s",
                      highlight=False)  # fmt: skip
        for w in r.warnings:
            console.print(f"  [yellow]warning:[/] {w}", highlight=False)
    ok = sum(r.ok for r in results)
    console.print(f"{ok} of {len(results)} runs ingested")


def export_command(
    parquet: Path = typer.Option(..., "--parquet", help="Folder to write <table>.parquet files into."),
    views: bool = typer.Option(
        False, "--views", help="Also export the views (final_metrics, best_trials, rl_gain)."
    ),
) -> None:
    """Export every table of the results database as Parquet (for pandas, polars, Spark, ...).

    Example:

      pr1bench export --parquet exports/2026-11-24
    """
    from pr1bench.store import export_parquet

    with _store_errors():
        written = export_parquet(parquet, views=views)
    console.print(f"wrote {len(written)} Parquet files to {parquet}")


def mount(app: typer.Typer) -> None:
    """Attach the store commands to the main app (called by ``pr1bench.cli.main``)."""
    app.command("sql")(sql_command)
    app.add_typer(runs_app, name="runs")
    app.command("ingest")(ingest_command)
    app.command("export")(export_command)
