"""The driver's crash paths with a torch-free fake training child: fast enough for the default suite.

The fake child (tests/sweep/fake_train.py) is started by the real launch path, so kill -9, exit codes, run.json
marking, leases and re-queueing are the real thing; only the training itself is replaced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pr1bench.sweep.driver import Driver, SweepOptions
from pr1bench.sweep.spec import load_sweep

RUNNER = Path(__file__).with_name("fake_cli.py")


def _run(name, **opts):
    spec, task = load_sweep(name)
    return Driver(spec, task, SweepOptions(poll=0.05, **opts)).run()


def _study(name):
    from pr1bench.sweep.study import load_study

    return load_study(name)


def _states(name):
    return [t.state.name for t in _study(name).get_trials(deepcopy=False)]


def test_sweep_completes_and_records(results_dir, fake_sweep, fake_launch):
    fake_sweep(n=3)
    res = _run("fake", jobs=2)
    assert res.finished == 3 and res.aborted is None, res
    assert [r.state for r in res.rows] == ["COMPLETE"] * 3
    assert all(r.value == r.params["trainer.beta"] for r in res.rows)
    assert res.best.value == max(r.value for r in res.rows)
    assert not res.warnings, res.warnings
    from pr1bench.store import query

    trials = query(
        "SELECT t.number, t.state, r.sweep, r.trial FROM trials t JOIN runs r USING (run_id) "
        "WHERE t.sweep = 'fake' ORDER BY t.number"
    )
    assert list(trials["state"]) == ["COMPLETE"] * 3 and list(trials["trial"]) == [0, 1, 2]
    assert set(trials["sweep"]) == {"fake"}
    study = _study("fake")
    assert all(t.intermediate_values for t in study.trials)  # eval/acc lines were reported to Optuna
    run = json.loads((results_dir / "runs" / study.trials[0].user_attrs["run_id"] / "run.json").read_text())
    assert run["sweep"] == "fake" and run["trial"] == 0


def test_enqueued_trials_run_first(results_dir, fake_sweep, fake_launch, sweeps_dir):
    path = fake_sweep(n=2)
    path.write_text(path.read_text() + "enqueue: [{trainer.beta: 0.25}]\n")
    res = _run("fake")
    assert res.rows[0].params == {"trainer.beta": 0.25} and res.rows[0].value == 0.25
    assert res.rows[1].params != {"trainer.beta": 0.25}


def test_killed_trial_is_retried_and_sweep_completes(results_dir, fake_sweep, fake_launch):
    fake_launch(crash_once=True)
    fake_sweep(n=2)
    res = _run("fake", jobs=1)
    assert res.finished == 2 and res.aborted is None
    trials = _study("fake").trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 2 and all("signal 9" in t.user_attrs["error"] for t in failed)
    retries = [t for t in trials if t.user_attrs.get("retry_of") is not None]
    assert {t.user_attrs["retry_of"] for t in retries} == {t.number for t in failed}
    assert all(t.state.name == "COMPLETE" and t.user_attrs["attempt"] == 1 for t in retries)
    assert all(t.params == trials[t.user_attrs["retry_of"]].params for t in retries)


def test_nan_objective_fails_never_completes(results_dir, fake_sweep, fake_launch):
    fake_launch(nan=True)
    fake_sweep(n=1)
    res = _run("fake", max_retries=0)
    assert res.finished == 0 and res.aborted
    assert set(_states("fake")) == {"FAIL"}
    assert "NaN" in _study("fake").trials[0].user_attrs["error"]


def test_nan_intermediate_value_fails(results_dir, fake_sweep, fake_launch):
    fake_launch(nan_intermediate=True, sleep=1.0, steps=3)
    fake_sweep(n=1)
    res = _run("fake", max_retries=0)
    t = _study("fake").trials[0]
    assert t.state.name == "FAIL" and "intermediate eval/acc" in t.user_attrs["error"]
    assert res.finished == 0


def test_existing_study_needs_resume(results_dir, fake_sweep, fake_launch):
    from pr1bench.spec import ConfigError

    fake_sweep(n=1)
    _run("fake")
    with pytest.raises(ConfigError, match="--resume"):
        _run("fake")
    assert _run("fake", resume=True, trials=2).finished == 2


def test_driver_kill9_then_resume_finishes_exactly_n(results_dir, fake_sweep, fake_launch, tmp_path):
    fake_launch(sleep=30.0, steps=2)  # the first driver dies long before a trial can finish
    fake_sweep(n=3)
    env = {**os.environ, "PR1BENCH_RESULTS": str(results_dir)}
    cmd = [sys.executable, str(RUNNER), "sweep", "fake", "--jobs", "2", "--no-ingest"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    leases = results_dir / "optuna" / "fake.leases"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(leases.glob("*.json"))) < 2:
        time.sleep(0.1)
    time.sleep(1.0)  # let the children start
    children = [json.loads(p.read_text()) for p in leases.glob("*.json")]
    assert len(children) == 2, "the driver never started two trials"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert _states("fake").count("RUNNING") == 2

    fake_launch(sleep=0.0, steps=2)
    res = _run("fake", resume=True, jobs=2)
    states = _states("fake")
    assert states.count("COMPLETE") + states.count("PRUNED") == 3 and "RUNNING" not in states
    assert len(res.recovered) == 2 and all("no longer alive" in r[1] for r in res.recovered)
    assert not list(leases.glob("*.json"))
    for rec in children:  # the orphaned training children were killed, their runs marked
        if rec.get("run_dir"):
            run = json.loads((Path(rec["run_dir"]) / "run.json").read_text())
            assert run["status"] in ("killed", "failed"), run["status"]
