"""The `pr1bench` command. Sub-commands live in sibling modules; heavy imports stay inside command bodies.

`pr1bench --help` must not import torch (tests/cli/test_main.py proves it).
"""

from __future__ import annotations

from pathlib import Path

import typer

from pr1bench import __version__
from pr1bench.cli import (
    data_cmds,
    model_cmds,
    report_cmds,
    score_cmds,
    store_cmds,
    study_cmds,
    sweep_cmds,
    tasks_cmds,
    train_cmds,
)

app = typer.Typer(
    name="pr1bench",
    help=(
        "Benchmark and ablate RL (GRPO) against SFT and chain-of-thought on perception tasks in multimodal LLMs.\n\n"
        "Examples:\n\n"
        "  pr1bench tasks ls\n\n"
        "  pr1bench train counting --variant grpo max_steps=50\n\n"
        "  pr1bench sweep detection --trials 6 --jobs 2\n\n"
        "  pr1bench report --format markdown"
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pr1bench {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    results_dir: Path = typer.Option(
        None, "--results-dir", envvar="PR1BENCH_RESULTS",
        help="Where the database, models, runs and Optuna journals live (default ./results).",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Global options."""
    from pr1bench.paths import set_results_dir

    set_results_dir(results_dir)


app.add_typer(tasks_cmds.app, name="tasks")
app.add_typer(model_cmds.app, name="model")


for _module in (store_cmds, score_cmds, train_cmds, sweep_cmds, report_cmds, data_cmds, study_cmds):
    _module.mount(app)  # each command module adds its commands; all keep heavy imports inside command bodies


def main() -> None:
    app()


if __name__ == "__main__":
    main()
