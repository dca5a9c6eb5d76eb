"""Read-side API: ad-hoc SQL, run listings, one run's provenance, Parquet export.

Every function opens a read-only connection for as long as it needs and closes it, so readers never keep a
writer (an ingest, a sweep) waiting for longer than one query.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pr1bench.store.connection import friendly_readonly, read_connection

if TYPE_CHECKING:
    import pandas as pd

TABLES = (
    "runs", "train_metrics", "evals", "eval_metrics", "samples", "sample_rewards",
    "sweeps", "trials", "task_stats", "schema_migrations",
)  # fmt: skip
VIEWS = ("final_metrics", "best_trials", "rl_gain")
_RUN_LIST_COLUMNS = (  # model by its recorded identity (run.json model_identity), not its machine path
    "run_id, task, task_version, variant, "
    "coalesce(json_extract_string(extra, '$.model_identity.name'), model) AS model, "
    "seed, status, sweep, trial, started_at, "
    "round(date_diff('millisecond', started_at, ended_at) / 1000.0, 1) AS seconds"
)


def query(sql: str, params: list[Any] | None = None, *, db: Path | str | None = None) -> pd.DataFrame:
    """Run SQL over a read-only connection and return the last statement's result as a DataFrame.

    Raises:
        NoResultsError: no database yet.
        ReadOnlyError: the SQL tried to write.
    """
    import duckdb
    import pandas as pd

    with read_connection(db) as con:
        try:
            rel = con.execute(sql, params) if params else con.execute(sql)
            if rel.description is None:
                return pd.DataFrame()
            return rel.df()
        except duckdb.Error as e:
            friendly = friendly_readonly(e)
            if friendly is not None:
                raise friendly from e
            raise


def list_runs(
    *,
    task: str | None = None,
    variant: str | None = None,
    sweep: str | None = None,
    status: str | None = None,
    db: Path | str | None = None,
) -> pd.DataFrame:
    """Runs matching every given filter, newest first."""
    filters = {"task": task, "variant": variant, "sweep": sweep, "status": status}
    where = [f"{k} = ?" for k, v in filters.items() if v is not None]
    params = [v for v in filters.values() if v is not None]
    sql = f"SELECT {_RUN_LIST_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return query(sql + " ORDER BY started_at DESC NULLS LAST, run_id", params, db=db)


def get_run(run_id: str, *, db: Path | str | None = None) -> dict[str, Any] | None:
    """One run's provenance (JSON columns decoded), final metrics and a training summary; None if unknown."""
    with read_connection(db) as con:
        rel = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        cols = [d[0] for d in rel.description or []]
        rows = rel.fetchall()
        if not rows:
            return None
        row = rows[0]
        run = {c: _decode(c, v) for c, v in zip(cols, row, strict=True)}
        metrics = con.execute(
            "SELECT split, metric, value, n, ci_lo, ci_hi FROM final_metrics WHERE run_id = ? ORDER BY split, metric",
            [run_id],
        ).df()
        train = con.execute(
            """
            SELECT name, count(*) AS points, max(step) AS last_step, arg_max(value, step) AS last_value
            FROM train_metrics WHERE run_id = ? GROUP BY name ORDER BY name
            """,
            [run_id],
        ).df()
    return {"run": run, "final_metrics": metrics, "train_summary": train}


def _decode(column: str, value: Any) -> Any:
    if column in ("config", "packages", "extra", "ingest_notes") and isinstance(value, str):
        return json.loads(value)
    return value


def export_parquet(out_dir: Path | str, *, views: bool = False, db: Path | str | None = None) -> list[Path]:
    """Write every table (and optionally every view) to ``out_dir/<name>.parquet``; returns the files."""
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with read_connection(db) as con:
        for name in TABLES + (VIEWS if views else ()):
            target = out / f"{name}.parquet"
            con.execute(f"COPY (SELECT * FROM {name}) TO '{_quote(str(target))}' (FORMAT parquet)")
            written.append(target)
    return written


def _quote(text: str) -> str:
    return text.replace("'", "''")
