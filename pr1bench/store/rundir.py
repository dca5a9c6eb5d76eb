"""Read one run directory into Arrow tables, without touching the results database.

Parsing happens here, in a private in-memory DuckDB, *before* the database file is opened for writing: the
write lock is then held only for the delete-and-insert itself, however big the run. DuckDB's vectorised JSON
and Parquet readers do the heavy lifting (a Python ``json.loads`` loop is ~5x slower on metrics.jsonl).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from pr1bench.store.timeutil import parse_utc, utcnow

if TYPE_CHECKING:
    import duckdb

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.parquet"
STATUSES = ("running", "completed", "failed", "killed", "pruned")  # pruned: stopped by a sweep's pruner
VARIANTS = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
_RUN_FIELDS = (
    "run_id", "task", "task_version", "variant", "model", "seed", "config", "config_hash", "git_sha",
    "packages", "coords", "answer_format", "pixels", "host", "started_at", "ended_at", "status", "error",
    "sweep", "trial", "parent_run", "pr1bench_version",
)  # fmt: skip
_STEP_KEYS = ("step", "epoch", "time", "phase")
_SAMPLE_COLUMNS = {  # parquet column -> (table column, SQL type); split is handled on its own
    "id": ("sample_id", "VARCHAR"),
    "n": ("n", "BIGINT"),
    "bucket": ("bucket", "VARCHAR"),
    "prompt": ("prompt", "VARCHAR"),
    "completion": ("completion", "VARCHAR"),
    "parsed": ("parsed", "VARCHAR"),
    "correct": ("correct", "BOOLEAN"),
    "score": ("score", "DOUBLE"),
}
_REWARD_PREFIX = "reward/"


class IngestError(Exception):
    """A run directory that cannot be ingested at all (no or invalid run.json)."""


@dataclass
class ParsedRun:
    """Everything one run directory contributes, as Arrow tables keyed by the destination table name."""

    run_id: str
    run_dir: Path
    status: str
    tables: dict[str, pa.Table] = field(default_factory=dict)
    task_stats: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    broken_lines: list[int] = field(default_factory=list)
    skipped_values: int = 0


def is_run_dir(path: Path) -> bool:
    """A directory with a run.json in it."""
    return path.is_dir() and (path / RUN_FILE).is_file()


def parse_run_dir(run_dir: Path | str) -> ParsedRun:
    """Read run.json, metrics.jsonl, eval*.json and samples.parquet of one run.

    Raises:
        IngestError: run.json is missing, not JSON, or lacks run_id/task/variant/status.
    """
    import duckdb

    run_dir = Path(run_dir).resolve()
    meta = _load_run_json(run_dir)
    parsed = ParsedRun(run_id=meta["run_id"], run_dir=run_dir, status=meta["status"])
    if run_dir.name != parsed.run_id:
        parsed.warnings.append(f"directory name {run_dir.name!r} differs from run_id {parsed.run_id!r}")
    mem = duckdb.connect()
    try:
        _read_metrics(mem, run_dir / METRICS_FILE, parsed)
        _read_evals(run_dir, meta, parsed)
        _read_samples(mem, run_dir / SAMPLES_FILE, parsed)
    finally:
        mem.close()
    parsed.tables["runs"] = _runs_row(meta, parsed)
    return parsed


# ---------------------------------------------------------------- run.json


def _load_run_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise IngestError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise IngestError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise IngestError(f"{path}: expected a JSON object")
    if meta.get("role") == "worker":
        raise IngestError(f"{path}: the worker record of machine {meta.get('distributed', {}).get('machine_rank')} "
                          f"in run {meta.get('main_run')!r}, not a run: that run is ingested from machine 0's "
                          "results dir")
    for key in ("run_id", "task", "variant", "status"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise IngestError(f"{path}: key {key!r} is missing or not a non-empty string")
    if meta["status"] not in STATUSES:
        raise IngestError(f"{path}: status {meta['status']!r} is not one of {', '.join(STATUSES)}")
    return meta


def _opt_int(meta: dict[str, Any], key: str, parsed: ParsedRun) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        parsed.warnings.append(f"run.json {key}={value!r} is not an integer; stored as NULL")
        return None


def _opt_time(meta: dict[str, Any], key: str, parsed: ParsedRun) -> Any:
    try:
        return parse_utc(meta.get(key))
    except ValueError:
        parsed.warnings.append(f"run.json {key}={meta.get(key)!r} is not ISO 8601; stored as NULL")
        return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _runs_row(meta: dict[str, Any], parsed: ParsedRun) -> pa.Table:
    """The one ``runs`` row; unknown run.json keys go to ``extra`` so nothing the trainer wrote is lost."""
    if meta["variant"] not in VARIANTS:
        parsed.warnings.append(f"variant {meta['variant']!r} is not one of {', '.join(VARIANTS)}")
    pixels = meta.get("pixels") if isinstance(meta.get("pixels"), dict) else {}
    extra = {k: v for k, v in meta.items() if k not in _RUN_FIELDS}
    row = {
        "run_id": meta["run_id"],
        "task": meta["task"],
        "task_version": _opt_str(meta.get("task_version")),
        "variant": meta["variant"],
        "model": _opt_str(meta.get("model")),
        "seed": _opt_int(meta, "seed", parsed),
        "config": json.dumps(meta.get("config"), sort_keys=True),
        "config_hash": _opt_str(meta.get("config_hash")),
        "git_sha": _opt_str(meta.get("git_sha")),
        "packages": json.dumps(meta.get("packages"), sort_keys=True),
        "coords": _opt_str(meta.get("coords")),
        "answer_format": _opt_str(meta.get("answer_format")),
        "min_pixels": _opt_int(pixels, "min_pixels", parsed),
        "max_pixels": _opt_int(pixels, "max_pixels", parsed),
        "host": _opt_str(meta.get("host")),
        "started_at": _opt_time(meta, "started_at", parsed),
        "ended_at": _opt_time(meta, "ended_at", parsed),
        "status": meta["status"],
        "error": _opt_str(meta.get("error")),
        "sweep": _opt_str(meta.get("sweep")),
        "trial": _opt_int(meta, "trial", parsed),
        "parent_run": _opt_str(meta.get("parent_run")),
        "pr1bench_version": _opt_str(meta.get("pr1bench_version")),
        "extra": json.dumps(extra, sort_keys=True, default=str) if extra else None,
        "run_dir": str(parsed.run_dir),
        "ingested_at": utcnow(),
        "ingest_notes": json.dumps(parsed.warnings) if parsed.warnings else None,
    }
    return pa.Table.from_pylist([row])


# ---------------------------------------------------------------- metrics.jsonl


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _metric_keys(mem: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Every key any line uses (a key may first appear late, e.g. ``eval/*`` at the first eval step)."""
    rows = mem.sql(
        "SELECT DISTINCT unnest(json_keys(json)) FROM read_ndjson_objects(?, ignore_errors = true)",
        params=[str(path)],
    ).fetchall()
    seen: set[str] = set()
    keys = []
    for (key,) in rows:
        # DuckDB column names are case-insensitive: keep the first spelling of each.
        if key.lower() not in seen and key.lower() not in _STEP_KEYS:
            seen.add(key.lower())
            keys.append(key)
    return sorted(keys)


