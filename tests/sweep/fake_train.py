"""A stand-in for `accelerate launch -m pr1bench.train RUN_DIR`: same files, no torch, behaviour from a plan file.

The sweep tests patch :func:`pr1bench.launch.build_command` to start this script instead, so the real launch path
(prepare_run, Popen in its own session, metrics following, failure marking) runs in a fraction of a second.
Plan (JSON at $PR1BENCH_FAKE_PLAN): metric, value_key (a dotted run-spec key whose value is the objective),
crash_once (kill -9 itself on the first attempt of each trial), nan (NaN objective), nan_intermediate,
sleep (seconds before finishing), steps (intermediate evals).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from pr1bench.launch import now_iso, read_run, update_run


def _get(d, dotted):
    for p in dotted.split("."):
        d = d.get(p) if isinstance(d, dict) else None
    return d


def main(run_dir: Path) -> int:
    plan = json.loads(Path(os.environ["PR1BENCH_FAKE_PLAN"]).read_text())
    rec = read_run(run_dir)
    update_run(run_dir, status="running", started_at=now_iso(), pid=os.getpid())
    run = rec["config"]["run"]
    value = float(_get(run, plan.get("value_key", "trainer.beta")) or 0.0)
    marker = Path(plan["markers"]) / f"params-{value!r}"  # per parameter set, so the retry succeeds
    if plan.get("crash_once") and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    metric = plan.get("metric", "acc")
    with (run_dir / "metrics.jsonl").open("a") as f:
        for step in range(1, int(plan.get("steps", 2)) + 1):
            v = None if plan.get("nan_intermediate") else value * step / 2
            f.write(json.dumps({"step": step, "phase": "grpo", "loss": 0.1, f"eval/{metric}": v}) + "\n")
            f.flush()
            time.sleep(float(plan.get("sleep", 0.0)) / 2)
    final = float("nan") if plan.get("nan") else value
    (run_dir / "eval.json").write_text(json.dumps({"split": "eval", "n": 2, "metrics": {metric: final}}))
    update_run(run_dir, status="completed", ended_at=now_iso())
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
