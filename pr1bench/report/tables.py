"""The main table (variants per task) and the perceptual-complexity-vs-gain table, from :class:`ReportData`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from pr1bench.report import paper as P
from pr1bench.report.models import model_note
from pr1bench.report.section import (
    DASH,
    VARIANT_LABEL,
    VARIANT_ORDER,
    Section,
    est_cell,
    est_fields,
    num,
    variant_command,
)  # fmt: skip
from pr1bench.report.stats import (
    Estimate,
    complexity_from_label,
    complexity_of,
    diff_ci,
    mean_ci,
    paired_diff_ci,
    spearman,
)  # fmt: skip

if TYPE_CHECKING:
    import pandas as pd

    from pr1bench.report.data import ReportData

RL_VARIANT = "grpo"


def _latest_version(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Keep one task version (the newest): numbers of different prompts/parsers must never be averaged."""
    versions = sorted({str(v) for v in df["task_version"].dropna()}, key=lambda v: (len(v), v))
    if len(versions) <= 1:
        return df, None
    keep = versions[-1]
    return df[df["task_version"].astype(str) == keep], f"task versions {', '.join(versions)} found; showing v{keep} only"


def _one_protocol(df: pd.DataFrame, with_paper: bool) -> tuple[pd.DataFrame, str | None, str | None]:
    """Keep one evaluation protocol (numbers parsed and scored differently must never be averaged).

    Returns the rows, the protocol shown and a note when others were dropped. With ``--paper`` the paper's
    protocol (``perception-r1``) is preferred, since only its numbers may stand beside the paper's.
    """
    if "protocol" not in df.columns or not len(df):
        return df, None, None
    found = sorted({str(p) for p in df["protocol"].dropna()})
    if len(found) <= 1:
        return df, (found[0] if found else None), None
    keep = "perception-r1" if (with_paper or "perception-r1" in found) and "perception-r1" in found else found[0]
    return (df[df["protocol"] == keep], keep,
            f"runs under evaluation protocols {', '.join(found)} found; showing {keep} only")


def _seed_values(df: pd.DataFrame, variant: str, metric: str) -> np.ndarray:
    sel = df[(df["variant"] == variant) & (df["metric"] == metric)]
    return sel["value"].to_numpy(dtype=float)


def _paper_split(data: ReportData, task: str) -> str | None:
    """The paper split our runs of ``task`` evaluated (from the task config's lang/split/eval_split)."""
    runs = data.runs[data.runs["task"] == task]
    for cfg in runs["config"]:
        d = (cfg.get("task") or {}).get("data") or {}
        for key in P.SPLIT_KEYS:
            if d.get(key):
                return P.normalize_split(d[key])
    return None


