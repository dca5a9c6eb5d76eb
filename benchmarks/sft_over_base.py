"""Does task SFT at the study's per-run budget lift the embedded base, and do seeds give different answers? (issue 13)

For each synthetic task: ``pr1bench eval TASK`` (the base, greedy, the task's eval split) and ``pr1bench train TASK
--variant sft`` at issue 13's study budget (150 steps of 16 on the task's training split of 1,200 images; the study
now gives SFT 100 steps) for each seed.
Prints, per task, base -> SFT on the primary metric for every seed, the delta, and the fraction of eval samples
whose greedy completion differs between the first two seeds (the spread an interval over seeds can see).
Real runs through accelerate and TRL, in a scratch results root.

    python benchmarks/sft_over_base.py                               # 4 tasks, seeds 0 1, lr 1e-4 cosine
    python benchmarks/sft_over_base.py --tasks counting --lr 5e-4 --seeds 0 1 2 --out sft.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TASKS = ("counting", "grounding", "detection", "ocr")


def _run(args: list[str], env: dict[str, str]) -> dict:
    exe = str(Path(sys.executable).with_name("pr1bench"))
    out = subprocess.run([exe, *args, "--json"], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


def _run_dir(res: dict, root: Path) -> Path:
    rid = res.get("run_id") or res.get("run", {}).get("run_id")
    if rid:
        return root / "runs" / rid
    return Path(res["run_dir"])


def _completions(run_dir: Path) -> dict[str, str]:
    import pandas as pd

    d = pd.read_parquet(run_dir / "samples.parquet")
    return dict(zip(d["id"], d["completion"], strict=True))


def _primary(run_dir: Path) -> tuple[str, float]:
    ev = json.loads((run_dir / "eval.json").read_text())
    m = ev.get("primary_metric")
    metrics = ev.get("metrics") or ev.get("summary", {}).get("metrics", {})
    return m, float(metrics[m])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--scheduler", default="cosine")
    ap.add_argument("--train", type=int, default=1200, help="training images (data.train)")
    ap.add_argument("--eval-n", type=int, default=None, help="eval images (default: the task's eval split, 300)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    root = a.root or Path(tempfile.mkdtemp(prefix="sft-over-base-"))
    env = {**os.environ, "PR1BENCH_RESULTS": str(root), "OMP_NUM_THREADS": "1"}
    model = ["--model", a.model] if a.model else []
    ev = [f"eval.n={a.eval_n}"] if a.eval_n else []
    table = {}
    for task in a.tasks:
        base_dir = _run_dir(_run(["eval", task, *model, *ev], env), root)
        metric, base = _primary(base_dir)
        seeds = {}
        for s in a.seeds:
            res = _run(["train", task, "--variant", "sft", "--seed", str(s), *model, f"max_steps={a.steps}",
                        "per_device_train_batch_size=16", f"learning_rate={a.lr}",
                        f"lr_scheduler_type={a.scheduler}", f"data.train={a.train}", *ev], env)
            d = _run_dir(res, root)
            seeds[s] = {"value": _primary(d)[1], "run_dir": d.name, "completions": _completions(d)}
        first, second = (seeds[s]["completions"] for s in a.seeds[:2]) if len(a.seeds) > 1 else ({}, {})
        common = sorted(set(first) & set(second))
        differ = sum(first[k] != second[k] for k in common) / len(common) if common else float("nan")
        vals = [seeds[s]["value"] for s in a.seeds]
        table[task] = {"metric": metric, "base": base, "sft": {s: seeds[s]["value"] for s in a.seeds},
                       "delta_mean": sum(vals) / len(vals) - base, "seed_answers_differ": differ,
                       "n_eval": len(common) or None}
        print(f"{task:10} {metric:6} base {base:.3f} -> sft "
              + " ".join(f"s{s} {seeds[s]['value']:.3f} ({seeds[s]['value'] - base:+.3f})" for s in a.seeds)
              + f"; seeds {a.seeds[0]}/{a.seeds[1] if len(a.seeds) > 1 else '-'} answers differ on {differ:.0%}",
              flush=True)
    from pr1bench.embedded import identity, resolve_model

    ident = (identity(a.model or resolve_model(None)) or {}).get("name")
    lifted = sum(t["delta_mean"] >= 0.05 for t in table.values())
    print(f"model {ident}: SFT ({a.steps} steps, lr {a.lr:g} {a.scheduler}, {a.train} images) lifts the primary "
          f"metric by >= 0.05 on {lifted}/{len(table)} tasks")
    if a.out:
        a.out.write_text(json.dumps({"model": ident, "args": {k: str(v) for k, v in vars(a).items() if k not in ("out", "root")},
                                     "tasks": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
