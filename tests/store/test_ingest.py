"""Ingest: what lands in each table, idempotence, truncated logs, bad runs, deletion."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from store_factory import TRAIN_NAMES

from pr1bench.store import (
    IngestError,
    delete_run,
    find_run_dirs,
    get_run,
    ingest_many,
    ingest_run,
    query,
    record_task_stats,
)

MakeRun = Callable[..., Path]
RUN_TABLES = ("runs", "train_metrics", "evals", "eval_metrics", "samples", "sample_rewards")


def _snapshot(run_id: str) -> dict[str, list[tuple]]:
    """Every row of a run, sorted, without the ingest timestamp."""
    out = {}
    for table in RUN_TABLES:
        df = query(f"SELECT * FROM {table} WHERE run_id = ?", [run_id])
        df = df.drop(columns=[c for c in ("ingested_at",) if c in df.columns])
        out[table] = sorted(map(repr, df.itertuples(index=False)))
    return out


def test_ingest_fills_every_table(make_run: MakeRun) -> None:
    res = ingest_run(make_run("run-a", steps=20, eval_every=10))
    # 20 steps x 10 names + 2 eval/accuracy points - the NaN (kl) and the null (entropy) on step 3
    assert res.ok and res.rows["train_metrics"] == 20 * len(TRAIN_NAMES) + 2 - 2
    assert res.skipped_values == 1  # the NaN; nulls are dropped without counting
    assert res.rows["eval_metrics"] == 3 + 2 and res.rows["samples"] == 12
    assert res.rows["sample_rewards"] == 12 + 8  # box_iou for all, format null on every third sample
    run = get_run("run-a")
    assert run is not None
    prov = run["run"]
    assert prov["config"]["trainer"]["beta"] == 0.04 and prov["packages"]["trl"] == "1.16.0"
    assert (prov["task_version"], prov["min_pixels"], prov["coords"]) == ("1", 3136, "absolute_pixels")
    assert str(prov["started_at"]) == "2026-11-24 10:00:00"
    em = query("SELECT metric, bucket, value, ci_lo FROM eval_metrics ORDER BY metric, bucket")
    assert em.loc[(em.metric == "undefined_metric"), "value"].isna().all()  # NaN metric kept as NULL
    assert em.loc[(em.metric == "accuracy") & (em.bucket == "all"), "ci_lo"].notna().all()
    phases = query("SELECT DISTINCT phase FROM train_metrics")["phase"].tolist()
    assert phases == ["grpo"]
    assert query("SELECT count(*) AS c FROM task_stats")["c"][0] == 1


def test_ingesting_twice_gives_the_same_rows(make_run: MakeRun) -> None:
    run_dir = make_run("run-a")
    ingest_run(run_dir)
    first = _snapshot("run-a")
    ingest_run(run_dir)
    assert _snapshot("run-a") == first


def test_truncated_last_line_is_reported_and_the_rest_ingested(make_run: MakeRun) -> None:
    res = ingest_run(make_run("run-a", steps=30, truncate_last=True))
    assert res.ok and res.broken_lines == [31]
    assert any("line 31" in w for w in res.warnings)
    assert query("SELECT max(step) AS s FROM train_metrics")["s"][0] == 30
    notes = get_run("run-a")["run"]["ingest_notes"]  # type: ignore[index]
    assert any("line 31" in n for n in notes)


def test_broken_middle_line_and_stepless_line_are_reported(make_run: MakeRun) -> None:
    run_dir = make_run("run-a", steps=5)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, '{"step": 99, "loss": \n')
    lines.insert(4, '{"loss": 1.0}\n')
    lines.insert(5, "\n")
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    res = ingest_run(run_dir)
    assert res.broken_lines == [3, 5]
    assert "no numeric step" in " ".join(res.warnings)
    assert query("SELECT count(DISTINCT step) AS n FROM train_metrics")["n"][0] == 5


def test_non_numeric_values_are_skipped_not_fatal(make_run: MakeRun) -> None:
    run_dir = make_run("run-a", steps=2, with_eval=False)
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(
            json.dumps({"step": 3, "loss": "oops", "reward": [1], "kl": 0.5, "entropy": "Infinity"}) + "\n"
        )
    res = ingest_run(run_dir)
    assert res.ok and res.broken_lines == []
    assert res.skipped_values == 3  # steps=2: the fixture NaN (step 3) is not there
    assert query("SELECT name FROM train_metrics WHERE step = 3")["name"].tolist() == ["kl"]


def test_run_without_eval_or_metrics(make_run: MakeRun) -> None:
    run_dir = make_run("run-a", status="running", with_eval=False)
    (run_dir / "metrics.jsonl").unlink()
    res = ingest_run(run_dir)
    assert res.rows == {"runs": 1}
    assert get_run("run-a")["run"]["ended_at"] is None  # type: ignore[index]


def test_reingest_replaces_a_running_run(make_run: MakeRun) -> None:
    ingest_run(make_run("run-a", status="running", steps=5, with_eval=False))
    res = ingest_run(make_run("run-a", status="completed", steps=10))
    assert res.rows["train_metrics"] == query("SELECT count(*) AS c FROM train_metrics")["c"][0]
    assert query("SELECT status FROM runs")["status"].tolist() == ["completed"]


def test_extra_eval_split_files(make_run: MakeRun) -> None:
    ingest_run(make_run("run-a", extra_splits=("ood",)))
    splits = query("SELECT DISTINCT split FROM eval_metrics ORDER BY split")["split"].tolist()
    assert splits == ["eval", "ood"]


def test_invalid_run_json_raises_and_many_goes_on(make_run: MakeRun, runs_root: Path) -> None:
    make_run("run-a")
    bad = runs_root / "run-bad"
    bad.mkdir()
    (bad / "run.json").write_text('{"run_id": "run-bad", "task": "x"')
    with pytest.raises(IngestError, match="not valid JSON"):
        ingest_run(bad)
    (runs_root / "run-c").mkdir()
    (runs_root / "run-c" / "run.json").write_text(json.dumps({"run_id": "run-c", "task": "t", "variant": "sft",
                                                              "status": "exploded"}))  # fmt: skip
    results = ingest_many([runs_root])
    by_dir = {Path(r.run_dir).name: r for r in results}
    assert by_dir["run-a"].ok and not by_dir["run-bad"].ok and "status" in (by_dir["run-c"].error or "")
    assert query("SELECT run_id FROM runs")["run_id"].tolist() == ["run-a"]


def test_find_run_dirs_accepts_runs_and_parents(make_run: MakeRun, runs_root: Path, tmp_path: Path) -> None:
    a, b = make_run("run-a"), make_run("run-b")
    assert find_run_dirs([runs_root]) == [a, b]
    assert find_run_dirs([a, runs_root]) == [a, b]
    with pytest.raises(IngestError, match="neither a run directory"):
        find_run_dirs([tmp_path / "results"])  # runs live one level deeper
    with pytest.raises(IngestError, match="no such file"):
        find_run_dirs([tmp_path / "nope"])


def test_record_task_stats_overrides_the_eval_json_guess(make_run: MakeRun) -> None:
    ingest_run(make_run("run-a"))
    record_task_stats(
        "detection", 1, "eval", n_samples=300, mean_fact=2.0, mean_log_fact=0.5, median_fact=2.0
    )
    ingest_run(make_run("run-a"))  # eval.json complexity does not overwrite a recorded value
    df = query("SELECT n_samples, mean_fact FROM task_stats")
    assert df.values.tolist() == [[300, 2.0]]


def test_delete_run_and_its_files(make_run: MakeRun) -> None:
    a, b = make_run("run-a"), make_run("run-b")
    ingest_many([a, b])
    counts = delete_run("run-a")
    assert counts["runs"] == 1 and counts["train_metrics"] > 0
    for table in RUN_TABLES:
        assert query(f"SELECT count(*) AS c FROM {table} WHERE run_id = 'run-a'")["c"][0] == 0
    assert a.exists()
    delete_run("run-b", files=True)
    assert not b.exists()


def test_delete_files_refuses_a_directory_of_another_run(make_run: MakeRun) -> None:
    a = make_run("run-a")
    ingest_run(a)
    meta = json.loads((a / "run.json").read_text())
    (a / "run.json").write_text(json.dumps(meta | {"run_id": "someone-else"}))
    with pytest.raises(IngestError, match="not deleting"):
        delete_run("run-a", files=True)
    assert a.exists()


def test_samples_without_split_or_id_columns(make_run: MakeRun) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir = make_run("run-a")
    pq.write_table(pa.table({"correct": [True, False], "reward/iou": [0.5, float("nan")], "extra": [1, 2]}),
                   run_dir / "samples.parquet")  # fmt: skip
    res = ingest_run(run_dir)
    assert res.rows["samples"] == 2 and res.rows["sample_rewards"] == 1
    assert any("no split column" in w for w in res.warnings) and any(
        "no id column" in w for w in res.warnings
    )
    df = query("SELECT split, sample_id, correct, score FROM samples ORDER BY sample_id")
    assert df.values.tolist()[0][:3] == ["eval", "0", True]