def main_section(data: ReportData, task: str, *, with_paper: bool = False) -> Section:
    """Base | SFT | GRPO | CoT-GRPO | SFT-then-GRPO on one task: the metric and rewards, mean [95% CI] over seeds."""
    metric = data.primary[task]
    sec = Section(key=f"main-{task}", title=f"{task}: {metric} by variant (mean [95% CI] over seeds)", group="main")
    df, note = _latest_version(data.seeds[data.seeds["task"] == task])
    if note:
        sec.notes.append(note)
    df, protocol, pnote = _one_protocol(df, with_paper)
    if pnote:
        sec.notes.append(pnote)
    if protocol:
        sec.notes.append(f"evaluation protocol: {protocol}")
    model = model_note(data, task)
    if model:
        sec.notes.append(model)
    sec.columns = ["variant", metric, "reward_sampled", "reward_greedy", "seeds"]
    split = _paper_split(data, task) if with_paper else None
    paper_on = with_paper and task in P.REAL_TASKS and protocol in (None, P.PAPER_PROTOCOL)
    if with_paper and task in P.REAL_TASKS and not paper_on:
        sec.notes.append(f"no paper column: these runs were evaluated under protocol {protocol!r}, not the paper's "
                         f"{P.PAPER_PROTOCOL!r}; re-evaluate with eval.protocol={P.PAPER_PROTOCOL} "
                         f"(`pr1bench eval {task} --run RUN_ID eval.protocol={P.PAPER_PROTOCOL}`) to compare")
    if paper_on:
        shown = split or (P.splits_of(task) or ["?"])[0]
        sec.columns.append(f"paper ({P.METRIC_LABEL.get(metric, metric)}, {shown}, /100)")
    records, missing = [], []
    for variant in VARIANT_ORDER:
        ests = {m: mean_ci(_seed_values(df, variant, m)) for m in (metric, "reward_sampled", "reward_greedy")}
        seeds = int(df[(df["variant"] == variant) & (df["metric"] == metric)]["seed"].nunique())
        if ests[metric] is None:
            missing.append(variant)
        row = [VARIANT_LABEL[variant], *(est_cell(ests[m]) for m in ests), str(seeds)]
        rec = {"task": task, "variant": variant, "metric": metric, "seeds": seeds}
        for m, e in ests.items():
            rec |= est_fields("value" if m == metric else m, e)
        if paper_on:
            pv = P.lookup(task, metric, variant, split)
            row.append(num(P.scaled(pv.value)) if pv else DASH)
            rec["paper"] = P.scaled(pv.value) if pv else None
        sec.rows.append(row)
        records.append(rec)
    if len(missing) == len(VARIANT_ORDER):
        sec.rows = []
        sec.missing = (f"no completed runs of {task} outside sweeps report {metric!r} on split 'eval'; "
                       f"run `{variant_command(task, 'base')}` and `{variant_command(task, 'grpo')}`")
        return sec
    import pandas as pd

    sec.frame = pd.DataFrame(records)
    for v in missing:
        sec.notes.append(f"missing {VARIANT_LABEL[v]}: `{variant_command(task, v)}`")
    if any(r[-2 if paper_on else -1] == "1" for r in sec.rows):
        sec.notes.append("n=1: a single seed, so no interval; add seeds with --seed 1, --seed 2 ...")
    if paper_on:
        sec.notes.append(f"paper: {P.SOURCE}; published percentages divided by 100 to match our scale")
    return sec


# ---------------------------------------------------------------- complexity vs gain


def bucket_complexity(data: ReportData, task: str, labels: list[str]) -> dict[str, dict[str, float | str]]:
    """Per bucket: mean n!, mean ln n!, median n!, from stored per-sample counts, else from the bucket label."""
    ns = data.bucket_ns[data.bucket_ns["task"] == task]
    out: dict[str, dict[str, float | str]] = {}
    for lab in labels:
        sel = ns[ns["bucket"] == lab]
        if len(sel):
            counts = np.repeat(sel["n"].to_numpy(dtype=float), sel["count"].to_numpy(dtype=int))
            out[lab] = {**complexity_of(counts), "source": "samples"}
        else:
            c = complexity_from_label(lab)
            out[lab] = {**(c or {"mean_fact": math.nan, "mean_log_fact": math.nan, "median_fact": math.nan}),
                        "source": "label" if c else "unknown"}
    return out


def _bucket_order(labels: list[str]) -> list[str]:
    from pr1bench.report.stats import bucket_range

    def key(lab: str) -> tuple[int, str]:
        r = bucket_range(lab)
        return (r[0] if r else 10**9, lab)

    return sorted(labels, key=key)


def _single_seed_gain(data: ReportData, task: str, bucket: str, a: str, b: str) -> Estimate | None:
    """Fallback gain interval over samples (per-sample score), paired by sample id; needs samples in the store."""
    scores = data.sample_scores
    if scores is None or not len(scores):
        return None
    sel = scores[(scores["task"] == task) & (scores["bucket"] == bucket)]
    wa = sel[sel["variant"] == a].set_index("sample_id")["score"]
    wb = sel[sel["variant"] == b].set_index("sample_id")["score"]
    common = wa.index.intersection(wb.index)
    if len(common) < 2:
        return None
    return paired_diff_ci(wa.loc[common].to_numpy(), wb.loc[common].to_numpy())


