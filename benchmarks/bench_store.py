"""Benchmark the results store: ingest throughput and report-style pivots, as ratios against named baselines.

Run: python benchmarks/bench_store.py [--quick] [--check]

* ingest (load):  appending 1e6 long metric rows from Arrow (what ingest does) vs ``executemany`` of the same
  rows. executemany runs on a smaller N and its rows/s is extrapolated (it would take minutes on 1e6).
* ingest (end to end): ``ingest_run`` on a run directory whose metrics.jsonl holds 1e6 metric values
  (parse JSONL + unpivot + delete + append + commit), against the same executemany baseline.
* pivot: mean/std per task x variant x metric x bucket over 1e6 eval_metrics rows (and per task x variant x
  name over the train_metrics rows) vs pandas reading the rows and grouping (baseline: pandas groupby).

Targets: ingest >= 1M rows/s, pivot < 100 ms. ``--check`` exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pr1bench.store import ingest_run, write_connection  # noqa: E402

NAMES = ("loss", "reward", "reward_std", "rewards/box_iou/mean", "rewards/format/mean", "kl", "entropy",
         "learning_rate", "completions/mean_length", "step_time")  # fmt: skip
PIVOT_SQL = """
SELECT r.task, r.variant, e.metric, e.bucket, avg(e.value) AS mean, stddev_samp(e.value) AS std, count(*) AS n
FROM eval_metrics e JOIN runs r USING (run_id)
GROUP BY ALL
"""
TRAIN_PIVOT_SQL = """
SELECT r.task, r.variant, t.name, avg(t.value) AS mean, stddev_samp(t.value) AS std, count(*) AS n
FROM train_metrics t JOIN runs r USING (run_id)
GROUP BY ALL
"""


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by the OS)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def metric_rows(n: int, run_id: str = "bench") -> pa.Table:
    """n long train_metrics rows, as ingest produces them."""
    steps = np.arange(n) // len(NAMES)
    rng = np.random.default_rng(0)
    return pa.table({
        "run_id": pa.array([run_id] * n), "step": steps, "phase": pa.array(["grpo"] * n),
        "name": pa.array([NAMES[i % len(NAMES)] for i in range(n)]), "value": rng.random(n),
        "epoch": steps / 1000.0, "time": 1.8e9 + steps.astype(float),
    })  # fmt: skip


def bench_executemany(db: Path, n: int) -> float:
    rows = metric_rows(n, "baseline").to_pylist()
    params = [
        [r["run_id"], r["step"], r["phase"], r["name"], r["value"], r["epoch"], r["time"]] for r in rows
    ]
    with write_connection(db) as con:
        t = time.perf_counter()
        con.executemany("INSERT INTO train_metrics VALUES (?, ?, ?, ?, ?, ?, ?)", params)
        seconds = time.perf_counter() - t
        con.execute("DELETE FROM train_metrics WHERE run_id = 'baseline'")
    return n / seconds


def bench_arrow_load(db: Path, n: int) -> tuple[float, float]:
    table = metric_rows(n)
    df = table.to_pandas()
    with write_connection(db) as con:

        def load(src: object) -> None:
            con.execute("DELETE FROM train_metrics WHERE run_id = 'bench'")
            con.register("src", src)
            t = time.perf_counter()
            con.execute("BEGIN; INSERT INTO train_metrics BY NAME SELECT * FROM src; COMMIT")
            load.seconds = min(getattr(load, "seconds", 1e9), time.perf_counter() - t)  # type: ignore[attr-defined]
            con.unregister("src")

        for _ in range(3):
            load(table)
        arrow_s = load.seconds  # type: ignore[attr-defined]
        del load.seconds  # type: ignore[attr-defined]
        for _ in range(3):
            load(df)
        pandas_s = load.seconds  # type: ignore[attr-defined]
        con.execute("DELETE FROM train_metrics WHERE run_id = 'bench'")
    return n / arrow_s, n / pandas_s


def write_run_dir(root: Path, n_values: int) -> Path:
    """A run directory whose metrics.jsonl holds n_values metric values (10 per line, as TRL logs)."""
    run = root / "bench-run"
    run.mkdir(parents=True)
    meta = {"run_id": "bench-run", "task": "detection", "task_version": 1, "variant": "grpo", "seed": 0,
            "status": "completed", "config": {}, "packages": {}}  # fmt: skip
    (run / "run.json").write_text(json.dumps(meta))
    rnd = random.Random(0)
    with (run / "metrics.jsonl").open("w") as f:
        for step in range(n_values // len(NAMES)):
            rec = {"step": step, "epoch": step / 1000, "time": 1.8e9 + step, "phase": "grpo"}
            rec |= {k: rnd.random() for k in NAMES}
            f.write(json.dumps(rec) + "\n")
    return run


def bench_end_to_end(db: Path, run: Path, repeat: int) -> tuple[float, int]:
    rows = 0

    def once() -> None:
        nonlocal rows
        rows = ingest_run(run, db=db).rows["train_metrics"]

    seconds = best_of(once, repeat)
    return rows / seconds, rows


def fill_eval_metrics(db: Path, n: int) -> None:
    """n eval_metrics rows over 2,000 runs (5 tasks x 5 variants x 80 seeds), 25 metrics x 20 buckets each."""
    tasks, variants = (
        ["counting", "detection", "grounding", "ocr", "pose"],
        ["base", "sft", "grpo", "cot-grpo", "sft-grpo"],
    )
    run_ids = [f"r{i}" for i in range(2000)]
    runs = pa.table({
        "run_id": run_ids, "task": [tasks[i % 5] for i in range(2000)],
        "variant": [variants[(i // 5) % 5] for i in range(2000)], "seed": [i // 25 for i in range(2000)],
        "status": ["completed"] * 2000, "ingested_at": pa.array([0] * 2000, pa.timestamp("us")),
    })  # fmt: skip
    per_run = n // len(run_ids)
    idx = np.arange(n)
    metrics = [f"m{i}" for i in range(25)]
    buckets = ["all"] + [f"b{i}" for i in range(19)]
    em = pa.table({
        "run_id": pa.array(run_ids).take(pa.array(idx // per_run)),
        "split": pa.array(["eval"] * n), "metric": pa.array(metrics).take(pa.array(idx % 25)),
        "bucket": pa.array(buckets).take(pa.array((idx // 25) % 20)),
        "value": np.random.default_rng(1).random(n), "n": np.full(n, 300),
    })  # fmt: skip
    with write_connection(db) as con:
        for name, t in (("runs", runs), ("eval_metrics", em)):
            con.register("src", t)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM src")
            con.unregister("src")


def bench_pivots(db: Path, repeat: int) -> dict[str, float]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for label, sql in (("eval", PIVOT_SQL), ("train", TRAIN_PIVOT_SQL)):
            con.execute(sql).fetchall()  # warm
            out[label] = best_of(lambda sql=sql: con.execute(sql).fetchall(), repeat)
            out[label + "_rows"] = con.execute(
                "SELECT count(*) FROM " + ("eval_metrics" if label == "eval" else "train_metrics")
            ).fetchall()[0][0]

        def pandas_pivot() -> None:
            df = con.execute(
                "SELECT e.*, r.task, r.variant FROM eval_metrics e JOIN runs r USING (run_id)"
            ).df()
            df.groupby(["task", "variant", "metric", "bucket"])["value"].agg(["mean", "std", "count"])

        out["pandas"] = best_of(pandas_pivot, max(1, repeat // 3))
        return out
    finally:
        con.close()


def rate(x: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200k rows, smaller baseline, fewer repeats")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args()
    n = 200_000 if args.quick else 1_000_000
    n_base = 5_000 if args.quick else 20_000
    repeat = 3 if args.quick else 5
    ok = True
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.1f} (1 min) / {load5:.1f} (5 min) at start; "
          f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pr1bench-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        base = bench_executemany(db, n_base)
        arrow, pandas_rate = bench_arrow_load(db, n)
        print(f"ingest (load {n:,} rows): arrow {rate(arrow)} rows/s vs executemany {rate(base)} rows/s = "
              f"{arrow / base:.0f}x (baseline: executemany, measured on {n_base:,} rows and extrapolated); "
              f"pandas {rate(pandas_rate)} rows/s = {pandas_rate / base:.0f}x")  # fmt: skip
        run = write_run_dir(Path(tmp) / "runs", n)
        e2e, rows = bench_end_to_end(db, run, 3 if not args.quick else 2)
        print(f"ingest (end to end, ingest_run on metrics.jsonl, {rows:,} rows): {rate(e2e)} rows/s vs executemany "
              f"{rate(base)} rows/s = {e2e / base:.0f}x (baseline: executemany, extrapolated)")  # fmt: skip
        ok &= arrow >= 1e6 and e2e >= 1e6
        fill_eval_metrics(db, n)
        piv = bench_pivots(db, repeat)
        print(f"pivot (mean/std per task x variant x metric x bucket, {piv['eval_rows']:,} eval_metrics rows): "
              f"{piv['eval'] * 1e3:.1f} ms vs pandas groupby {piv['pandas'] * 1e3:.0f} ms = "
              f"{piv['pandas'] / piv['eval']:.1f}x (baseline: pandas read + groupby)")  # fmt: skip
        print(
            f"pivot (mean/std per task x variant x name, {piv['train_rows']:,} train_metrics rows): "
            f"{piv['train'] * 1e3:.1f} ms"
        )
        ok &= piv["eval"] < 0.1 and piv["train"] < 0.1
    load1, load5, _ = os.getloadavg()
    print(f"load average at end {load1:.1f} (1 min); other processes on a small machine slow every number")
    print(f"targets (ingest >= 1M rows/s, pivot < 100 ms): {'met' if ok else 'MISSED'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
