"""Helpers shared by the CLI commands: consoles, error reporting, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a red error line (no traceback) and exit with ``code``."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's user-facing exceptions into one clear line and a non-zero exit."""
    from pr1bench.registry import UnknownNameError
    from pr1bench.spec import ConfigError

    try:
        yield
    except (ConfigError, UnknownNameError, FileNotFoundError, ValueError) as e:
        fail(str(e))


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")
