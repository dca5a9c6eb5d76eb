"""Where results live: one root decides the database, models, runs and Optuna journals.

The root comes from the global ``--results-dir`` option, else ``$PR1BENCH_RESULTS``, else ``./results``.
Every command resolves paths through here so that a test (or a user) can point the whole tool at a
temporary directory with one setting.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PR1BENCH_RESULTS"
_override: Path | None = None


def set_results_dir(path: str | os.PathLike[str] | None) -> None:
    """Set (or clear with ``None``) the results root for this process."""
    global _override
    _override = Path(path).expanduser().resolve() if path is not None else None


def results_dir() -> Path:
    """The results root (not created here: readers must not create directories)."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser().resolve() if env else (Path.cwd() / "results").resolve()


def db_path() -> Path:
    return results_dir() / "pr1bench.duckdb"


def runs_dir() -> Path:
    return results_dir() / "runs"


def models_dir() -> Path:
    return results_dir() / "models"


def optuna_dir() -> Path:
    return results_dir() / "optuna"


def project_root() -> Path:
    """The source checkout (where ``tasks/`` and ``sweeps/`` ship)."""
    return Path(__file__).resolve().parent.parent
