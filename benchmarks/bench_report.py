"""Benchmark: `pr1bench report` over a database with 1e6 eval-metric rows and 1e6 training-metric rows.

Run: python benchmarks/bench_report.py [--runs 2000] [--repeat 3]

Builds a temporary DuckDB shaped like a busy results store (bulk Arrow inserts): 5 tasks x 5 variants x 5 seeds of
main runs plus sweep trials (GRPO, a beta x num_generations grid) up to 2000 runs; per run 83 metrics x 6 buckets
(~1e6 eval_metrics rows) and 50 logged steps x 10 names (1e6 train_metrics rows). Then it times the full report (load + every section + Markdown render; plots
timed separately). Target: under 2 s. Baseline, named: "pandas after fetching all rows", i.e. the same per-seed
and reward-curve aggregation done in pandas on every eval_metrics/train_metrics row fetched from DuckDB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TASKS = ("counting", "detection", "grounding", "ocr", "refcoco")
VARIANTS = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
BUCKETS = ("all", "1", "2-3", "4-6", "7-10", "11+")
PRIMARY = {"counting": "acc", "detection": "AP", "grounding": "acc50", "ocr": "f1", "refcoco": "acc50"}


def _config(task: str, variant: str, seed: int, beta: float = 0.04, gens: int = 8, sweep: str | None = None,
            trial: int | None = None) -> str:
    run = {"task": task, "variant": variant, "seed": seed, "matching": None, "trainer": {}, "data": {},
           "sweep": sweep, "trial": trial}
    grpo = {"num_generations": gens, "beta": beta, "learning_rate": 2e-5, "max_steps": 150}
    task_d = {"task": task, "version": 1, "matching": "hungarian", "data": {"order": "random", "n_objects": [1, 10]},
              "rewards": [{"name": n, "weight": 1.0, "args": {}} for n in ("format", "box_iou", "label_match")],
              "prompt": "Please output bbox coordinates and names of {categories}." * 4}
    return json.dumps({"run": run, "task": task_d, "trainer": {"grpo": grpo} if variant != "base" else {}})


def _runs(n_runs: int, main_seeds: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Main runs (every variant x seed) and sweep runs (with their trials rows) up to ``n_runs``."""
    rows = [(f"{t}-{v}-s{s}", t, "1", v, s, None, None, _config(t, v, s))
            for t in TASKS for v in VARIANTS for s in range(main_seeds)]
    trials = []
    grid = [(b, g) for b in (0.0, 0.01, 0.04, 0.1) for g in (4, 8, 16)]
    i = 0
    while len(rows) < n_runs:
        task = TASKS[i % len(TASKS)]
        number = i // len(TASKS)
        beta, gens = grid[number % len(grid)]
        seed = number // len(grid)
        rid = f"sweep-{task}-{number}"
        rows.append((rid, task, "1", "grpo", seed, f"abl-{task}", number,
                     _config(task, "grpo", seed, beta, gens, f"abl-{task}", number)))
        trials.append({"sweep": f"abl-{task}", "number": number, "run_id": rid, "state": "COMPLETE",
                       "params": json.dumps({"trainer.beta": beta, "trainer.num_generations": gens})})
        i += 1
    df = pd.DataFrame(rows, columns=["run_id", "task", "task_version", "variant", "seed", "sweep", "trial", "config"])
    df["status"] = "completed"
    df["packages"] = json.dumps({"trl": "1.16.0"})
    df["ingested_at"] = pd.Timestamp("2026-01-01")
    return df, pd.DataFrame(trials)


def _eval_metrics(runs: pd.DataFrame, rng: np.random.Generator) -> pa.Table:
    metrics = [PRIMARY[t] for t in TASKS] + ["reward_greedy", "reward_sampled", "sample_score", "parse_rate"]
    metrics = list(dict.fromkeys(metrics)) + [f"extra_{i}" for i in range(83 - len(set(metrics)))]
    n_run, n_m, n_b = len(runs), len(metrics), len(BUCKETS)
    total = n_run * n_m * n_b
    return pa.table({
        "run_id": np.repeat(runs["run_id"].to_numpy(), n_m * n_b), "split": np.full(total, "eval"),
        "metric": np.tile(np.repeat(metrics, n_b), n_run), "bucket": np.tile(BUCKETS, n_run * n_m),
        "value": rng.random(total), "n": np.full(total, 50), "ci_lo": np.full(total, np.nan),
        "ci_hi": np.full(total, np.nan),
    })  # fmt: skip


