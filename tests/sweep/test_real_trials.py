"""Real tiny-model trials through `accelerate launch` (slow: tens of seconds per trial on 2 CPU cores).

Random-init model, a couple of GRPO steps, a 2-sample eval: the harness is tested, not learning (objective 0.0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pr1bench.sweep.driver import Driver, SweepOptions
from pr1bench.sweep.spec import load_sweep
from tests.sweep.conftest import write_sweep

pytestmark = pytest.mark.slow

REAL = """base:
  task: counting
  variant: grpo
  model: {model}
  trainer: {{max_steps: 2, per_device_train_batch_size: 4, num_generations: 2, logging_steps: 1, save_steps: 1000}}
  data: {{train: 8}}
  generation: {{max_new_tokens: 4}}
  eval: {{n: 2, batch_size: 2, every_steps: 1, n_intermediate: 2}}
objective: {{metric: acc}}
study:
  n_trials: 2
  sampler: {{name: TPESampler, seed: 0}}
  pruner: {{name: MedianPruner, args: {{n_startup_trials: 5}}}}
  max_retries: 1
search_space:
  trainer.beta: {{type: float, low: 0.0, high: 0.1}}
"""


@pytest.fixture(scope="module")
def raw_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny"
    subprocess.run(
        [sys.executable, "-m", "pr1bench.train.build_tiny", str(out)], check=True, capture_output=True
    )
    return out


def test_real_trial_killed_is_retried_and_sweep_completes(results_dir, sweeps_dir, raw_model):
    write_sweep(sweeps_dir, "real", REAL.format(model=raw_model))
    spec, task = load_sweep("real")
    killed: list[int] = []

    def killer() -> None:  # kill -9 the first training child as soon as it has written its pid
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for rj in (results_dir / "runs").glob("*/run.json"):
                try:
                    pid = json.loads(rj.read_text()).get("pid")
                except ValueError:
                    continue
                if pid:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.2)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    res = Driver(spec, task, SweepOptions(jobs=1)).run()
    t.join()
    assert killed and res.finished == 2 and res.aborted is None
    states = [r.state for r in res.rows]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2
    failed = next(r for r in res.rows if r.state == "FAIL")
    assert "signal 9" in (failed.error or "")
    assert all(r.value == 0.0 for r in res.rows if r.state == "COMPLETE")  # random init: 0.0, never NaN
    from pr1bench.store import query

    runs = query("SELECT status, sweep, trial FROM runs ORDER BY trial")
    assert sorted(runs["status"]) == ["completed", "completed", "killed"] or "failed" in set(runs["status"])