def _read_metrics(mem: duckdb.DuckDBPyConnection, path: Path, parsed: ParsedRun) -> None:
    """metrics.jsonl -> long ``train_metrics`` rows; broken lines are reported, not fatal.

    JSON nulls are dropped silently (a key absent from a line looks the same after the wide read); NaN,
    infinities and non-numeric values are dropped and counted in ``skipped_values``.
    """
    import duckdb

    if not path.is_file() or path.stat().st_size == 0:
        return
    keys = _metric_keys(mem, path)
    try:
        wide = _read_wide(mem, path, keys, strict=True)
    except duckdb.InvalidInputException:
        wide = _read_wide(mem, path, keys, strict=False)
    stepless = wide.column("step").null_count
    if stepless or path.read_bytes()[-1:] != b"\n":
        _report_bad_lines(mem, path, parsed)
    if not keys:
        return
    if stepless:
        wide = wide.filter(pc.is_valid(wide.column("step")))
    present = sum(wide.num_rows - wide.column(k).null_count for k in keys)  # UNPIVOT drops the nulls
    parsed.tables["train_metrics"] = _unpivot_metrics(mem, wide, keys, parsed.run_id)
    skipped = present - parsed.tables["train_metrics"].num_rows
    parsed.skipped_values += skipped
    if skipped:
        parsed.warnings.append(f"{METRICS_FILE}: skipped {skipped} non-finite or non-numeric values")


def _read_wide(mem: duckdb.DuckDBPyConnection, path: Path, keys: list[str], *, strict: bool) -> pa.Table:
    """One row per log line, one column per key.

    ``strict`` is the fast path for a clean file: metrics typed DOUBLE, any broken line or non-numeric value
    raises. The lenient path reads metrics as JSON (a string or list nulls just that value, counted later by
    TRY_CAST) and turns unparseable lines (a run killed mid-write) into all-NULL rows.
    """
    columns = {"step": "DOUBLE", "epoch": "DOUBLE", "time": "DOUBLE", "phase": "VARCHAR"}
    columns |= dict.fromkeys(keys, "DOUBLE" if strict else "JSON")
    struct = "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(t)}" for k, t in columns.items()) + "}"
    return mem.sql(
        f"SELECT * FROM read_json(?, format = 'newline_delimited', ignore_errors = {str(not strict).lower()}, "
        f"columns = {struct})",
        params=[str(path)],
    ).to_arrow_table()


