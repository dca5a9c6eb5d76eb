"""One trial: a RunSpec through :func:`pr1bench.runner.execute`, intermediate values to the pruner, the objective.

Runs in a worker thread; it never touches DuckDB (the driver thread does) and never raises: every way a trial can
end becomes an :class:`Outcome` with Optuna's state name and, for FAIL, the reason. A NaN or missing objective or
intermediate value is a FAIL, never a COMPLETE: Optuna would accept ``trial.report(nan)`` silently and a NaN
objective would poison the sampler's model of the space.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from pr1bench.runspec import RunSpec
    from pr1bench.spec import TaskSpec

Event = Callable[[str, int, Any], None]


class NonFiniteError(RuntimeError):
    """An intermediate evaluation value was NaN/inf/missing: the trial must fail."""


@dataclass
class Outcome:
    state: str  # COMPLETE | PRUNED | FAIL (Optuna's names)
    value: float | None = None
    run_dir: Path | None = None
    error: str | None = None
    wall: float = 0.0  # seconds inside execute (the training subprocess and its launch)
    prep: float = 0.0  # seconds building the spec (bookkeeping)
    intermediate: list[tuple[int, float]] = field(default_factory=list)


class Reporter:
    """The ``on_metrics`` callback: forwards ``eval/<metric>`` lines to Optuna and asks the pruner."""

    def __init__(self, trial: optuna.Trial, metric: str, number: int, on_event: Event | None):
        self.trial, self.key, self.number, self.on_event = trial, f"eval/{metric}", number, on_event
        self.values: list[tuple[int, float]] = []

    def __call__(self, rec: dict[str, Any]) -> None:
        import optuna

        step = int(rec.get("step", 0))
        if self.on_event:
            self.on_event("step", self.number, step)
        if self.key not in rec:
            return
        v = rec[self.key]
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise NonFiniteError(f"intermediate {self.key} at step {step} is {v!r} (NaN/inf/null)")
        self.trial.report(float(v), step)
        self.values.append((step, float(v)))
        if self.on_event:
            self.on_event("intermediate", self.number, (step, float(v)))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} ({self.key}={v:.4g})")


def read_objective(run_dir: Path, metric: str, split: str = "eval") -> tuple[float | None, str | None]:
    """(value, None) from ``eval.json`` (or ``eval-<split>.json``), or (None, why it cannot be used)."""
    path = run_dir / ("eval.json" if split == "eval" else f"eval-{split}.json")
    try:
        metrics = json.loads(path.read_text())["metrics"]  # json accepts NaN: that is what we guard against
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"cannot read the objective from {path}: {type(e).__name__}: {e}"
    if metric not in metrics:
        return None, f"{path} has no metric {metric!r} (has: {', '.join(sorted(metrics))})"
    v = metrics[metric]
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        return None, f"objective {metric} is {v!r} (NaN/inf/null) in {path}"
    return float(v), None


def run_trial(
    trial: optuna.Trial,
    spec: RunSpec,
    task: TaskSpec,
    *,
    metric: str,
    split: str,
    on_event: Event | None = None,
    execute: Callable[..., Any] | None = None,
) -> Outcome:
    """Launch the trial's run and turn whatever happens into an Outcome (never raises)."""
    import optuna

    from pr1bench import runner

    execute = execute or runner.execute
    number = int(spec.trial or 0)
    reporter = Reporter(trial, metric, number, on_event)
    seen: dict[str, Path] = {}

    def on_start(run_dir: Path) -> None:
        seen["run_dir"] = run_dir
        if on_event:
            on_event("run", number, run_dir)

    t0 = time.perf_counter()
    out = Outcome("FAIL")
    try:
        result = execute(spec, task, on_metrics=reporter, on_start=on_start, ingest=False)
        out.run_dir = result.run_dir
        if result.status != "completed":
            out.error = result.error or f"run ended {result.status}"
        else:
            out.value, out.error = read_objective(result.run_dir, metric, split)
            out.state = "COMPLETE" if out.error is None else "FAIL"
    except optuna.TrialPruned as e:
        out.state, out.error = "PRUNED", str(e)
        out.value = reporter.values[-1][1] if reporter.values else None
    except NonFiniteError as e:
        out.error = str(e)
    except Exception as e:  # a bad model path, a full disk: this trial fails, the sweep goes on
        out.error = f"{type(e).__name__}: {e}"
    out.wall = time.perf_counter() - t0
    out.run_dir = out.run_dir or seen.get("run_dir")
    out.intermediate = reporter.values
    _note_on_run(out)
    return out


def _note_on_run(out: Outcome) -> None:
    """A pruned run gets status ``pruned`` (not ``killed``: it must not be resumed) and says why in its error."""
    if out.run_dir is None or out.state != "PRUNED" or not (out.run_dir / "run.json").is_file():
        return
    from pr1bench.launch import update_run

    update_run(out.run_dir, status="pruned", error=f"pruned by the sweep: {out.error}")
