"""`pr1bench data`: check a task's real dataset before training on it."""

from __future__ import annotations

import math
from typing import Any

import typer
from rich.table import Table

from pr1bench.cli.common import console, fail, print_json, user_errors

data_app = typer.Typer(help="Check the datasets behind tasks (files, images, counts, complexity).",
                       no_args_is_help=True)


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats (n! past 170) become None; ``log10_mean_n_factorial`` stays finite."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _num(value: float, log10: float | None = None) -> str:
    """Table 9 style: plain up to a million, scientific beyond (from log10 when the float overflowed)."""
    if not math.isfinite(value):
        if log10 is None:
            return "inf"
        exp = math.floor(log10)
        return f"{10 ** (log10 - exp):.2f}e{exp}"
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:.2e}"


def _print_report(out: dict[str, Any]) -> None:
    from pr1bench.data.real.check import COMPLEXITY_COLUMNS

    console.print(f"[bold]{out['task']}[/] ({out['type']}, source {out['source']})", highlight=False)
    console.print(f"  annotations: {out['annotation_coords']}", highlight=False)
    console.print(f"  answers:     {out['answer']['format']} in {out['answer']['coords']} of the resized image",
                  highlight=False)
    if "resize" in out:
        r = out["resize"]
        console.print(f"  resize:      {r['rule']}, {r['min_pixels']}..{r['max_pixels']} pixels", highlight=False)
    for split, s in out["splits"].items():
        sizes = s["resized_size"] or {}
        console.print(f"  {split:5s} ({s['dataset_split']}, split by {s['split_by']}): {s['records']} records, "
                      f"{s['available']} available, {s['selected']} selected, {s['loaded']} loaded, "
                      f"[{'red' if s['bad'] else 'green'}]{s['bad']} bad[/]; resized {sizes.get('min')}..{sizes.get('max')}",
                      highlight=False)
        for f in s["files"]:
            console.print(f"        {f}", highlight=False, markup=False)
        for b in s["bad_samples"][:5]:
            console.print(f"        bad {b['key']}: {b['reason']}", highlight=False, markup=False)
    table = Table(title="Perceptual complexity (paper Table 9)")
    table.add_column("task")
    table.add_column("split")
    for _, header in COMPLEXITY_COLUMNS:
        table.add_column(header, justify="right")
    for split, s in out["splits"].items():
        c = s["complexity"]
        cells = [_num(c["mean_n_factorial"], c.get("log10_mean_n_factorial")) if k == "mean_n_factorial"
                 else f"{int(c[k])}" if k == "n_samples" else _num(c[k]) for k, _ in COMPLEXITY_COLUMNS]
        table.add_row(out["task"], split, *cells)
    console.print(table)


def check(
    task: str = typer.Argument(..., help="Task name (tasks/NAME.yaml) or path to a task YAML."),
    on_bad_sample: str = typer.Option("skip", "--on-bad-sample",
                                      help="skip: list and count bad samples (exit 1 if any); fail: stop at the first."),
    split: str = typer.Option("both", "--split", help="train | eval | both"),
    limit: int = typer.Option(None, "--limit", min=1, help="Check at most N samples per split (default: data.train/eval)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a task's data files and images; print counts, coordinate conventions and complexity.

    Loads each split exactly as training and evaluation will (same subset, same resize). Exit code
    0: all good; 1: some samples are bad (skipped); 2: missing files or a bad sample under fail.

    Example: pr1bench data check refcoco --limit 200
    """
    from pr1bench.data.real.check import check_task
    from pr1bench.spec import load_task, resolve_task_path

    if on_bad_sample not in ("skip", "fail"):
        fail(f"--on-bad-sample must be skip or fail, got {on_bad_sample!r}")
    if split not in ("train", "eval", "both"):
        fail(f"--split must be train, eval or both, got {split!r}")
    with user_errors():
        spec = load_task(task)
        out = check_task(spec, task_file=str(resolve_task_path(task)), on_bad_sample=on_bad_sample,
                         splits=("train", "eval") if split == "both" else (split,), limit=limit)
    if json_out:
        print_json(_finite(out))
    else:
        _print_report(out)
    if not out["ok"]:
        raise typer.Exit(1)


data_app.command("check")(check)


def mount(app: typer.Typer) -> None:
    """Add the ``data`` group to the main CLI (called by ``pr1bench.cli.main``)."""
    app.add_typer(data_app, name="data")