def _gain(data: ReportData, df: pd.DataFrame, task: str, bucket: str, ref: str) -> tuple[Estimate | None, str]:
    a = df[df["variant"] == RL_VARIANT]["value"].to_numpy(dtype=float)
    b = df[df["variant"] == ref]["value"].to_numpy(dtype=float)
    est = diff_ci(a, b)
    if est is None or est.has_interval:
        return est, "seeds" if est else DASH
    fallback = _single_seed_gain(data, task, bucket, RL_VARIANT, ref)
    if fallback is not None and fallback.has_interval:
        return est, f"samples: score gain {est_cell(fallback, sign=True)}"
    return est, "none (1 seed)"


def complexity_section(data: ReportData, task: str) -> Section:
    """Per complexity bucket: complexity, RL-minus-SFT and RL-minus-base gains, and their Spearman correlation."""
    metric = data.primary[task]
    sec = Section(key=f"complexity-{task}", title=f"{task}: perceptual complexity vs gain in {metric} "
                  f"({VARIANT_LABEL[RL_VARIANT]} minus SFT / base)", group="complexity")  # fmt: skip
    df = data.buckets[data.buckets["task"] == task]
    labels = _bucket_order(sorted(set(df["bucket"])))
    if not labels:
        sec.missing = (f"no per-bucket metrics for {task} (completed runs outside sweeps whose eval.json has "
                       f"`buckets`); run `{variant_command(task, 'grpo')}` and `{variant_command(task, 'sft')}`")
        return sec
    cx = bucket_complexity(data, task, labels)
    sec.columns = ["bucket", "samples", "mean n!", "mean ln n!", "median n!", "RL−SFT [95% CI]", "CI over (SFT)",
                   "RL−base [95% CI]", "CI over (base)"]
    records = []
    for lab in labels:
        sub = df[df["bucket"] == lab]
        g_sft, basis_sft = _gain(data, sub, task, lab, "sft")
        g_base, basis_base = _gain(data, sub, task, lab, "base")
        n = sub["n"].max()
        c = cx[lab]
        sec.rows.append([lab, DASH if n is None or math.isnan(n) else str(int(n)), num(c["mean_fact"]),
                         num(c["mean_log_fact"]), num(c["median_fact"]), est_cell(g_sft, sign=True), basis_sft,
                         est_cell(g_base, sign=True), basis_base])  # fmt: skip
        records.append({"task": task, "bucket": lab, "metric": metric, **{k: c[k] for k in c},
                        **est_fields("gain_sft", g_sft), **est_fields("gain_base", g_base)})
    import pandas as pd

    sec.frame = pd.DataFrame(records)
    sec.notes += _spearman_notes(sec.frame)
    if any(c["source"] == "label" for c in cx.values()):
        sec.notes.append("complexity of some buckets is computed from the bucket label (counts assumed uniform "
                         "over its range; an open bucket like '11+' at its lower edge) because no samples are stored")
    return sec


def _spearman_notes(frame: pd.DataFrame) -> list[str]:
    notes = []
    for col, name in (("gain_sft", "RL−SFT"), ("gain_base", "RL−base")):
        ok = frame[frame[col].notna()]
        res = spearman(ok["mean_log_fact"].tolist(), ok[col].tolist())
        if res is None:
            why = f"{len(ok)} bucket(s) with a gain" if len(ok) < 3 else "a constant series"
            notes.append(f"Spearman(mean ln n!, {name}): n/a ({why}; needs >= 3 buckets that vary)")
        else:
            notes.append(f"Spearman(mean ln n!, {name}) over {len(ok)} buckets: rho = {res[0]:+.3f}, p = {res[1]:.3g}")
    frame.attrs["spearman"] = notes
    return notes
