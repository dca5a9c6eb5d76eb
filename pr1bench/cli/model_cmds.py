"""`pr1bench model`: build the offline tiny Qwen2-VL (the embedded default), inspect models."""

from __future__ import annotations

from pathlib import Path

import typer

from pr1bench.cli.common import console, fail, print_json

app = typer.Typer(help="Build, bootstrap and inspect models (the embedded tiny Qwen2-VL).", no_args_is_help=True)


@app.command("build-tiny")
def build_tiny(
    out: Path = typer.Option(None, "--out", help="Output dir (default: <results>/models/tiny-qwen2vl)."),
    seed: int = typer.Option(0, help="Seed for the tokenizer corpus and the weights."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild even if the directory exists."),
) -> None:
    """Build the offline tiny Qwen2-VL-architecture model (random init, local tokenizer).

    Example: pr1bench model build-tiny --seed 0
    """
    from pr1bench.embedded import tiny_path as default_tiny_path
    from pr1bench.models.tiny import build_tiny as _build

    target = out or default_tiny_path()
    with console.status(f"building tiny Qwen2-VL into {target} ..."):
        path = _build(target, seed=seed, overwrite=overwrite)
    console.print(f"[green]built[/] {path}")


@app.command("info")
def info(path: str = typer.Argument(..., help="Model directory, or `embedded`/`tiny` (the shipped default)."),
         json_out: bool = typer.Option(False, "--json")) -> None:
    """Show a model's name, identity, parameters, per-task evaluation and recipe digest (--json: everything).

    The identity is the name results record for the model (e.g. embedded-v3:<sha256 prefix>), never its path.
    --json prints the full dict, the manifest (recipe, samples drawn, sha256 of the random init) included.

    Example: pr1bench model info embedded

    Example: pr1bench model info embedded --json | jq .manifest.pretrain.recipe
    """
    from rich.table import Table

    from pr1bench.models.loading import model_info
    from pr1bench.models.summary import eval_rows, summary_rows

    try:
        data = model_info(path)
    except (FileNotFoundError, OSError, ValueError) as e:
        fail(str(e))
    if json_out:
        print_json(data)
        return
    for label, value in summary_rows(data):
        console.print(f"[bold]{label:>16}[/]  {value}", highlight=False, soft_wrap=True)
    rows = eval_rows(data)
    if rows:
        table = Table(title="recorded evaluation (greedy, eval splits)")
        for col in ("task", "metric", "value", "parse rate", "n"):
            table.add_column(col, justify="left" if col in ("task", "metric") else "right")
        for r in rows:
            table.add_row(*r)
        console.print(table)
    console.print("full manifest: pr1bench model info PATH --json", style="dim")
