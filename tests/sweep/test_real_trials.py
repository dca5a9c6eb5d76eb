"""Real tiny-model trials through `accelerate launch -m pr1bench.train` (slow: ~20 s a trial on 2 CPU cores).

Random-init model, one GRPO step, a 2-sample eval: the harness is tested, not learning (objective 0.0).
Nothing is faked: kill -9 hits the real training process group or the real `pr1bench sweep` driver process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr1bench.cli.main import app
from pr1bench.sweep.driver import Driver, SweepOptions
from pr1bench.sweep.spec import load_sweep

pytestmark = pytest.mark.slow

runner = CliRunner()


def _cli_json(*args: str) -> object:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _status(name: str) -> list[dict]:
    return _cli_json("sweep", "status", name, "--json")  # type: ignore[return-value]


def _db_trials(name: str) -> list[dict]:
    return _cli_json(  # type: ignore[return-value]
        "sql",
        f"SELECT number, state, value, run_id, error FROM trials WHERE sweep = '{name}' ORDER BY number",
        "--format",
        "json",
    )


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def test_real_trial_killed_is_retried_and_sweep_completes(results_dir, real_sweep):
    """kill -9 of a training child: that trial FAILs with the signal as reason, is retried with the same
    parameters, and the sweep still reaches N finished trials; enqueued settings run first; intermediate evals
    reach Optuna; trials and runs land in DuckDB."""
    real_sweep(
        n=2,
        intermediate=True,
        pruner="{name: MedianPruner, args: {n_startup_trials: 5}}",
        extra="enqueue: [{trainer.beta: 0.05}]\n",
    )
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
    assert killed, "the training child never wrote its pid"
    assert res.finished == 2 and res.aborted is None, res
    assert [r.state for r in res.rows] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert "signal 9" in (res.rows[0].error or "") and "(retrying)" in (res.rows[0].error or "")
    assert all(r.value == 0.0 for r in res.rows if r.state == "COMPLETE")  # random init: 0.0, never NaN
    assert res.best is not None and res.best.value == 0.0
    assert not res.warnings, res.warnings

    trials = _status("real")
    assert [t["state"] for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0]["params"] == {"trainer.beta": 0.05}  # the YAML's enqueued setting went first
    assert "signal 9" in trials[0]["error"]
    retry = trials[1]
    assert retry["params"] == trials[0]["params"] and retry["attempt"] == 1
    assert trials[2]["params"] != trials[0]["params"] and trials[2]["attempt"] == 0
    from pr1bench.sweep.study import load_study

    study = load_study("real")
    assert study.trials[1].user_attrs["retry_of"] == 0
    for t_ in trials[1:]:  # the eval/acc lines of the real intermediate evaluation were reported to Optuna
        assert t_["intermediate"] and all(v == 0.0 for v in t_["intermediate"].values())

    runs = {r["run_id"]: r for r in trials}
    for number, t_ in enumerate(trials):
        rec = _run_json(results_dir / "runs" / t_["run_id"])
        assert rec["sweep"] == "real" and rec["trial"] == number
        assert rec["status"] in (("completed",) if number else ("failed", "killed")), rec
    db = _db_trials("real")
    assert [(r["number"], r["state"]) for r in db] == [(0, "FAIL"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert {r["run_id"] for r in db} == set(runs)
    assert [r["value"] for r in db] == [None, 0.0, 0.0]
    ingested = _cli_json(
        "sql",
        "SELECT run_id, status, sweep, trial FROM runs WHERE sweep = 'real' ORDER BY trial",
        "-f",
        "json",
    )
    assert [r["trial"] for r in ingested] == [0, 1, 2] and ingested[0]["status"] in ("failed", "killed")
    assert [r["status"] for r in ingested[1:]] == ["completed", "completed"]


def test_driver_kill9_then_resume_finishes_exactly_n(results_dir, real_sweep):
    """kill -9 of the `pr1bench sweep` driver (its whole process group) while a trial is RUNNING, then
    `--resume`: the orphaned trial is failed and re-queued, exactly N trials finish, nothing stays RUNNING in
    the Optuna journal or in DuckDB, and the orphaned training child does not survive."""
    real_sweep("drv", n=5)  # the YAML says 5; --trials 2 is the target
    cmd = [sys.executable, "-m", "pr1bench.cli.main", "sweep", "drv", "--trials", "2"]
    log = results_dir.parent / "driver.log"
    with log.open("wb") as out:
        driver = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    leases = results_dir / "optuna" / "drv.leases"
    child: dict = {}
    deadline = time.time() + 180
    while time.time() < deadline and not child:  # wait for a RUNNING trial whose training child is up
        assert driver.poll() is None, log.read_text()[-3000:]
        for lp in leases.glob("*.json"):
            try:
                lease = json.loads(lp.read_text())
                pid = _run_json(Path(lease["run_dir"])).get("pid") if lease.get("run_dir") else None
            except (OSError, ValueError):
                continue
            if pid:
                child = {"pid": pid, "run_dir": Path(lease["run_dir"]), "number": lease["number"]}
        time.sleep(0.2)
    assert child, "the driver never started a training child:\n" + log.read_text()[-3000:]
    assert [t["state"] for t in _status("drv")] == ["RUNNING"]
    os.killpg(driver.pid, signal.SIGKILL)
    assert driver.wait() == -signal.SIGKILL

    assert [t["state"] for t in _status("drv")] == ["RUNNING"]  # orphaned in the journal
    r = runner.invoke(app, ["sweep", "drv"])  # the study exists: --resume is required
    assert r.exit_code == 2 and "--resume" in r.output, r.output

    resumed = subprocess.run(
        [*cmd, "--resume", "--json"], capture_output=True, text=True, timeout=400, start_new_session=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout[resumed.stdout.index("{") :])
    assert out["finished"] == 2 and out["aborted"] is None, out
    assert "no longer alive" in resumed.stderr  # the recovery was reported

    trials = _status("drv")
    states = [t["state"] for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 2 and "RUNNING" not in states, trials
    assert states == ["FAIL", "COMPLETE", "COMPLETE"], trials
    orphan = trials[child["number"]]
    assert "no longer alive" in orphan["error"]
    assert trials[1]["params"] == orphan["params"] and trials[1]["attempt"] == 1  # re-queued, same settings
    assert not list(leases.glob("*.json"))

    db = _db_trials("drv")
    assert [(r["number"], r["state"]) for r in db] == [(t["number"], t["state"]) for t in trials]
    assert "RUNNING" not in {r["state"] for r in db}

    assert not _pid_alive(child["pid"]), "the orphaned training child outlived the driver"
    assert _run_json(child["run_dir"])["status"] in ("killed", "failed")

    best = _cli_json("sweep", "best", "drv", "--json")
    assert (
        best["value"] == 0.0 and " beta=" in best["command"] and best["command"].startswith("pr1bench train")
    )
    ls = {x["sweep"]: x for x in _cli_json("sweep", "ls", "--json")}  # type: ignore[union-attr]
    assert ls["drv"]["finished"] == 2 and ls["drv"]["ok"]


def test_missing_objective_fails_never_completes(results_dir, real_sweep):
    """A real trial that trains and evaluates fine but has no objective value (objective.split names an eval
    file the run does not write) is FAIL, never COMPLETE; with one grid point and no retries the sweep stops."""
    real_sweep(
        "miss",
        n=1,
        sampler="GridSampler",
        space="{type: categorical, choices: [0.05]}",
        split="heldout",
        max_retries=0,
    )
    spec, task = load_sweep("miss")
    res = Driver(spec, task, SweepOptions()).run()
    assert res.finished == 0 and res.aborted and "grid is exhausted" in res.aborted, res
    assert [r.state for r in res.rows] == ["FAIL"] and res.best is None
    trials = _status("miss")
    assert [t["state"] for t in trials] == ["FAIL"] and trials[0]["value"] is None
    assert "eval-heldout.json" in trials[0]["error"]
    assert (
        _run_json(results_dir / "runs" / trials[0]["run_id"])["status"] == "completed"
    )  # the run itself was fine
    assert [(r["state"], r["value"]) for r in _db_trials("miss")] == [("FAIL", None)]
