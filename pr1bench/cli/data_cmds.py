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

    console.print(f"[bold]{out['task']}[/] ({out['type']}, source {out['source']})", highlight=False, soft_wrap=True)
    console.print(f"  annotations: {out['annotation_coords']}", highlight=False, soft_wrap=True)
    console.print(f"  answers:     {out['answer']['format']} in {out['answer']['coords']} of the resized image",
                  highlight=False, soft_wrap=True)
    fam = out.get("model_family")
    if fam:
        console.print(f"  model:       family {fam['family'] or 'unknown'} ({fam['detected_from']}); answer format "
                      f"by {fam['answer_format_by']}, coords by {fam['coords_by']}", highlight=False, markup=False, soft_wrap=True)
        for w in fam["warnings"]:
            console.print(f"  [yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if "resize" in out:
        r = out["resize"]
        console.print(f"  resize:      {r['rule']}, {r['min_pixels']}..{r['max_pixels']} pixels", highlight=False, soft_wrap=True)
    for split, s in out["splits"].items():
        sizes = s["resized_size"] or {}
        missing = (f", [yellow]{s['missing_images']} missing images ({s['missing_policy']}ped)[/]"
                   if s["missing_images"] else "")
        console.print(f"  {split:5s} ({s['dataset_split']}, split by {s['split_by']}): {s['records']} records, "
                      f"{s['available']} available, {s['selected']} selected, {s['loaded']} loaded, "
                      f"[{'red' if s['bad'] else 'green'}]{s['bad']} bad[/]{missing}; "
                      f"resized {sizes.get('min')}..{sizes.get('max')}", highlight=False, soft_wrap=True)
        for f in s["files"]:
            console.print(f"        {f}", highlight=False, markup=False, soft_wrap=True)
        for b in s["bad_samples"][:5]:
            console.print(f"        bad: {b['message']}", highlight=False, markup=False, soft_wrap=True)
        for b in s["missing_samples"][:5]:
            console.print(f"        missing: {b['reason']}", highlight=False, markup=False, soft_wrap=True)
        if s["missing_images"] > 5:
            console.print(f"        ... and {s['missing_images'] - 5} more missing (--json lists 20)",
                          highlight=False, markup=False, soft_wrap=True)
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
    overrides: list[str] = typer.Argument(None, help="key=value overrides, as for train (data.images=DIR, "
                                                     "data.annotations=FILE, data.eval=100, ...)."),
    model: str = typer.Option(None, "--model", help="Model dir or hub id whose family picks answer format, "
                                                    "coordinates and pixel limits (default: the embedded model)."),
    on_bad_sample: str = typer.Option("skip", "--on-bad-sample",
                                      help="skip: list and count bad samples (exit 1 if any); fail: stop at the first."),
    split: str = typer.Option("both", "--split", help="train | eval | both"),
    limit: int = typer.Option(None, "--limit", min=1, help="Check at most N samples per split (default: data.train/eval)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a task's data files and images; print counts, coordinate conventions and complexity.

    Loads each split exactly as training and evaluation will (same overrides, same model family, same subset,
    same resize) and decodes every image once. Exit code 0: all good (missing images under
    data.missing_images=skip are counted and listed, not an error); 1: some samples are bad (skipped);
    2: missing files, every image missing, or a bad sample under fail.

    Example: pr1bench data check refcoco --limit 200

    Example: pr1bench data check pixmo-count data.annotations=~/pixmo/validation.parquet data.images=~/pixmo/images

    Example: pr1bench data check refcoco --model Qwen/Qwen2.5-VL-3B-Instruct data.missing_images=fail
    """
    from pr1bench.data.real.check import check_task
    from pr1bench.spec import resolve_task_path

    if on_bad_sample not in ("skip", "fail"):
        fail(f"--on-bad-sample must be skip or fail, got {on_bad_sample!r}")
    if split not in ("train", "eval", "both"):
        fail(f"--split must be train, eval or both, got {split!r}")
    with user_errors():
        spec, family = task_for_data(task, overrides or [], model)
        out = check_task(spec, task_file=str(resolve_task_path(task)), on_bad_sample=on_bad_sample,
                         splits=("train", "eval") if split == "both" else (split,), limit=limit, family=family)
    if json_out:
        print_json(_finite(out))
    else:
        _print_report(out)
    if not out["ok"]:
        raise typer.Exit(1)


def task_for_data(task: str, overrides: list[str], model: str | None) -> tuple[Any, dict[str, Any]]:
    """The task as a run would read its data: ``train``'s ``key=value`` overrides applied, then the model family.

    Every data-reading command goes through this, so ``data.images=...`` means the same everywhere.
    """
    from pr1bench.embedded import resolve_model
    from pr1bench.models.family import resolve
    from pr1bench.runner import build_spec
    from pr1bench.runspec import effective_task
    from pr1bench.spec import check_task_names

    run, spec = build_spec(task, "base", overrides, check_trl=False)
    eff = effective_task(run, spec)
    check_task_names(eff, "<key=value overrides>" if overrides else task)
    try:
        model_path = resolve_model(model)
    except FileNotFoundError as e:
        fail(str(e))
    return resolve(eff, model_path)


data_app.command("check")(check)


def mount(app: typer.Typer) -> None:
    """Add the ``data`` group to the main CLI (called by ``pr1bench.cli.main``)."""
    app.add_typer(data_app, name="data")