def _train_metrics(runs: pd.DataFrame, rng: np.random.Generator, steps: int = 50, names: int = 10) -> pa.Table:
    name_list = ["reward"] + [f"m{i}" for i in range(names - 1)]
    total = len(runs) * steps * names
    return pa.table({
        "run_id": np.repeat(runs["run_id"].to_numpy(), steps * names),
        "step": np.tile(np.repeat(np.arange(1, steps + 1), names), len(runs)),
        "phase": np.full(total, "grpo"), "name": np.tile(name_list, len(runs) * steps), "value": rng.random(total),
    })  # fmt: skip


def _samples(runs: pd.DataFrame, rng: np.random.Generator, per_run: int = 50) -> pa.Table:
    ns = rng.integers(1, 12, size=len(runs) * per_run)
    labels = np.select([ns == 1, ns <= 3, ns <= 6, ns <= 10], ["1", "2-3", "4-6", "7-10"], "11+")
    return pa.table({"run_id": np.repeat(runs["run_id"].to_numpy(), per_run), "split": np.full(ns.size, "eval"),
                     "sample_id": np.tile([f"s{i}" for i in range(per_run)], len(runs)), "n": ns, "bucket": labels,
                     "score": rng.random(ns.size)})  # fmt: skip


def build_db(db: Path, n_runs: int) -> dict[str, int]:
    from pr1bench.store import upsert_sweep, write_connection

    rng = np.random.default_rng(0)
    runs, trials = _runs(n_runs)
    trials["value"] = rng.random(len(trials))
    tables = {"runs": pa.Table.from_pandas(runs, preserve_index=False), "eval_metrics": _eval_metrics(runs, rng),
              "train_metrics": _train_metrics(runs, rng), "samples": _samples(runs, rng),
              "trials": pa.Table.from_pandas(trials, preserve_index=False)}
    with write_connection(db) as con:
        for name, tbl in tables.items():
            con.register("src", tbl)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM src")
            con.unregister("src")
        for task in TASKS:
            upsert_sweep(f"abl-{task}", task=task, objective_metric=PRIMARY[task], direction="maximize", con=con)
    return {k: v.num_rows for k, v in tables.items()}


def report_once(db: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): CPU time is what to compare on a shared, busy machine."""
    from pr1bench.report import build
    from pr1bench.report.render import markdown

    t, c = time.perf_counter(), time.process_time()
    sections, _ = build(db=db)
    markdown(sections)
    return time.perf_counter() - t, time.process_time() - c


def baseline_once(db: Path) -> tuple[float, float]:
    """Named baseline: fetch every metric row into pandas, then aggregate per seed and per reward-curve step."""
    import duckdb

    t, c = time.perf_counter(), time.process_time()
    con = duckdb.connect(str(db), read_only=True)
    ev = con.execute("SELECT e.*, r.task, r.variant, r.seed FROM eval_metrics e JOIN runs r USING (run_id)").df()
    tm = con.execute("SELECT t.*, r.task, r.variant FROM train_metrics t JOIN runs r USING (run_id)").df()
    con.close()
    ev.groupby(["task", "variant", "metric", "bucket", "seed"])["value"].mean()
    tm[tm["name"] == "reward"].groupby(["task", "variant", "step"])["value"].mean()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000, help="runs in the database (2000 -> ~1e6 eval-metric rows)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from pr1bench.paths import set_results_dir

    with tempfile.TemporaryDirectory() as tmp:
        set_results_dir(Path(tmp))
        db = Path(tmp) / "pr1bench.duckdb"
        t = time.perf_counter()
        rows = build_db(db, args.runs)
        print(f"built {db.name}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items())
              + f" in {time.perf_counter() - t:.1f} s")
        report_once(db)  # warm: imports (scipy, duckdb, optuna) are not what we measure
        ours = [report_once(db) for _ in range(args.repeat)]
        base = [baseline_once(db) for _ in range(args.repeat)]
        ow, oc = (statistics.median(x[i] for x in ours) for i in (0, 1))
        bw, bc = (statistics.median(x[i] for x in base) for i in (0, 1))
        print(f"report (load + all sections + markdown): wall {ow:.3f} s, CPU {oc:.3f} s  (target < 2 s wall: "
              f"{'OK' if ow < 2 else 'SLOW'}; on a busy machine compare CPU)")
        print(f"baseline 'pandas after fetching all rows' (aggregation only, no statistics): wall {bw:.3f} s, "
              f"CPU {bc:.3f} s")
        print(f"ratio report / baseline: wall {ow / bw:.2f}x, CPU {oc / bc:.2f}x")


if __name__ == "__main__":
    main()
