"""Reproducibility: re-run stored configurations with their seeds and compare the new metrics with the stored ones.

References come from the database (a run id, or every completed run of a sweep) or from a directory: either run
directories (``run.json`` + ``eval.json``, e.g. a shipped ``results/reference/``) or a Parquet export
(``pr1bench export --parquet DIR``: ``runs.parquet`` + ``eval_metrics.parquet``). Each is re-run through
:func:`pr1bench.runner.execute` *without* ingesting (a repro must not add a run to the report's tables), then every
stored metric over the whole eval split is compared under an absolute tolerance.

Default tolerances (absolute, on our 0-1 scales; override with ``--tolerance metric=value``, ``*=value`` for all):

* 0.05 for everything: accuracies (acc, acc50/75/95, avg, miou), COCO AP/AR family, OCR f1/precision/recall/ned,
  sample_score, parse_rate, and the rewards (reward_greedy, reward_sampled and per-term means). CPU training of the
  tiny model is deterministic for a fixed seed and environment, so 0.05 leaves room for thread-count and library
  differences while still catching a real change of behaviour (one eval sample out of 24 is 0.04).
* 0.15 for ``reward_sampled``: it is one *sampled* completion per prompt, so it moves with any change in the
  random stream even when the policy did not change.
* BLEU/METEOR (0-1) 0.05 as well. A metric missing from the new run fails; a metric new in the new run is shown
  but not judged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TOLERANCE = 0.05
TOLERANCES: dict[str, float] = {"reward_sampled": 0.15}
SPLIT = "eval"


@dataclass
class Reference:
    """A stored run to reproduce: its config (run.json ``config``), stored metrics and environment."""

    run_id: str
    task: str
    task_version: str | None
    variant: str
    seed: int | None
    config: dict[str, Any]
    metrics: dict[str, float]
    packages: dict[str, str] = field(default_factory=dict)


@dataclass
class Check:
    """One metric's comparison."""

    metric: str
    stored: float | None
    new: float | None
    tolerance: float
    status: str  # pass | FAIL | missing | new

    @property
    def diff(self) -> float | None:
        if self.stored is None or self.new is None:
            return None
        return self.new - self.stored

    @property
    def failed(self) -> bool:
        return self.status in ("FAIL", "missing")


def parse_tolerances(items: list[str] | None) -> dict[str, float]:
    """``["acc=0.02", "*=0.1"]`` -> ``{"acc": 0.02, "*": 0.1}``.

    Raises:
        ValueError: not ``metric=number`` or a negative tolerance.
    """
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            tol = float(value)
        except ValueError:
            tol = -1.0
        if not sep or not name.strip() or not math.isfinite(tol) or tol < 0:
            raise ValueError(f"--tolerance {item!r}: expected METRIC=ABS (a number >= 0), e.g. acc=0.02 or '*=0.1'")
        out[name.strip()] = tol
    return out


def tolerance_for(metric: str, overrides: dict[str, float] | None = None) -> float:
    """The absolute tolerance of a metric: explicit override, then ``*`` override, then the documented default."""
    o = overrides or {}
    if metric in o:
        return o[metric]
    if "*" in o:
        return o["*"]
    return TOLERANCES.get(metric, DEFAULT_TOLERANCE)


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def compare(stored: dict[str, Any], new: dict[str, Any], overrides: dict[str, float] | None = None) -> list[Check]:
    """Compare every stored metric with the new value: pass when |new - stored| <= tolerance.

    Undefined (None/NaN) on both sides passes: "still undefined" is reproduced. Undefined on one side fails.
    """
    checks = []
    for metric in sorted(stored):
        tol = tolerance_for(metric, overrides)
        s, n = _num(stored[metric]), _num(new.get(metric))
        if metric not in new:
            checks.append(Check(metric, s, None, tol, "missing"))
        elif s is None and n is None:
            checks.append(Check(metric, None, None, tol, "pass"))
        elif s is None or n is None:
            checks.append(Check(metric, s, n, tol, "FAIL"))
        else:
            checks.append(Check(metric, s, n, tol, "pass" if abs(n - s) <= tol + 1e-12 else "FAIL"))
    checks += [Check(m, None, _num(new[m]), tolerance_for(m, overrides), "new") for m in sorted(set(new) - set(stored))]
    return checks


