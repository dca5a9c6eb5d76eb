"""Views (final_metrics, rl_gain, best_trials) and the sweep driver's upserts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pr1bench.store import StoreError, ingest_many, query, upsert_sweep, upsert_trial

MakeRun = Callable[..., Path]
# accuracy per (variant, seed): each variant's mean over seeds is the middle value
ACCURACY = {
    "base": (0.1, 0.3),
    "sft": (0.5, 0.7),
    "grpo": (0.6, 0.8),
    "sft-grpo": (0.7, 0.9),
    "cot-grpo": (0.4, 0.6),
}


def _acc(df, column: str) -> float:  # type: ignore[no-untyped-def]
    return float(df[column].iloc[0])


def test_final_metrics_has_one_row_per_run_and_metric(make_run: MakeRun) -> None:
    ingest_many([make_run("run-a"), make_run("run-b", variant="sft", seed=1)])
    df = query("SELECT run_id, metric, count(*) AS c FROM final_metrics GROUP BY ALL")
    assert set(df["c"]) == {1} and len(df) == 2 * 3
    row = query("SELECT * FROM final_metrics WHERE run_id = 'run-b' AND metric = 'accuracy'")
    assert (row["variant"][0], row["seed"][0], row["task"][0]) == ("sft", 1, "detection")


def test_rl_gain_means_over_seeds_and_differences(make_run: MakeRun) -> None:
    dirs = [
        make_run(f"{v}-s{s}", variant=v, seed=s, metric_value=ACCURACY[v][s])
        for v in ACCURACY
        for s in (0, 1)
    ]
    # Excluded: a failed run, a sweep trial, and a repeat of seed 0 (averaged into that seed, not a new seed).
    dirs.append(make_run("grpo-failed", variant="grpo", seed=2, status="failed", metric_value=0.0))
    dirs.append(make_run("grpo-trial", variant="grpo", seed=3, sweep="sw", trial=0, metric_value=0.0))
    dirs.append(make_run("sft-s0-again", variant="sft", seed=0, metric_value=0.5))
    ingest_many(dirs)
    df = query("SELECT * FROM rl_gain WHERE metric = 'accuracy'")
    assert len(df) == 1
    assert _acc(df, "base") == pytest.approx(0.2) and _acc(df, "sft") == pytest.approx(0.6)
    assert _acc(df, "grpo") == pytest.approx(0.7) and _acc(df, "n_grpo") == 2 and _acc(df, "n_sft") == 2
    assert _acc(df, "grpo_minus_sft") == pytest.approx(0.1)
    assert _acc(df, "sft_grpo_minus_sft") == pytest.approx(0.2)
    assert _acc(df, "cot_grpo_minus_sft") == pytest.approx(-0.1)
    assert _acc(df, "grpo_minus_base") == pytest.approx(0.5)
    assert _acc(df, "sft_grpo_minus_base") == pytest.approx(0.6)
    assert _acc(df, "cot_grpo_minus_base") == pytest.approx(0.3)


def test_best_trials_honours_direction(results_dir: Path) -> None:
    upsert_sweep("up", task="detection", objective_metric="coco_ap", direction="maximize", spec={"a": 1})
    upsert_sweep("down", task="counting", objective_metric="mae", direction="MINIMIZE")
    for number, value, state in ((0, 0.5, "COMPLETE"), (1, 0.9, "PRUNED"), (2, 0.7, "COMPLETE"), (3, 0.7, "COMPLETE"),
                                 (4, None, "FAIL")):  # fmt: skip
        upsert_trial("up", number, state=state, value=value, params={"beta": number})
        upsert_trial("down", number, state=state, value=value, params={"beta": number})
    df = query("SELECT sweep, number, value, direction FROM best_trials ORDER BY sweep")
    assert df.values.tolist() == [["down", 0, 0.5, "minimize"], ["up", 2, 0.7, "maximize"]]


def test_upserts_replace_and_keep_created_at(results_dir: Path) -> None:
    upsert_sweep("sw", task="t", objective_metric="m", direction="maximize")
    created = query("SELECT created_at FROM sweeps")["created_at"][0]
    upsert_sweep("sw", task="t", objective_metric="m2", direction="minimize")
    df = query("SELECT objective_metric, direction, created_at FROM sweeps")
    assert df.values.tolist() == [["m2", "minimize", created]]

    class State:  # an Optuna TrialState stand-in: only .name is used
        name = "COMPLETE"

    upsert_trial("sw", 0, state="RUNNING", started_at="2026-11-24T10:00:00Z")
    upsert_trial("sw", 0, state=State(), value=0.3, run_id="r0", started_at="2026-11-24T10:00:00Z",
                 ended_at="2026-11-24T11:00:00+01:00")  # fmt: skip
    t = query("SELECT state, value, run_id, ended_at FROM trials")
    assert (
        t.values.tolist()[0][:3] == ["COMPLETE", 0.3, "r0"] and str(t["ended_at"][0]) == "2026-11-24 10:00:00"
    )


def test_upsert_errors(results_dir: Path) -> None:
    with pytest.raises(StoreError, match="direction"):
        upsert_sweep("sw", task=None, objective_metric="m", direction="sideways")
    with pytest.raises(StoreError, match="unknown sweep"):
        upsert_trial("nope", 0, state="RUNNING")
    upsert_sweep("sw", task=None, objective_metric="m", direction="maximize")
    with pytest.raises(StoreError, match="state"):
        upsert_trial("sw", 0, state="DONE")
