"""The multi-machine path: RDB storage on a real PostgreSQL server on loopback, started by the test.

Skipped (with the reason) only when no PostgreSQL binaries or no psycopg2 are installed, or the server refuses to
start. Postgres will not run as root, so under root the data dir is handed to ``nobody`` and run via runuser.
Trials are real trainings of the raw tiny model (slow: two at a time on 2 CPU cores).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from pr1bench.sweep.driver import Driver, SweepOptions
from pr1bench.sweep.spec import load_sweep

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (pip install -e '.[dev]')")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="pr1bench-pg-")
    data = os.path.join(root, "data")
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root and runuser is missing: postgres refuses to run as root")
        os.chmod(root, 0o777)
        shutil.chown(root, "nobody")
        prefix = ["runuser", "-u", "nobody", "--"]
    init = subprocess.run(
        [*prefix, f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        capture_output=True,
        text=True,
    )
    if init.returncode:
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    port = _free_port()
    proc = subprocess.Popen(
        [*prefix, f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", root, "-h", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    import psycopg2

    deadline = time.time() + 60
    while True:
        try:
            psycopg2.connect(url).close()
            break
        except psycopg2.OperationalError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.skip(f"postgres did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    shutil.rmtree(root, ignore_errors=True)


def test_rdb_sweep_with_two_workers_and_heartbeat_recovery(results_dir, real_sweep, pg_url, monkeypatch):
    import optuna
    from optuna.trial import TrialState

    from pr1bench.sweep import study as st

    monkeypatch.setattr(st, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(st, "GRACE_PERIOD", 2)
    real_sweep("pg", n=2)
    spec, task = load_sweep("pg")
    # a worker on another machine died mid-trial: its heartbeat stopped
    storage = st.open_storage("pg", pg_url, max_retries=1)
    study = st.open_study(spec, storage)
    dead = study.ask({"trainer.beta": optuna.distributions.FloatDistribution(0.0, 0.1)})
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3)

    res = Driver(spec, task, SweepOptions(jobs=2, storage=pg_url, poll=0.05)).run()  # joins without --resume
    assert res.finished == 2 and res.aborted is None, res
    trials = optuna.load_study(study_name="pg", storage=st.open_storage("pg", pg_url)).trials
    assert trials[dead.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    # a second worker running the same command finds the target reached and exits at once
    again = Driver(spec, task, SweepOptions(storage=pg_url, poll=0.05)).run()
    assert again.finished == 2 and not again.rows