def env_diff(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    """Human-readable differences between two ``{package: version}`` maps (empty when identical)."""
    out = []
    for name in sorted(set(stored) | set(current)):
        a, b = stored.get(name), current.get(name)
        if a != b:
            out.append(f"{name}: stored {a or 'absent'}, now {b or 'absent'}")
    return out


# ---------------------------------------------------------------- loading references


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value or {}


def _from_rows(runs: Any, metrics: Any) -> list[Reference]:
    """References from a runs frame and an eval_metrics frame (database query or Parquet export)."""
    m = metrics[(metrics["bucket"] == "all") & (metrics["split"] == SPLIT)]
    by_run: dict[str, dict[str, float]] = {}
    for r in m.itertuples(index=False):
        by_run.setdefault(r.run_id, {})[r.metric] = r.value
    out = []
    for r in runs.itertuples(index=False):
        seed = None if r.seed is None or (isinstance(r.seed, float) and math.isnan(r.seed)) else int(r.seed)
        out.append(Reference(str(r.run_id), str(r.task), None if r.task_version is None else str(r.task_version),
                             str(r.variant), seed, _loads(r.config), by_run.get(r.run_id, {}),
                             _loads(r.packages)))  # fmt: skip
    return out


def from_database(*, run_id: str | None = None, sweep: str | None = None) -> list[Reference]:
    """The run ``run_id``, or every completed run of ``sweep``, from the results database."""
    from pr1bench.store import query

    cols = "run_id, task, task_version, variant, seed, config, packages"
    if run_id:
        runs = query(f"SELECT {cols} FROM runs WHERE run_id = ?", [run_id])
    else:
        runs = query(f"SELECT {cols} FROM runs WHERE sweep = ? AND status = 'completed' ORDER BY trial", [sweep])
    ids = list(runs["run_id"])
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    metrics = query(f"SELECT run_id, split, metric, bucket, value FROM eval_metrics WHERE run_id IN ({marks})", ids)
    return _from_rows(runs, metrics)


def from_directory(path: Path) -> list[Reference]:
    """References from run directories under ``path`` or from a Parquet export in ``path``.

    Raises:
        FileNotFoundError: ``path`` is missing or holds neither; the message says how to create a reference set.
    """
    how = ("create one with `pr1bench train ...` / `pr1bench eval ...` runs and copy their run directories "
           f"(results/runs/<id>/) into {path}, or `pr1bench export --parquet {path}` from a results database")
    if not path.is_dir():
        raise FileNotFoundError(f"no reference set at {path}: {how}")
    if (path / "runs.parquet").is_file() and (path / "eval_metrics.parquet").is_file():
        import pandas as pd

        runs = pd.read_parquet(path / "runs.parquet")
        runs = runs[runs["status"] == "completed"]
        return _from_rows(runs, pd.read_parquet(path / "eval_metrics.parquet"))
    dirs = sorted(p for p in [path, *path.iterdir()] if (p / "run.json").is_file() and (p / "eval.json").is_file())
    if not dirs:
        raise FileNotFoundError(f"{path} holds no run directories (run.json + eval.json) and no Parquet export: {how}")
    return [_from_run_dir(d) for d in dirs]


def _from_run_dir(d: Path) -> Reference:
    rec = json.loads((d / "run.json").read_text())
    ev = json.loads((d / "eval.json").read_text())
    tv = rec.get("task_version")
    return Reference(rec.get("run_id") or d.name, rec["task"], None if tv is None else str(tv), rec["variant"],
                     rec.get("seed"), rec.get("config") or {}, dict(ev.get("metrics") or {}),
                     rec.get("packages") or {})  # fmt: skip


# ---------------------------------------------------------------- re-running


@dataclass
class Outcome:
    """One reference re-run: the checks, warnings and the new run directory."""

    ref: Reference
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new_run: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not any(c.failed for c in self.checks)


def prepare(ref: Reference) -> tuple[Any, Any, list[str]]:
    """RunSpec and TaskSpec to re-run ``ref``, plus warnings (task version changed, sweep bookkeeping dropped).

    Raises:
        ValueError: the stored config has no ``run`` section (not written by pr1bench's launcher).
    """
    from pr1bench.runspec import RunSpec
    from pr1bench.spec import load_task

    run = (ref.config or {}).get("run")
    if not isinstance(run, dict):
        raise ValueError(f"run {ref.run_id}: stored config has no `run` section; cannot rebuild its RunSpec")
    # A repro is not a trial: keep it out of the sweep's bookkeeping (hash and results do not depend on it).
    spec = RunSpec.model_validate({**run, "sweep": None, "trial": None})
    task = load_task(ref.task)
    warnings = []
    if ref.task_version is not None and str(task.version) != ref.task_version:
        warnings.append(f"task {ref.task} is now version {task.version}, the stored run used {ref.task_version}: "
                        "a drift may come from the task change")  # fmt: skip
    return spec, task, warnings


def reproduce(ref: Reference, overrides: dict[str, float] | None = None, *, status: Any = None) -> Outcome:
    """Re-run one reference (no ingest) and compare its eval metrics with the stored ones."""
    from pr1bench.launch import package_versions
    from pr1bench.runner import execute

    out = Outcome(ref)
    try:
        spec, task, out.warnings = prepare(ref)
    except Exception as e:  # a bad reference is reported per run, the others still run
        out.error = str(e)
        return out
    diff = env_diff(ref.packages, package_versions())
    if diff:
        out.warnings.append("environment differs: " + "; ".join(diff))
    result = execute(spec, task, ingest=False, status=status)
    out.new_run = result.run_dir.name
    ev_path = result.run_dir / "eval.json"
    if result.status != "completed" or not ev_path.is_file():
        out.error = f"re-run {result.run_dir.name} {result.status}: {result.error or 'no eval.json'}"
        return out
    out.checks = compare(ref.metrics, json.loads(ev_path.read_text()).get("metrics") or {}, overrides)
    return out
