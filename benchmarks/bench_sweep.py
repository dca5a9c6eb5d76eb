"""Per-trial bookkeeping of the sweep driver against the trial's own training subprocess.

Bookkeeping is everything the sweep adds around a trial: Optuna ask/suggest/tell and user attributes (journal
writes), the lease file, building and validating the trial's RunSpec, and the DuckDB writes (upsert_trial at start,
ingest_run + upsert_trial at the end). The baseline is the trial's wall time inside ``runner.execute`` (the
accelerate subprocess on the tiny model). Target: < 1%.

    python benchmarks/bench_sweep.py                 # real tiny-model trials (raw model built once, ~15 s)
    python benchmarks/bench_sweep.py --steps 8 --trials 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """# benchmark sweep (written by benchmarks/bench_sweep.py)
sweep: bench
base:
  task: counting
  variant: grpo
  model: {model}
  trainer: {{max_steps: {steps}, per_device_train_batch_size: 8, num_generations: 4, logging_steps: 1,
            save_steps: 1000}}
  data: {{train: 16}}
  generation: {{max_new_tokens: 8}}
  eval: {{n: 4, batch_size: 4, every_steps: 2, n_intermediate: 2}}
objective: {{metric: acc}}
study:
  n_trials: {trials}
  sampler: {{name: TPESampler, seed: 0}}
  pruner: {{name: none}}
search_space:
  trainer.beta: {{type: float, low: 0.0, high: 0.1}}
  rewards.count_exact.weight: {{type: float, low: 0.0, high: 2.0}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument(
        "--model", help="an existing model dir (default: build the raw tiny model into a temp dir)"
    )
    args = ap.parse_args()
    import os

    from pr1bench.paths import set_results_dir
    from pr1bench.sweep.driver import Driver, SweepOptions
    from pr1bench.sweep.spec import load_sweep

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    model = args.model
    if not model:
        model = str(tmp / "tiny")
        subprocess.run(
            [sys.executable, "-m", "pr1bench.train.build_tiny", model], check=True, capture_output=True
        )
    (tmp / "sweeps").mkdir()
    (tmp / "sweeps" / "bench.yaml").write_text(
        SWEEP.format(model=model, steps=args.steps, trials=args.trials)
    )
    os.environ["PR1BENCH_SWEEPS"] = str(tmp / "sweeps")
    os.environ["PR1BENCH_RESULTS"] = str(tmp / "results")
    set_results_dir(tmp / "results")
    spec, task = load_sweep("bench")
    t0 = time.perf_counter()
    res = Driver(spec, task, SweepOptions(jobs=1)).run()
    total = time.perf_counter() - t0
    assert res.finished == args.trials, res
    for n in sorted(res.walls):
        print(
            f"trial {n}: driver bookkeeping {res.overhead[n] * 1e3:.0f} ms, database {res.db_seconds.get(n, 0) * 1e3:.0f}"
            f" ms (writer thread), execute {res.walls[n]:.1f} s"
        )
    book = sum(res.overhead.values()) / len(res.overhead)
    db = sum(res.db_seconds.get(n, 0.0) for n in res.walls) / len(res.walls)
    wall = sum(res.walls.values()) / len(res.walls)
    print(
        f"bookkeeping: {book * 1e3:.0f} ms per trial vs trial wall {wall:.1f} s = {100 * book / wall:.2f}% "
        f"(baseline: the trial's own training subprocess via runner.execute; sweep total {total:.1f} s, "
        f"{args.steps} GRPO steps per trial on the raw tiny model)"
    )
    print(
        f"database writes (upsert_trial x2 + ingest_run, off the critical path): {db * 1e3:.0f} ms per trial "
        f"= {100 * db / wall:.2f}% of the trial wall; both together {100 * (book + db) / wall:.2f}%"
    )


if __name__ == "__main__":
    main()
