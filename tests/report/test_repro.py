"""Repro: tolerance parsing, the comparison, environment diffs, and loading references (no training)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pr1bench.report import repro as R


def test_compare_pass_fail_missing_and_new() -> None:
    checks = {c.metric: c for c in R.compare({"acc": 0.50, "AP": 0.30, "ned": math.nan, "f1": 0.9},
                                             {"acc": 0.54, "AP": 0.36, "ned": None, "extra": 1.0})}
    assert checks["acc"].status == "pass" and checks["acc"].diff == pytest.approx(0.04)
    assert checks["AP"].status == "FAIL" and checks["AP"].failed
    assert checks["ned"].status == "pass"  # undefined both times is reproduced
    assert checks["f1"].status == "missing" and checks["f1"].failed
    assert checks["extra"].status == "new" and not checks["extra"].failed


def test_tolerances_override_and_defaults() -> None:
    o = R.parse_tolerances(["acc=0.01", "*=0.2"])
    assert R.tolerance_for("acc", o) == 0.01 and R.tolerance_for("AP", o) == 0.2
    assert R.tolerance_for("AP") == R.DEFAULT_TOLERANCE == 0.05 and R.tolerance_for("reward_sampled") == 0.15
    assert R.compare({"acc": 0.5}, {"acc": 0.52}, o)[0].status == "FAIL"
    assert R.compare({"acc": 0.5}, {"acc": 0.55})[0].status == "pass"  # boundary is inclusive
    for bad in ("acc", "acc=x", "acc=-1", "=0.1"):
        with pytest.raises(ValueError):
            R.parse_tolerances([bad])


def test_env_diff() -> None:
    assert R.env_diff({"trl": "1.0"}, {"trl": "1.0"}) == []
    assert R.env_diff({"trl": "1.0"}, {"trl": "1.1", "vllm": "0.9"}) == [
        "trl: stored 1.0, now 1.1", "vllm: stored absent, now 0.9"]


def test_references_from_run_dirs_parquet_and_database(store: Path, tmp_path: Path) -> None:
    from pr1bench.store import export_parquet

    refs = R.from_directory(store / "runs")
    assert len(refs) == 22 and all(r.metrics for r in refs)
    export_parquet(tmp_path / "pq")
    by_id = {r.run_id: r for r in R.from_directory(tmp_path / "pq")}
    assert by_id["counting-grpo-s1"].metrics["acc"] == pytest.approx(0.56)
    assert by_id["counting-grpo-s1"].seed == 1 and by_id["counting-grpo-s1"].config["run"]["variant"] == "grpo"
    db = R.from_database(sweep="ablation-matching")
    assert len(db) == 4 and {r.variant for r in db} == {"grpo"}
    spec, task, warnings = R.prepare(R.from_database(run_id="counting-grpo-s1")[0])
    assert spec.seed == 1 and spec.sweep is None and task.task == "counting" and warnings == []


def test_missing_reference_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pr1bench export --parquet"):
        R.from_directory(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run directories"):
        R.from_directory(tmp_path / "empty")


def test_prepare_warns_on_task_version_change(store: Path) -> None:
    ref = R.from_database(run_id="counting-sft-s0")[0]
    ref.task_version = "0"
    assert "version" in R.prepare(ref)[2][0]
    ref.config = {"task": "x"}
    with pytest.raises(ValueError, match="no `run` section"):
        R.prepare(ref)
