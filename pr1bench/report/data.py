"""Everything the report reads, fetched from DuckDB in a handful of aggregated queries on one connection.

The report never loads raw metric rows into Python: averaging repeated runs of one seed, grouping buckets and
averaging reward curves over runs all happen in SQL, so a database of millions of rows still renders in well
under a second. Only per-seed values (a few per variant), per-run configs (for ablations) and the small sweep
tables come back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

SPLIT = "eval"
REWARD_COLUMNS = ("reward_sampled", "reward_greedy")
ABLATION_EXTRA = ("AP", "AP50", "AP75")
_BASE = "r.status = 'completed' AND e.split = ? AND e.value IS NOT NULL"


@dataclass
class ReportData:
    """The report's inputs as small DataFrames (see each query for its columns)."""

    primary: dict[str, str]  # task -> metric the tables use
    seeds: pd.DataFrame  # task, task_version, variant, metric, seed, value, protocol (bucket 'all', outside sweeps)
    buckets: pd.DataFrame  # task, variant, bucket, seed, value, n           (the task's metric per bucket)
    bucket_ns: pd.DataFrame  # task, bucket, n, count                         (object-count histogram per bucket)
    task_stats: pd.DataFrame  # task, task_version, mean_fact, mean_log_fact, median_fact, n_samples
    runs: pd.DataFrame  # completed runs: run_id, task, variant, seed, sweep, trial, config, model_identity
    run_metrics: pd.DataFrame  # run_id, metric, value (bucket 'all') for ablations
    curves: pd.DataFrame  # task, variant, step, value, runs                   (mean train `reward` by step)
    sweeps: pd.DataFrame  # sweeps table
    trials: pd.DataFrame  # trials table
    sample_scores: pd.DataFrame | None = None  # task, variant, bucket, sample_id, score (single-seed fallback)
    task_filter: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> list[str]:
        """Every task with a completed run, in name order."""
        return sorted(set(self.runs["task"])) if len(self.runs) else []


def _placeholders(items: list[str]) -> str:
    return ", ".join("?" for _ in items) or "NULL"


def _task_clause(tasks: list[str] | None) -> tuple[str, list[str]]:
    if not tasks:
        return "", []
    return f" AND r.task IN ({_placeholders(tasks)})", list(tasks)


def primary_metrics(tasks: list[str], metric: str | None = None) -> dict[str, str]:
    """Each task's metric for the tables: ``metric`` if given, else the task YAML's ``primary_metric``.

    A task whose YAML is gone (renamed, or a run from another checkout) falls back to ``sample_score``, the
    per-sample score every evaluation writes.
    """
    from pr1bench.spec import load_task

    out = {}
    for task in tasks:
        if metric:
            out[task] = metric
            continue
        try:
            out[task] = load_task(task).primary_metric
        except Exception:  # a missing/invalid YAML must not stop the report
            out[task] = "sample_score"
    return out


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pd.DataFrame:
    return con.execute(sql, params).df()


def _runs(con: duckdb.DuckDBPyConnection, tasks: list[str] | None) -> pd.DataFrame:
    """Completed runs; ``model_identity`` is the recorded one, else derived from ``model`` (older runs)."""
    from pr1bench.report.models import run_identity

    where, params = _task_clause(tasks)
    df = _df(con, "SELECT run_id, task, task_version, variant, seed, sweep, trial, config, packages, model, "
                  "json_extract(extra, '$.model_identity') AS model_identity FROM runs r "
                  f"WHERE r.status = 'completed'{where} ORDER BY run_id", params)
    df["config"] = [json.loads(c) if isinstance(c, str) else (c or {}) for c in df["config"]]
    idents = zip(df["model"], df["model_identity"], strict=True)
    df["model_identity"] = [run_identity(model, recorded) for model, recorded in idents]
    return df


def _seeds(con: duckdb.DuckDBPyConnection, primary: dict[str, str]) -> pd.DataFrame:
    pairs = [(t, m) for t, m in primary.items()] + [(t, m) for t in primary for m in REWARD_COLUMNS]
    values = ", ".join("(?, ?)" for _ in pairs) or "(NULL, NULL)"
    sql = f"""
        WITH wanted(task, metric) AS (VALUES {values})
        SELECT r.task, r.task_version, r.variant, e.metric, r.seed, avg(e.value) AS value, count(*) AS runs,
               coalesce(json_extract_string(r.config, '$.task.eval.protocol'), 'pr1bench') AS protocol
        FROM eval_metrics e JOIN runs r USING (run_id) JOIN wanted w ON w.task = r.task AND w.metric = e.metric
        WHERE {_BASE} AND e.bucket = 'all' AND r.sweep IS NULL
        GROUP BY ALL ORDER BY ALL"""
    return _df(con, sql, [x for p in pairs for x in p] + [SPLIT])


