"""Store test fixtures: a temporary results dir with a factory of contract-following run directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from store_factory import make_run_dir


@pytest.fixture
def runs_root(results_dir: Path) -> Path:
    """``<results>/runs``, where the trainer would write run directories."""
    path = results_dir / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_run(runs_root: Path) -> Callable[..., Path]:
    """``make_run(run_id, **kwargs)``: a contract-following run directory under the temporary results dir."""

    def factory(run_id: str = "run-a", **kwargs: object) -> Path:
        return make_run_dir(runs_root, run_id, **kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def db(results_dir: Path) -> Path:
    """The database path inside the temporary results dir."""
    from pr1bench.paths import db_path

    return db_path()
