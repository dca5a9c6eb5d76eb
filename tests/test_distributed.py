"""Fast checks of the distributed plumbing: the launch command and layout, rank rules, fault classification,
worker records, what `runs show` and the study compute table print, and the trackers (one real in-process
training that writes TensorBoard event files, read back here). The real multi-process runs are in
tests/train/test_distributed_slow.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pr1bench.launch import build_command, planned_layout, prepare_run, rank_signals, read_run
from pr1bench.runner import build_spec
from pr1bench.spec import ConfigError

# torchrun's failure summary as it appears in train.log when rank 1 was kill -9'd (copied from a real run here)
TORCHRUN_SUMMARY = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
pr1bench.train FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-03_17:06:20
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 11485)  (SIGTERM)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 11485
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-03_17:06:20
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 11486)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 11486
============================================================
"""


def _spec(*overrides: str, variant: str = "grpo"):
    return build_spec("counting", variant, list(overrides), check_trl=False)


def test_cpu_with_two_processes_launches_through_torchrun_config(tmp_path):
    spec, _ = _spec("launch.num_processes=2", "launch.dist_timeout_s=45")
    cmd = build_command(spec, tmp_path / "run")
    cfg = cmd[cmd.index("--config_file") + 1]
    assert cfg.endswith("accelerate_configs/multi_cpu.yaml")
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert "--dist_timeout_s" not in cmd  # ours, not an accelerate option
    assert cmd[cmd.index("--main_process_port") + 1] == "0"  # accelerate picks a free port per launch
    one, _ = _spec()
    assert build_command(one, tmp_path / "run")[cmd.index("--config_file") + 1].endswith("accelerate_configs/cpu.yaml")
    machines, _ = _spec("launch.num_machines=2", "launch.machine_rank=1", "launch.main_process_ip=127.0.0.1",
                        "launch.main_process_port=29511")
    mcmd = build_command(machines, tmp_path / "run")
    assert mcmd[mcmd.index("--config_file") + 1].endswith("multi_cpu.yaml")
    assert mcmd[mcmd.index("--machine_rank") + 1] == "1"


def test_planned_layout_is_in_run_json(results_dir):
    spec, task = _spec("launch.num_processes=4", "launch.num_machines=2")
    rec = read_run(prepare_run(spec, task, model_path="Qwen/Qwen2-VL-2B-Instruct"))
    d = rec["distributed"]
    assert d["world_size"] == 4 and d["num_machines"] == 2 and d["processes_per_machine"] == 2
    assert d["distributed_type"] == "MULTI_CPU" and d["backend"] == "gloo" and d["planned"] is True
    single = read_run(prepare_run(*_spec(), model_path="Qwen/Qwen2-VL-2B-Instruct"))["distributed"]
    assert single["world_size"] == 1 and single["backend"] is None and single["distributed_type"] == "NO"
    ddp, _ = _spec("launch.num_processes=8")
    ddp = ddp.model_copy(update={"accelerate": "ddp"})
    assert planned_layout(ddp)["backend"] == "nccl" and planned_layout(ddp)["distributed_type"] == "MULTI_GPU"