def _buckets(con: duckdb.DuckDBPyConnection, primary: dict[str, str]) -> pd.DataFrame:
    pairs = list(primary.items())
    values = ", ".join("(?, ?)" for _ in pairs) or "(NULL, NULL)"
    sql = f"""
        WITH wanted(task, metric) AS (VALUES {values})
        SELECT r.task, r.variant, e.bucket, r.seed, avg(e.value) AS value, max(e.n) AS n
        FROM eval_metrics e JOIN runs r USING (run_id) JOIN wanted w ON w.task = r.task AND w.metric = e.metric
        WHERE {_BASE} AND e.bucket <> 'all' AND r.sweep IS NULL
        GROUP BY ALL ORDER BY ALL"""
    return _df(con, sql, [x for p in pairs for x in p] + [SPLIT])


def _bucket_ns(con: duckdb.DuckDBPyConnection, tasks: list[str] | None) -> pd.DataFrame:
    where, params = _task_clause(tasks)
    sql = f"""
        SELECT r.task, s.bucket, s.n, count(*) AS count
        FROM samples s JOIN runs r USING (run_id)
        WHERE r.status = 'completed' AND s.split = ? AND s.n IS NOT NULL AND s.bucket IS NOT NULL
              AND r.sweep IS NULL{where}
        GROUP BY ALL ORDER BY ALL"""
    return _df(con, sql, [SPLIT, *params])


def _run_metrics(con: duckdb.DuckDBPyConnection, primary: dict[str, str], tasks: list[str] | None) -> pd.DataFrame:
    metrics = sorted(set(primary.values()) | set(ABLATION_EXTRA))
    where, params = _task_clause(tasks)
    sql = f"""
        SELECT e.run_id, e.metric, e.value FROM eval_metrics e JOIN runs r USING (run_id)
        WHERE {_BASE} AND e.bucket = 'all' AND e.metric IN ({_placeholders(metrics)}){where}"""
    return _df(con, sql, [SPLIT, *metrics, *params])


def _curves(con: duckdb.DuckDBPyConnection, tasks: list[str] | None) -> pd.DataFrame:
    where, params = _task_clause(tasks)
    sql = f"""
        SELECT r.task, r.variant, t.step, avg(t.value) AS value, count(DISTINCT t.run_id) AS runs
        FROM train_metrics t JOIN runs r USING (run_id)
        WHERE t.name = 'reward' AND r.status = 'completed' AND r.sweep IS NULL{where}
        GROUP BY ALL ORDER BY ALL"""
    return _df(con, sql, params)


def _sample_scores(con: duckdb.DuckDBPyConnection, seeds: pd.DataFrame) -> pd.DataFrame | None:
    """Per-sample scores of the variants that have one seed only: gains then resample samples instead."""
    counts = seeds.groupby(["task", "variant"])["seed"].nunique()
    pairs = [k for k, v in counts.items() if v == 1 and k[1] in ("base", "sft", "grpo")]
    if not pairs:
        return None
    values = ", ".join("(?, ?)" for _ in pairs)
    sql = f"""
        WITH wanted(task, variant) AS (VALUES {values})
        SELECT r.task, r.variant, s.bucket, s.sample_id, avg(s.score) AS score
        FROM samples s JOIN runs r USING (run_id) JOIN wanted w ON w.task = r.task AND w.variant = r.variant
        WHERE r.status = 'completed' AND r.sweep IS NULL AND s.split = ? AND s.score IS NOT NULL
        GROUP BY ALL"""
    return _df(con, sql, [x for p in pairs for x in p] + [SPLIT])


def load(*, tasks: list[str] | None = None, metric: str | None = None, sweep: str | None = None,
         db: Path | str | None = None) -> ReportData:
    """Read the report's inputs (read-only; raises the store's NoResultsError when there is no database)."""
    from pr1bench.store import read_connection

    with read_connection(db) as con:
        runs = _runs(con, tasks)
        primary = primary_metrics(sorted(set(runs["task"])), metric)
        sweep_where, sweep_params = ("WHERE name = ?", [sweep]) if sweep else ("", [])
        trial_where = "WHERE sweep = ?" if sweep else ""
        seeds = _seeds(con, primary)
        return ReportData(
            primary=primary, seeds=seeds, sample_scores=_sample_scores(con, seeds), buckets=_buckets(con, primary),
            bucket_ns=_bucket_ns(con, tasks),
            task_stats=_df(con, "SELECT * FROM task_stats WHERE split = ? ORDER BY task, task_version", [SPLIT]),
            runs=runs, run_metrics=_run_metrics(con, primary, tasks), curves=_curves(con, tasks),
            sweeps=_df(con, f"SELECT * FROM sweeps {sweep_where} ORDER BY name", sweep_params),
            trials=_df(con, f"SELECT * FROM trials {trial_where} ORDER BY sweep, number", sweep_params),
            task_filter=tasks,
        )  # fmt: skip
