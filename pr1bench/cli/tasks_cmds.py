"""`pr1bench tasks`: list, show and validate task definitions (tasks/*.yaml)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from pr1bench.cli.common import console, err_console, fail, print_json, user_errors

app = typer.Typer(help="List, show and validate task definitions (tasks/*.yaml).", no_args_is_help=True)


@app.command("ls")
def ls(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the shipped tasks.

    Example: pr1bench tasks ls
    """
    from pr1bench.spec import ConfigError, load_task, task_names

    rows = []
    for name in task_names():
        try:
            t = load_task(name)
            rows.append({"task": name, "type": t.type, "version": t.version, "source": t.data.source,
                         "answer": f"{t.answer.format}/{t.answer.coords}", "metric": t.primary_metric,
                         "ok": True, "error": None})
        except ConfigError as e:
            rows.append({"task": name, "ok": False, "error": str(e)})
    if json_out:
        print_json(rows)
        return
    table = Table(title="pr1bench tasks")
    for col in ("task", "type", "version", "source", "answer", "metric"):
        table.add_column(col)
    for r in rows:
        if r["ok"]:
            table.add_row(*(str(r[c]) for c in ("task", "type", "version", "source", "answer", "metric")))
        else:
            table.add_row(r["task"], "[red]invalid[/]", "", "", "", "")
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Task name or path to a task YAML."),
         json_out: bool = typer.Option(False, "--json", help="Print the resolved spec as JSON.")) -> None:
    """Show a task's fully resolved definition (templates included).

    Example: pr1bench tasks show detection
    """
    import yaml

    from pr1bench.spec import load_task

    with user_errors():
        spec = load_task(name)
    data = spec.model_dump(mode="json")
    if json_out:
        print_json(data)
    else:
        console.print(yaml.safe_dump(data, sort_keys=False), highlight=False, markup=False)


@app.command("validate")
def validate(names: list[str] = typer.Argument(None, help="Task names or YAML paths (default: all shipped)."),
             json_out: bool = typer.Option(False, "--json")) -> None:
    """Validate task files: schema, names, reward arguments, generator parameters.

    Exits 1 if any file is invalid. Example: pr1bench tasks validate detection tasks/my-task.yaml
    """
    from pr1bench.spec import ConfigError, load_task, task_names

    targets = names or task_names()
    if not targets:
        fail("no task files found")
    results = []
    for n in targets:
        t0 = time.perf_counter()
        try:
            load_task(n)
            results.append({"task": n, "ok": True, "error": None, "seconds": time.perf_counter() - t0})
        except ConfigError as e:
            results.append({"task": n, "ok": False, "error": str(e), "seconds": time.perf_counter() - t0})
    if json_out:
        print_json(results)
    else:
        for r in results:
            if r["ok"]:
                console.print(f"[green]ok[/]      {r['task']}")
            else:
                err_console.print(f"[red]invalid[/] {r['error']}", soft_wrap=True, highlight=False)
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


