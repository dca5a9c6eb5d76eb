"""Ablation tables, found in the stored configs rather than declared: runs that differ only in one axis.

For each axis (matching, CoT, reward terms, rollouts, KL beta, target order) every completed run gets the
axis's value (read from ``runs.config``) and a *context*: a hash of its whole resolved config with that axis,
the seed and sweep bookkeeping removed. Runs sharing a context differ only in the axis, so each context that
holds two or more levels is a controlled comparison; seeds within one (context, level) are the replicates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pr1bench.report import paper as P
from pr1bench.report.section import VARIANT_LABEL, Section, est_cell, est_fields, num, signed
from pr1bench.report.stats import mean_ci

if TYPE_CHECKING:
    import pandas as pd

    from pr1bench.report.data import ReportData

Config = dict[str, Any]
TERM_STEPS = (("box_iou", "+IoU"), ("label_match", "+cls"), ("recall_f1", "+recall"),
              ("missing_penalty", "+missing penalty"))  # fmt: skip
_BOOKKEEPING = ("seed", "sweep", "trial", "parent_run", "init_run", "study")


def _get(cfg: Config, *path: str) -> Any:
    cur: Any = cfg
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _pop(cfg: Config, *path: str) -> None:
    cur: Any = cfg
    for p in path[:-1]:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if isinstance(cur, dict):
        cur.pop(path[-1], None)


def _matching(cfg: Config) -> str | None:
    return _get(cfg, "run", "matching") or _get(cfg, "task", "matching")


def _cot(cfg: Config) -> str | None:
    v = _get(cfg, "run", "variant")
    return {"grpo": "none", "cot-grpo": "CoT"}.get(v) if v else None


def _weights(cfg: Config) -> dict[str, float]:
    return {r.get("name"): float(r.get("weight") or 0.0) for r in _get(cfg, "task", "rewards") or []
            if isinstance(r, dict)}


def reward_terms_label(cfg: Config) -> str | None:
    """Paper Table 6 row of a detection run from its non-zero reward weights; None when it has no such shape."""
    w = _weights(cfg)
    if "box_iou" not in w:
        return None
    on = [name for name, _ in TERM_STEPS if w.get(name, 0.0) != 0.0]
    for k in range(len(TERM_STEPS), 0, -1):
        if on == [n for n, _ in TERM_STEPS[:k]]:
            return TERM_STEPS[k - 1][1]
    return "+" + "+".join(on) if on else "no terms"


def _trainer(key: str) -> Callable[[Config], Any]:
    return lambda cfg: _get(cfg, "trainer", "grpo", key)


def _order(cfg: Config) -> str | None:
    return _get(cfg, "task", "data", "order")


# axis -> (title, value getter, config paths removed for the context, paper column provider)
AXES: dict[str, tuple[str, Callable[[Config], Any], list[tuple[str, ...]]]] = {
    "matching": ("Hungarian vs sequential matching", _matching, [("run", "matching"), ("task", "matching")]),
    "cot": ("CoT vs none (GRPO)", _cot, [("run", "variant")]),
    "reward-terms": ("detection reward terms added one by one", reward_terms_label,
                     [("run", "rewards"), ("task", "rewards")]),
    "rollouts": ("rollouts per prompt (num_generations)", _trainer("num_generations"),
                 [("run", "trainer", "num_generations"), ("trainer", "grpo", "num_generations")]),
    "beta": ("KL coefficient beta", _trainer("beta"), [("run", "trainer", "beta"), ("trainer", "grpo", "beta")]),
    "order": ("target order (random vs sorted)", _order, [("run", "data", "order"), ("task", "data", "order")]),
}  # fmt: skip
HOW = {
    "matching": "pr1bench sweep ablation-matching",
    "cot": "pr1bench train TASK --variant cot-grpo (beside a grpo run of the same settings)",
    "reward-terms": "pr1bench sweep ablation-reward-terms",
    "rollouts": "pr1bench sweep ablation-rollouts",
    "beta": "pr1bench sweep ablation-kl",
    "order": "pr1bench train TASK --variant grpo data.order=sorted (beside data.order=random)",
}


def flatten(cfg: Config, prefix: str = "") -> dict[str, str]:
    """Dotted path -> JSON text of every leaf (lists are leaves), computed once per run."""
    out: dict[str, str] = {}
    for k, v in cfg.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out |= flatten(v, path + ".")
        else:
            out[path] = json.dumps(v, sort_keys=True, default=str)
    return out


def _removed(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(".".join(p) for p in paths) + tuple(f"run.{k}" for k in _BOOKKEEPING)


def _dropped(key: str, drop: tuple[str, ...]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in drop)


def _flat_frame(data: ReportData) -> pd.DataFrame:
    """Runs x flattened config paths (JSON text; absent paths empty), built once per report."""
    import pandas as pd

    cached = getattr(data, "_flat", None)
    if cached is None:
        cached = pd.DataFrame([flatten(c) for c in data.runs["config"]]).fillna("")
        data._flat = cached  # type: ignore[attr-defined]
    return cached


def contexts(data: ReportData, remove: list[tuple[str, ...]]) -> list[str]:
    """Per run, a short hash of its config without the axis paths and the per-run bookkeeping (vectorised)."""
    import pandas as pd

    flat = _flat_frame(data)
    drop = _removed(remove)
    cols = sorted(c for c in flat.columns if not _dropped(c, drop))
    if not cols:
        return ["-"] * len(flat)
    hashed = pd.util.hash_pandas_object(flat[cols], index=False)
    return [f"{int(h):016x}"[:8] for h in hashed]


def _level_frame(data: ReportData, axis: str) -> pd.DataFrame:
    """task, variant, context, level, seed, run_id of every run where the axis is defined."""
    import pandas as pd

    _, getter, remove = AXES[axis]
    levels = [getter(c) for c in data.runs["config"]]
    if all(v is None for v in levels):
        return pd.DataFrame(columns=["task", "variant", "context", "level", "seed", "run_id"])
    df = data.runs[["task", "variant", "seed", "run_id"]].assign(context=contexts(data, remove), level=levels)
    df = df[df["level"].notna()]
    if axis == "cot":
        df = df.assign(variant="grpo/cot-grpo")
    return df[["task", "variant", "context", "level", "seed", "run_id"]]


def _controlled(levels: pd.DataFrame, metrics: pd.DataFrame, metric_of: dict[str, str]) -> pd.DataFrame:
    """Per (task, context, level, metric): per-seed values, keeping contexts with >= 2 levels."""
    if levels.empty:
        return levels
    n_levels = levels.groupby(["task", "context"])["level"].transform(lambda s: s.astype(str).nunique())
    levels = levels[n_levels >= 2]
    merged = levels.merge(metrics[metrics["run_id"].isin(set(levels["run_id"]))], on="run_id")
    merged = merged[(merged["metric"] == merged["task"].map(metric_of)) | merged["metric"].isin(["AP50", "AP75"])]
    keys = ["task", "variant", "context", "level", "metric", "seed"]
    return merged.groupby(keys, dropna=False)["value"].mean().reset_index()


def _sort_levels(levels: list[Any], axis: str) -> list[Any]:
    fixed = {"reward-terms": [label for _, label in TERM_STEPS], "cot": ["none", "CoT"],
             "matching": ["hungarian", "sequential"], "order": ["random", "sorted"]}.get(axis)
    if fixed:
        return sorted(levels, key=lambda v: (fixed.index(v) if v in fixed else 99, str(v)))
    return sorted(levels, key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0, str(v)))


def ablation_section(data: ReportData, axis: str, *, with_paper: bool = False) -> Section:
    """One axis: each controlled context's levels with the metric mean [95% CI] over seeds and the change."""
    import pandas as pd

    title, _, _ = AXES[axis]
    sec = Section(key=f"ablation-{axis}", title=f"Ablation: {title}", group="ablations")
    vals = _controlled(_level_frame(data, axis), data.run_metrics, data.primary)
    if vals.empty:
        sec.missing = f"no completed runs that differ only in this axis ({title}); run `{HOW[axis]}`"
        return sec
    sec.columns = ["task", "variant", "context", "level", "metric", "mean [95% CI]", "seeds", "Δ vs first level"]
    paper_on = with_paper and axis in ("matching", "reward-terms")
    if paper_on:
        sec.columns.append("paper (/100)")
    records = []
    for (task, variant, ctx), grp in vals.groupby(["task", "variant", "context"], sort=True):
        metrics = [data.primary.get(task)] + (["AP50", "AP75"] if axis == "reward-terms" else [])
        cells = {k: g["value"].to_numpy() for k, g in grp.groupby(["metric", "level"], sort=False)}
        for metric in [m for m in metrics if m in set(grp["metric"])]:
            first = None
            for level in _sort_levels(list(dict.fromkeys(grp["level"])), axis):
                est = mean_ci(cells.get((metric, level), []))
                if est is None:
                    continue
                first = est.value if first is None else first
                row = [task, VARIANT_LABEL.get(variant, variant), ctx, str(level), metric, est_cell(est),
                       str(est.n), signed(est.value - first)]
                if paper_on:
                    row.append(_paper_cell(axis, task, level, metric))
                sec.rows.append(row)
                records.append({"task": task, "variant": variant, "context": ctx, "level": level,
                                "metric": metric, **est_fields("value", est), "delta": est.value - first})
    sec.frame = pd.DataFrame(records)
    sec.notes.append("context = hash of the resolved config without this axis, seed and sweep bookkeeping: rows "
                     "sharing one differ only in the level")
    if paper_on:
        sec.notes.append(f"paper: {P.SOURCE}")
    return sec


def _paper_cell(axis: str, task: str, level: Any, metric: str) -> str:
    if axis == "reward-terms":
        pv = P.REWARD_TERMS.get(str(level), {}).get(metric)
        return num(P.scaled(pv)) if pv is not None and task in ("detection", "coco-detection") else "–"
    pv_map = P.MATCHING.get((task, str(level)))
    return num(P.scaled(next(iter(pv_map.values())))) if pv_map else "–"


def ablation_sections(data: ReportData, *, with_paper: bool = False) -> list[Section]:
    """Every axis, in the paper's order."""
    return [ablation_section(data, axis, with_paper=with_paper) for axis in AXES]
