"""`pr1bench train counting --variant grpo` against a plain TRL script doing the same GRPO (target <= 1.10x).

Both run under `accelerate launch` with one CPU thread on the same model and rows. The harness's extra work
(run.json, metrics.jsonl per log step, checkpoint at the end, a 1-sample final evaluation) is what is measured.
Usage: python benchmarks/bench_train.py [--model DIR] [--steps 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="model dir (default: build a raw tiny model)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=64)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    model = a.model or str(tmp / "tiny")
    if not a.model:
        subprocess.run([sys.executable, "-m", "pr1bench.train.build_tiny", model], check=True, capture_output=True)
    env = {**os.environ, "PR1BENCH_RESULTS": str(tmp / "results"), "HF_HUB_OFFLINE": "1"}
    accel = [str(Path(sys.executable).with_name("accelerate")), "launch", "--config_file",
             str(ROOT / "pr1bench/accelerate_configs/cpu.yaml"), "--num_cpu_threads_per_process", "1"]
    plain = [*accel, str(ROOT / "benchmarks/plain_grpo.py"), model, str(a.steps), str(a.n_train)]
    ours = [sys.executable, "-m", "pr1bench.cli.main", "train", "counting", "--variant", "grpo", "--model", model,
            "--no-ingest", f"max_steps={a.steps}", f"data.train={a.n_train}", "eval.n=1", "logging_steps=5",
            "save_steps=100000"]
    t_plain, t_ours = [], []
    for _ in range(a.repeats):  # interleaved so drifting machine load hits both alike
        t_plain.append(_timed(plain, env))
        t_ours.append(_timed(ours, env))
    bp, bo = min(t_plain), min(t_ours)
    print(f"grpo_train [{a.steps} steps, counting, tiny model, CPU, best of {a.repeats}]: pr1bench train "
          f"{bo:.1f} s vs plain TRL script {bp:.1f} s = {bo / bp:.2f}x (baseline: plain TRL GRPOTrainer script "
          f"under the same accelerate launch; target <= 1.10x)")


if __name__ == "__main__":
    main()
