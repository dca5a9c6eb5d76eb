"""What the pruner saves on a real sweep, and whether the best trial survives it (issue 14).

Runs one shipped sweep (default ``detection``) three ways in a scratch results root, each a real Optuna study of
real GRPO trainings through ``pr1bench sweep run``:

* ``pruned``: the sweep file as shipped (its pruner, e.g. MedianPruner),
* ``full``: the same file, same sampler and seed, with ``NopPruner`` (the named baseline),
* ``noise``: the sweep's first enqueued setting (the paper's) trained with ``--noise-seeds`` different seeds,
  which measures the seed-to-seed spread a difference between trials has to beat.

Compute is counted in training steps actually run (from each run's metrics.jsonl in DuckDB) and in trial wall
time. Prints the saving (1 - pruned/full), the best value of each arm, the spread of trial values against the
seed noise, and writes everything as JSON (``--out``).

    python benchmarks/bench_pruning.py                          # detection, 10 trials per arm, 3 noise seeds
    python benchmarks/bench_pruning.py --sweep counting --trials 8 --out pruning.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def run_sweep(path: Path, trials: int, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("pr1bench")), "sweep", "run", str(path), "--trials", str(trials), "--jobs", "1"]
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - t0


def arm_stats(db: Path, sweep: str) -> dict:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        """
        SELECT t.number, t.state, t.value, t.params, epoch(t.ended_at) - epoch(t.started_at) AS wall,
               (SELECT max(step) FROM train_metrics m WHERE m.run_id = t.run_id) AS steps
        FROM trials t WHERE t.sweep = ? ORDER BY t.number
        """, [sweep]).fetchall()
    con.close()
    trials = [{"number": n, "state": s, "value": v, "params": json.loads(p) if p else {}, "wall_s": w,
               "steps": int(st or 0)} for n, s, v, p, w, st in rows]
    done = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    best = max(done, key=lambda t: t["value"]) if done else None
    vals = [t["value"] for t in done]
    return {"trials": trials, "steps": sum(t["steps"] for t in trials),
            "wall_s": round(sum(t["wall_s"] or 0 for t in trials), 1),
            "n_pruned": sum(t["state"] == "PRUNED" for t in trials), "n_complete": len(done),
            "best": best and {"number": best["number"], "value": best["value"], "params": best["params"]},
            "values": vals, "spread": (max(vals) - min(vals)) if vals else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", default="detection")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--noise-seeds", type=int, default=3)
    ap.add_argument("--arms", default="pruned,full,noise",
                    help="which arms to run, e.g. 'noise' alone to measure one setting's seed spread")
    ap.add_argument("--root", type=Path, default=None, help="results root (default: a new temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    from pr1bench.sweep.spec import resolve_sweep_path  # noqa: PLC0415

    spec = yaml.safe_load(resolve_sweep_path(a.sweep).read_text())
    root = a.root or Path(tempfile.mkdtemp(prefix="bench-pruning-"))
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PR1BENCH_RESULTS": str(root), "OMP_NUM_THREADS": "1"}
    name = spec["sweep"]
    want = {x.strip() for x in a.arms.split(",") if x.strip()}
    arms = {}
    for arm in [x for x in ("pruned", "full") if x in want]:
        s = json.loads(json.dumps(spec))
        s["sweep"] = f"{name}-{arm}"
        if arm == "full":
            s["study"]["pruner"] = {"name": "NopPruner"}
        path = root / f"{s['sweep']}.yaml"
        path.write_text(yaml.safe_dump(s, sort_keys=False))
        arms[arm] = {"driver_s": round(run_sweep(path, a.trials, env), 1), "pruner": s["study"].get("pruner")}
    if a.noise_seeds and "noise" in want:
        s = json.loads(json.dumps(spec))
        s["sweep"] = f"{name}-noise"
        first = (s.get("enqueue") or [{}])[0]
        s["enqueue"] = [{**first, "seed": k} for k in range(a.noise_seeds)]
        s["search_space"] = {**{k: {"type": "categorical", "choices": [v]} for k, v in first.items()},
                             "seed": {"type": "categorical", "choices": list(range(a.noise_seeds))}}
        s["study"]["pruner"] = {"name": "NopPruner"}
        path = root / f"{s['sweep']}.yaml"
        path.write_text(yaml.safe_dump(s, sort_keys=False))
        arms["noise"] = {"driver_s": round(run_sweep(path, a.noise_seeds, env), 1)}

    db = root / "pr1bench.duckdb"
    for arm in arms:
        arms[arm].update(arm_stats(db, f"{name}-{arm}"))
    p, f = arms.get("pruned", {}), arms.get("full", {})
    saved_steps = 1 - p["steps"] / f["steps"] if p and f.get("steps") else float("nan")
    saved_wall = 1 - p["wall_s"] / f["wall_s"] if p and f.get("wall_s") else float("nan")
    noise = arms.get("noise", {}).get("spread")
    from pr1bench.embedded import identity, resolve_model  # noqa: PLC0415

    result = {"sweep": name, "trials_per_arm": a.trials, "model": identity(resolve_model(None)) or {}, "arms": arms,
              "saved_steps": saved_steps, "saved_wall": saved_wall, "seed_noise_range": noise}
    print(f"\nsweep {name}, {a.trials} trials per arm, model {result['model'].get('name')}")
    print(f"{'arm':8} {'steps':>7} {'wall s':>8} {'pruned':>7} {'best':>8} {'spread':>8}")
    for arm, s in arms.items():
        best = s["best"]["value"] if s.get("best") else float("nan")
        vals = s.get("values") or []
        if arm == "noise" and len(vals) > 1:
            print(f"noise: values {[round(v, 4) for v in vals]}, sd {statistics.stdev(vals):.4f}")
        print(f"{arm:8} {s['steps']:7d} {s['wall_s']:8.1f} {s['n_pruned']:7d} {best:8.4f} "
              f"{(s['spread'] if s['spread'] is not None else float('nan')):8.4f}")
    if p and f:
        print(f"saved by the pruner (baseline: the same sweep with NopPruner): {saved_steps:.1%} of training steps, "
              f"{saved_wall:.1%} of trial wall time")
    if noise is not None and p.get("best") and f.get("best"):
        gap = f["best"]["value"] - p["best"]["value"]
        print(f"best trial: pruned {p['best']['value']:.4f} vs full {f['best']['value']:.4f} (gap {gap:+.4f}); "
              f"seed-to-seed range of one setting over {a.noise_seeds} seeds: {noise:.4f} "
              f"-> {'within' if abs(gap) <= noise else 'outside'} noise")
    if noise is not None and f.get("spread") is not None:
        print(f"trial spread (full arm) {f['spread']:.4f} vs seed range {noise:.4f}: ratio "
              f"{(f['spread'] / noise) if noise else float('inf'):.2f}")
    if a.out:
        a.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