def _unpivot_metrics(
    mem: duckdb.DuckDBPyConnection, wide: pa.Table, keys: list[str], run_id: str
) -> pa.Table:
    """Wide log lines -> one row per (step, metric), finite values only.

    run_id and name come out as ENUMs, i.e. Arrow dictionary columns: the database appends those markedly
    faster than a million repeated strings.
    """
    names = "ENUM(" + ", ".join(_sql_str(k) for k in keys) + ")"
    mem.register("wide", wide)
    try:
        return mem.sql(
            f"""
            SELECT CAST({_sql_str(run_id)} AS ENUM({_sql_str(run_id)})) AS run_id, step, phase,
                   CAST(name AS {names}) AS name, value, epoch, time
            FROM (SELECT CAST(step AS BIGINT) AS step, phase, name, TRY_CAST(value AS DOUBLE) AS value, epoch, time
                  FROM (UNPIVOT wide ON COLUMNS(* EXCLUDE (step, epoch, time, phase)) INTO NAME name VALUE value))
            WHERE isfinite(value)
            """
        ).to_arrow_table()
    finally:
        mem.unregister("wide")


def _report_bad_lines(mem: duckdb.DuckDBPyConnection, path: Path, parsed: ParsedRun) -> None:
    """Find the exact line numbers of unparseable or step-less lines (only run when some exist)."""
    rows = mem.sql(
        """
        SELECT line, json_valid(l) AS ok
        FROM (SELECT row_number() OVER () AS line, l
              FROM read_csv(?, columns = {'l': 'VARCHAR'}, delim = '\x1f', quote = '', escape = '',
                            header = false, auto_detect = false, strict_mode = false,
                            max_line_size = 1000000000))
        WHERE l IS NOT NULL AND trim(l) <> ''
          AND (NOT json_valid(l) OR TRY_CAST(l::JSON ->> 'step' AS DOUBLE) IS NULL)
        ORDER BY line
        """,
        params=[str(path)],
    ).fetchall()
    for line, ok in rows:
        parsed.broken_lines.append(int(line))
        reason = "no numeric step" if ok else "not valid JSON (truncated?)"
        parsed.warnings.append(f"{METRICS_FILE} line {line}: {reason}; skipped")


# ---------------------------------------------------------------- eval*.json


