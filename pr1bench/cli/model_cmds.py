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
    """Show a model's identity, architecture, size, pixel limits and visual tokens per image.

    The identity is the name results record for the model (e.g. embedded-v2:<sha256 prefix>), never its path.

    Example: pr1bench model info embedded
    """
    from pr1bench.models.loading import model_info

    try:
        data = model_info(path)
    except (FileNotFoundError, OSError, ValueError) as e:
        fail(str(e))
    if json_out:
        print_json(data)
        return
    for k, v in data.items():
        console.print(f"[bold]{k}[/]: {v}", highlight=False)