def test_torchrun_summary_names_the_killed_rank_first(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("some output\n" + TORCHRUN_SUMMARY)
    assert rank_signals(log) == [(1, 9), (0, 15)]
    log.write_text("Traceback ...\nValueError: bad\n")
    assert rank_signals(log) == []
    # rank 0 raised (exit code 1) and torchrun then stopped rank 1: a failure, not a kill
    raised = TORCHRUN_SUMMARY.replace("-9 (pid: 11486)  (SIGKILL)", "1 (pid: 11486)").replace("rank      : 1", "rank      : 2")
    log.write_text(raised)
    assert rank_signals(log) == []
    assert rank_signals(tmp_path / "missing.log") == []


def test_single_process_layout_and_rank_rules(monkeypatch):
    from pr1bench.train import dist, entry

    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert dist.is_main() and not dist.is_distributed() and entry.writes_record()
    assert dist.describe()["world_size"] == 1 and dist.describe()["distributed_type"] == "NO"
    assert dist.broadcast({"a": 1}) == {"a": 1}  # no process group: the object itself
    dist.barrier()  # a no-op, must not raise
    # rank 1 on machine 0 writes nothing; local rank 0 of machine 1 writes its worker record
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("GROUP_RANK", "1")
    assert not dist.is_main() and entry.writes_record() and dist.needs_own_copy() and dist.num_machines() == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("GROUP_RANK", "0")
    assert not entry.writes_record() and not dist.needs_own_copy() and dist.num_machines() == 1


def test_failure_status_calls_a_lost_peer_killed(monkeypatch):
    from pr1bench.train.entry import failure_status

    monkeypatch.setenv("WORLD_SIZE", "2")
    lost = RuntimeError("[../gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:30375")
    assert failure_status(lost) == "killed"
    assert failure_status(SystemExit("stopped by signal 15")) == "killed"
    assert failure_status(ValueError("a real bug")) == "failed"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert failure_status(lost) == "failed"  # one process has no peer to lose


def test_resume_with_another_world_size_is_refused(results_dir, monkeypatch):
    from pr1bench.launch import update_run
    from pr1bench.train.entry import _start

    spec, task = _spec()
    run_dir = prepare_run(spec, task, model_path="Qwen/Qwen2-VL-2B-Instruct")
    rec = update_run(run_dir, distributed={"world_size": 2, "num_machines": 1})
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(RuntimeError, match="world size 2; this resume has 1"):
        _start(run_dir, rec, resume=True)
    _start(run_dir, rec, resume=False)  # a fresh start records the new layout
    assert read_run(run_dir)["distributed"]["world_size"] == 1 and read_run(run_dir)["status"] == "running"


def test_worker_record_is_not_ingested_and_layout_shows(results_dir):
    from pr1bench.cli.store_cmds import run_layout
    from pr1bench.cli.study_cmds import layout_label
    from pr1bench.store import ingest_many

    spec, task = _spec()
    worker = prepare_run(spec, task, model_path="Qwen/Qwen2-VL-2B-Instruct")
    rec = read_run(worker)
    rec.update(role="worker", main_run="counting-grpo-s0-main", status="completed",
               distributed={"world_size": 2, "num_machines": 2, "machine_rank": 1})
    (worker / "run.json").write_text(json.dumps(rec))
    (result,) = ingest_many([worker])
    assert result.run_id is None and "worker record of machine 1" in result.error
    assert "counting-grpo-s0-main" in result.error
    lay = {"world_size": 2, "num_machines": 2, "processes_per_machine": 1, "distributed_type": "MULTI_CPU",
           "backend": "gloo"}
    shown = run_layout({"extra": json.dumps({"distributed": lay})})
    assert shown["world_size"] == 2 and shown["backend"] == "gloo" and shown["recorded"]
    assert run_layout({"extra": None})["world_size"] is None
    assert layout_label(json.dumps(lay)) == "2 x gloo (MULTI_CPU, 2 machines)"
    assert layout_label(None) == "1 process"


def test_compute_table_has_the_process_layout():
    from pr1bench.study.render import compute_table

    c = {"steps": 4, "sequences": 64, "tokens": 1000, "seconds": 2.0, "layout": "2 x gloo (MULTI_CPU)"}
    lines = compute_table({"counting": {"grpo": c}}, ["counting"])
    assert any("processes" in x for x in lines) and any("2 x gloo (MULTI_CPU)" in x for x in lines)


def test_report_to_is_validated_and_defaults_to_none():
    from pr1bench.runspec import report_to_list

    assert report_to_list(None) == [] and report_to_list("none") == [] and report_to_list(["none"]) == []
    assert report_to_list("tensorboard,wandb") == ["tensorboard", "wandb"]
    assert _spec("report_to=tensorboard")[0].trainer["report_to"] == "tensorboard"
    with pytest.raises(ConfigError, match="Did you mean 'tensorboard'"):
        _spec("report_to=tensorbord")
    with pytest.raises(ConfigError, match="sft_trainer.report_to"):
        _spec("sft_trainer.report_to=mlflow", variant="sft-grpo")


def test_tensorboard_event_files_hold_the_training_curve(results_dir, raw_tiny, monkeypatch):
    """A real (in-process, 1 process) SFT run with report_to=tensorboard; its event files are read back."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pr1bench.train import entry

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "unset")  # restored after the test (entry sets it per phase)
    spec, task = build_spec("counting", "sft", ["report_to=tensorboard", "max_steps=3", "logging_steps=1",
                                                "per_device_train_batch_size=4", "data.train=16", "eval.n=4",
                                                "eval.batch_size=4", "generation.max_new_tokens=6"])
    run_dir = prepare_run(spec, task, model_path=str(raw_tiny))
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "PR1BENCH_RESUME"):
        monkeypatch.delenv(k, raising=False)
    entry.run(run_dir)
    assert read_run(run_dir)["status"] == "completed"
    events = list((run_dir / "tensorboard" / "sft").glob("events.out.tfevents.*"))
    assert events, sorted(os.listdir(run_dir))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    loss = acc.Scalars("train/loss")
    ours = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    ours = {r["step"]: r["loss"] for r in ours if "loss" in r}
    assert [e.step for e in loss] == sorted(ours) == [1, 2, 3]
    for e in loss:  # the same curve in TensorBoard and in our metrics.jsonl (float32 in the event file)
        assert e.value == pytest.approx(ours[e.step], rel=1e-5)


def _stop_worker(rank: int, port: int, out: str) -> None:
    """One of two real gloo processes: rank 0 alone decides to stop; both must end up stopping."""
    import datetime as dt

    import torch.distributed as tdist
    from transformers import TrainerControl

    from pr1bench.train import dist

    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "2"})
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
                             timeout=dt.timedelta(seconds=30))
    seen = []
    for step in range(3):
        control = TrainerControl()
        control.should_training_stop = rank == 0 and step == 1
        for cb in dist.trainer_callbacks():
            cb.on_step_end(None, None, control)
        seen.append(control.should_training_stop)
    tdist.destroy_process_group()
    Path(out, f"rank{rank}.json").write_text(json.dumps(seen))


def test_a_stop_decided_on_one_rank_stops_every_rank(tmp_path):
    """Real 2-process gloo group: the stop agreement (last trainer callback) spreads rank 0's decision."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_stop_worker, args=(port, str(tmp_path)), nprocs=2, start_method="spawn", join=True)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == [False, True, False]