def _number(value: Any) -> float | None:
    """A finite float, else None (eval metrics keep the row with a NULL value)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _eval_files(run_dir: Path) -> list[Path]:
    files = [run_dir / "eval.json"] if (run_dir / "eval.json").is_file() else []
    return files + sorted(p for p in run_dir.glob("eval-*.json") if p.is_file())


def _read_evals(run_dir: Path, meta: dict[str, Any], parsed: ParsedRun) -> None:
    """eval.json and eval-<split>.json -> ``evals`` and ``eval_metrics`` rows (+ task_stats candidates)."""
    eval_rows: list[dict[str, Any]] = []
    metric_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in _eval_files(run_dir):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            parsed.warnings.append(f"{path.name}: not valid JSON ({e}); skipped")
            continue
        default_split = path.stem.removeprefix("eval-") if path.stem != "eval" else "eval"
        split = str(doc.get("split") or default_split)
        if split in seen:
            parsed.warnings.append(f"{path.name}: split {split!r} already read from another file; skipped")
            continue
        seen.add(split)
        eval_rows.append(_eval_row(parsed.run_id, split, doc, path.name))
        metric_rows += _eval_metric_rows(parsed, split, doc, path.name)
        parsed.task_stats.append(_task_stats_row(meta, split, doc))
    if eval_rows:
        parsed.tables["evals"] = pa.Table.from_pylist(eval_rows)
    if metric_rows:
        parsed.tables["eval_metrics"] = pa.Table.from_pylist(metric_rows)


def _eval_row(run_id: str, split: str, doc: dict[str, Any], source: str) -> dict[str, Any]:
    cx = doc.get("complexity") or {}
    return {
        "run_id": run_id, "split": split, "n": doc.get("n"),
        "mean_fact": _number(cx.get("mean_fact")), "mean_log_fact": _number(cx.get("mean_log_fact")),
        "median_fact": _number(cx.get("median_fact")),
        "notes": json.dumps(doc.get("notes") or []), "source_file": source,
    }  # fmt: skip


def _task_stats_row(meta: dict[str, Any], split: str, doc: dict[str, Any]) -> dict[str, Any]:
    cx = doc.get("complexity") or {}
    return {
        "task": meta["task"], "task_version": str(meta.get("task_version")), "split": split,
        "n_samples": doc.get("n"), "mean_fact": _number(cx.get("mean_fact")),
        "mean_log_fact": _number(cx.get("mean_log_fact")), "median_fact": _number(cx.get("median_fact")),
    }  # fmt: skip


def _ci(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return _number(value[0]), _number(value[1])
    return None, None


def _eval_metric_rows(
    parsed: ParsedRun, split: str, doc: dict[str, Any], source: str
) -> list[dict[str, Any]]:
    base = {"run_id": parsed.run_id, "split": split}
    cis = doc.get("ci") or {}
    rows = []
    for metric, value in (doc.get("metrics") or {}).items():
        lo, hi = _ci(cis.get(metric))
        rows.append(base | {"metric": metric, "bucket": "all", "value": _number(value), "n": doc.get("n"),
                            "ci_lo": lo, "ci_hi": hi})  # fmt: skip
    for label, bucket in (doc.get("buckets") or {}).items():
        if str(label) == "all":
            parsed.warnings.append(f"{source}: a bucket named 'all' clashes with the overall bucket; skipped")
            continue
        for metric, value in (bucket.get("metrics") or {}).items():
            rows.append(base | {"metric": metric, "bucket": str(label), "value": _number(value),
                                "n": bucket.get("n"), "ci_lo": None, "ci_hi": None})  # fmt: skip
    undefined = sum(r["value"] is None for r in rows)
    if undefined:
        parsed.warnings.append(f"{source}: {undefined} metric values are not finite numbers; stored as NULL")
    return rows


# ---------------------------------------------------------------- samples.parquet


def _read_samples(mem: duckdb.DuckDBPyConnection, path: Path, parsed: ParsedRun) -> None:
    """samples.parquet -> ``samples`` rows and long ``sample_rewards`` rows (``reward/<name>`` columns)."""
    if not path.is_file():
        return
    mem.execute("CREATE OR REPLACE TEMP TABLE s AS SELECT * FROM read_parquet(?)", [str(path)])
    present = {r[0] for r in mem.sql("DESCRIBE s").fetchall()}
    if "split" in present:
        split = 'CAST("split" AS VARCHAR)'
    else:
        split = "'eval'"
        parsed.warnings.append(f"{SAMPLES_FILE}: no split column; assumed 'eval'")
    selects = [f"{_sql_str(parsed.run_id)} AS run_id", f"{split} AS split"]
    for src, (dst, typ) in _SAMPLE_COLUMNS.items():
        if src in present:
            selects.append(f'CAST("{src}" AS {typ}) AS {dst}')
        elif src == "id":
            parsed.warnings.append(f"{SAMPLES_FILE}: no id column; sample_id is the row number")
            selects.append("CAST(row_number() OVER () - 1 AS VARCHAR) AS sample_id")
        else:
            selects.append(f"CAST(NULL AS {typ}) AS {dst}")
    rewards = sorted(c for c in present if c.startswith(_REWARD_PREFIX))
    selects += [f'"{c}"' for c in rewards]
    mem.execute(f"CREATE OR REPLACE TEMP TABLE s2 AS SELECT {', '.join(selects)} FROM s")
    parsed.tables["samples"] = mem.sql(
        "SELECT run_id, split, sample_id, n, bucket, prompt, completion, parsed, correct, score FROM s2"
    ).to_arrow_table()
    if rewards:
        parsed.tables["sample_rewards"] = _sample_rewards(mem, parsed, rewards)


def _sample_rewards(mem: duckdb.DuckDBPyConnection, parsed: ParsedRun, rewards: list[str]) -> pa.Table:
    cols = ", ".join(f'CAST(s2."{c}" AS DOUBLE) AS "{c}"' for c in rewards)
    mem.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE r AS
        SELECT * FROM (UNPIVOT (SELECT s2.split AS split, s2.sample_id AS sample_id, {cols} FROM s2)
                       ON COLUMNS(* EXCLUDE (split, sample_id)) INTO NAME name VALUE value)
        """
    )
    (skipped,) = mem.execute("SELECT count(*) FROM r WHERE NOT isfinite(value)").fetchall()[0]
    if skipped:
        parsed.skipped_values += skipped
        parsed.warnings.append(f"{SAMPLES_FILE}: skipped {skipped} non-finite reward values")
    return mem.sql(
        f"SELECT {_sql_str(parsed.run_id)} AS run_id, split, sample_id, "
        f"substr(name, {len(_REWARD_PREFIX) + 1}) AS name, value FROM r WHERE isfinite(value)"
    ).to_arrow_table()
