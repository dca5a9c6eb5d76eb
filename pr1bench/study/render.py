"""The study report (Markdown + plots) and its reference numbers (JSON) for `nox -s repro`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pr1bench.report.stats import diff_ci, mean_ci
from pr1bench.study.findings import Finding, StudyData, buckets_of, fmt_est, values_of

VARIANTS = ("base", "sft", "grpo", "cot-grpo", "sft-grpo")
REFERENCE_VERSION = 2
"""1: values and overall verdicts. 2 adds each task's verdict per finding, the evaluation images per task and the
statistics method; `study check` reads both (it compares the values, which mean the same in both)."""

VERDICT_RULE = (
    "Each task's verdict comes from its deciding line(s): *reproduced* / *not reproduced* when the 95% interval "
    "clears the claim's bound, *inconclusive* when it does not (with a power note), *no signal* when the arms sit "
    "at the floor (the base below the metric's base floor, or every compared run within `near` of chance or 0; "
    "the floors are listed below). A finding's overall verdict: tasks with no signal are shown but do not count "
    "(a finding is never reproduced by tasks the model cannot do); if no task has a signal it is *no signal*; "
    "if any task that counts is inconclusive it is *inconclusive*; if they agree it takes their verdict; if they "
    "are decided but disagree it is *mixed*, with each task's verdict in the last column.")


def _cell(values: np.ndarray) -> str:
    est = mean_ci(values)
    if est is None:
        return "-"
    if est.has_interval:
        return f"{est.value:.3f} [{est.lo:.3f}, {est.hi:.3f}]"
    return f"{est.value:.3f} (n={est.n})"


def main_table(d: StudyData, tasks: list[str], metric_of: dict[str, str], title: str) -> list[str]:
    out = [f"### {title}", "", "| task | metric | " + " | ".join(VARIANTS) + " |",
           "|---|---|" + "---|" * len(VARIANTS)]
    for task in tasks:
        metric = metric_of[task]
        cells = [_cell(values_of(d, arm="main", task=task, variant=v, metric=metric)) for v in VARIANTS]
        out.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return [*out, ""]


def bucket_table(d: StudyData, task: str, arms: list[tuple[str, str]]) -> list[str]:
    metric = d.primary[task]
    labels = buckets_of(d, task)
    out = [f"#### {task}: {metric} per complexity bucket (mean [95% CI] over seeds)", "",
           "| bucket | arm | sft | grpo | grpo - sft | sampled reward sft | sampled reward grpo |",
           "|---|---|---|---|---|---|---|"]
    for b in labels:
        for arm, label in arms:
            g, s = (values_of(d, arm=arm, task=task, variant=v, metric=metric, bucket=b) for v in ("grpo", "sft"))
            if not g.size and not s.size:
                continue
            gain = diff_ci(g, s) if g.size and s.size else None
            rs, rg = (values_of(d, arm=arm, task=task, variant=v, metric="reward_sampled", bucket=b)
                      for v in ("sft", "grpo"))
            out.append(f"| {b} | {label} | {_cell(s)} | {_cell(g)} | {fmt_est(gain)} | {_cell(rs)} | {_cell(rg)} |")
    return [*out, ""]


def finding_block(i: int, f: Finding) -> list[str]:
    out = [f"### Finding {i}: {f.claim}: **{f.verdict}**", "", f.sentence, "",
           "| task | measure | A | B | mean A | mean B | A - B [95% CI] | verdict | note |",
           "|---|---|---|---|---|---|---|---|---|"]
    for ln in f.lines:
        a = "-" if ln.a_value is None else f"{ln.a_value:.3f}"
        b = "-" if ln.b_value is None else f"{ln.b_value:.3f}"
        flag = "" if ln.decides else " (reported)"
        out.append(f"| {ln.task} | {ln.measure}{flag} | {ln.a} | {ln.b} | {a} | {b} | {fmt_est(ln.est)} | "
                   f"{ln.verdict} | {ln.note} |")
    return [*out, ""]


def model_text(meta: dict[str, Any]) -> str:
    """The study's model(s) by identity, never by machine path: study.md is shipped and read elsewhere.

    ``meta["model_identity"]`` (identity dicts or names, when the caller has them) wins; else each model in
    ``meta["model"]`` (the store's comma-separated ``runs.model`` values) is named by its manifest identity if
    the checkpoint is on this machine, else by its last path component, or its hub id.
    """
    from pr1bench.report.models import describe, describe_models

    idents = meta.get("model_identity")
    if idents:
        items = idents if isinstance(idents, list | tuple) else [idents]
        names = (describe(i if isinstance(i, dict) else {"name": str(i)}) for i in items)
        return ", ".join(dict.fromkeys(names))
    model = meta.get("model")
    if not model:
        return "embedded tiny Qwen2-VL (identity not recorded)"
    return describe_models(str(model).split(", "))


def task_verdicts(f: Finding) -> dict[str, str]:
    """Each task's verdict on the finding's deciding lines (the same rule as the overall verdict)."""
    from pr1bench.study.findings import task_verdicts as per_task

    return per_task(f.lines)


def per_task_verdicts(f: Finding) -> str:
    return "; ".join(f"{t}: {v}" for t, v in task_verdicts(f).items()) or "-"


def markdown(study: Any, d: StudyData, findings: list[Finding], *, quick: bool, meta: dict[str, Any]) -> str:
    from pr1bench.study.findings import __doc__ as stats_doc

    tasks = [t for t in study.tasks if t in d.primary]
    order_arm = next((n for n, ab in study.ablations.items() if "data.order" in ab.set), None)
    lines = [f"# Study `{study.study}`{' (quick form)' if quick else ''}", "", study.description.strip(), "",
             f"Seeds: {', '.join(map(str, d.seeds))}. Completed runs: {meta.get('runs', '?')}. "
             f"Wall time from the first run's start to the last run's end: {meta.get('span_seconds', 0) / 60:.1f} min "
             f"(summed over runs: {meta.get('run_seconds', 0) / 60:.1f} min). "
             f"Model: {model_text(meta)}.", ""]
    lines += [eval_text(d, tasks), ""]
    eq = getattr(study, "equivalence_margin", None)
    margins = ([f"CoT-GRPO - GRPO below the equivalence margin {eq:g} reads \"CoT does not help\" reproduced"]
               if eq is not None else [])
    sup = getattr(study, "superiority_margin", None)
    if sup is not None:
        margins.append(f"a beats-claim (findings 1 and 4, primary metric) whose interval lies entirely below the "
                       f"superiority margin {sup:g} reads not reproduced (no gain of that size)")
    rule = VERDICT_RULE + (" Margins (metric units): " + "; ".join(margins) + "." if margins else "")
    lines += ["## Verdicts", "", rule, "",
              "| # | claim | verdict | per task |", "|---|---|---|---|"]
    lines += [f"| {i} | {f.claim} | {f.verdict} | {per_task_verdicts(f)} |" for i, f in enumerate(findings, 1)]
    lines += ["", decided_text(findings), ""]
    if len(d.seeds) == 1:
        lines += [ONE_SEED, ""]
    lines += floors_table(d, tasks)
    lines += ["## Findings", ""]
    for i, f in enumerate(findings, 1):
        lines += finding_block(i, f)
    lines += ["## Results", ""]
    lines += main_table(d, tasks, d.primary, "Greedy primary metric per variant (mean [95% CI] over seeds)")
    lines += main_table(d, tasks, {t: "reward_sampled" for t in tasks},
                        "Sampled reward per variant (task rewards at the training temperature)")
    arms = [("main", "random")] + ([(order_arm, "sorted")] if order_arm else [])
    for task in study.high_complexity:
        if task in tasks:
            lines += bucket_table(d, task, arms)
    lines += curves_tables(d, tasks)
    lines += diagnostics_tables(d, tasks)
    lines += compute_table(meta.get("compute") or {}, tasks)
    lines += ["## Hyperparameters and their provenance", "", "| task | phase | source | sweep | trial | params |",
              "|---|---|---|---|---|---|"]
    for task, hp in meta.get("hparams", {}).items():
        for phase, h in hp.items():
            params = ", ".join(f"{k}={_short(v)}" for k, v in h.get("params", {}).items())
            lines.append(f"| {task} | {phase} | {h.get('source')} | {h.get('sweep') or '-'} | "
                         f"{h.get('trial') if h.get('trial') is not None else '-'} | {params or '-'} |")
    lines += ["", "## Statistics", "", (stats_doc or "").strip(), ""]
    return "\n".join(lines)


def eval_text(d: StudyData, tasks: list[str]) -> str:
    """How many images each run was evaluated on, per task (from the stored metric counts)."""
    df = d.metrics
    if "n" not in df.columns:
        return "Evaluation images per run: not recorded."
    parts = []
    for task in tasks:
        sel = df[(df.task == task) & (df.bucket == "all") & (df.metric == d.primary.get(task))]["n"].dropna()
        if sel.empty:
            continue
        lo, hi = int(sel.min()), int(sel.max())
        parts.append(f"{task} {lo}" if lo == hi else f"{task} {lo}-{hi}")
    if not parts:
        return "Evaluation images per run: not recorded."
    return ("Evaluation images per run (the same images for every run of a task): " + ", ".join(parts) + ". "
            "Intervals: two-level bootstrap over seeds and these images (see Statistics).")


DECIDED = ("reproduced", "not reproduced", "mixed")


ONE_SEED = (
    "**One training seed.** Every interval here covers the evaluation images only: it says whether these two "
    "trained models differ on this task, not whether the training recipes do. A line decided here can flip with "
    "another seed (training variance is not measured), so no line of this report decides a finding about the "
    "methods; the full study (3 seeds, two-level intervals over seeds and images) does.")


def decided_text(findings: list[Finding]) -> str:
    """How much the study decides: findings overall ("mixed" counts as decided) and per-task verdicts."""
    overall = sum(f.verdict in DECIDED for f in findings)
    per = [v for f in findings for v in task_verdicts(f).values()]
    told = sum(v in DECIDED for v in per)
    share = f" ({100 * told / len(per):.0f}%)" if per else ""
    return (f"Decided: {overall} of {len(findings)} findings overall, {told} of {len(per)} per-task verdicts{share} "
            f"(\"mixed\" counts as decided; \"no signal\" and \"inconclusive\" do not).")


def floors_table(d: StudyData, tasks: list[str]) -> list[str]:
    """The floors in effect for each task's primary metric, and the base value each is checked against."""
    out = ["Floors in effect (study file `floors:`; unset values take the defaults):", "",
           "| task | metric | base | base floor | chance | near |", "|---|---|---|---|---|---|"]
    for task in tasks:
        metric = d.primary.get(task, "")
        fl = d.floor_of(metric)
        base = d.base_value(task)
        out.append(f"| {task} | {metric} | {'-' if base is None else f'{base:.3f}'} | {fl.base:g} | {fl.chance:g} | "
                   f"{fl.near:g} |")
    return [*out, ""]


CURVE_POINTS = 10  # rows per curve in the report's table (the plot has every point)


def curve_frame(d: StudyData, task: str) -> Any:
    """Per variant, phase and intermediate-eval step, mean over seeds (main arm): the greedy metric on the
    intermediate subset, the training reward (GRPO) or loss (SFT) at the nearest logged step at or before it, and
    training seconds (log time since the phase's first log, intermediate evaluation time excluded)."""
    import pandas as pd

    cols = ["variant", "phase", "step", "seeds", "metric", "reward", "loss", "seconds"]
    c = d.curves
    metric = d.primary.get(task, "")
    if c is None or len(c) == 0 or not metric:
        return pd.DataFrame(columns=cols)
    runs = d.metrics[(d.metrics.task == task) & (d.metrics.arm == "main")][["run_id", "variant", "seed"]]
    runs = runs.drop_duplicates("run_id")
    c = c.merge(runs, on="run_id")
    rows = []
    for (run_id, phase), g in c.groupby(["run_id", "phase"]):
        wide = g.pivot_table(index="step", columns="name", values="value", aggfunc="last").sort_index()
        times = g.groupby("step")["time"].max().sort_index()
        if f"eval/{metric}" not in wide.columns:
            continue
        ev_secs = wide["eval/seconds"].fillna(0.0).cumsum() if "eval/seconds" in wide.columns else 0.0 * times
        t0 = float(times.iloc[0])
        variant = str(g["variant"].iloc[0])
        for step, val in wide[f"eval/{metric}"].dropna().items():
            def at(name: str, step: Any = step, wide: Any = wide) -> float:
                if name not in wide.columns:
                    return math.nan
                ser = wide[name].dropna()
                ser = ser[ser.index <= step]
                return float(ser.iloc[-1]) if len(ser) else math.nan
            secs = float(times.loc[step]) - t0 - float(ev_secs.loc[step])
            rows.append({"variant": variant, "phase": str(phase), "step": int(step), "run_id": run_id,
                         "metric": float(val), "reward": at("reward"), "loss": at("loss"), "seconds": secs})
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    agg = df.groupby(["variant", "phase", "step"]).agg(
        seeds=("run_id", "nunique"), metric=("metric", "mean"), reward=("reward", "mean"), loss=("loss", "mean"),
        seconds=("seconds", "mean")).reset_index()
    order = {v: i for i, v in enumerate(VARIANTS)}
    agg["o"] = agg["variant"].map(order).fillna(99)
    return agg.sort_values(["o", "phase", "step"]).drop(columns="o")[cols]


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def curves_tables(d: StudyData, tasks: list[str]) -> list[str]:
    """Learning curves of every trained variant (both phases), from the intermediate evaluations."""
    out: list[str] = []
    for task in tasks:
        df = curve_frame(d, task)
        if df.empty:
            continue
        metric = d.primary[task]
        if not out:
            out = ["## Learning curves", "",
                   "Greedy primary metric on the intermediate-evaluation subset (`eval.n_intermediate` images, "
                   "every `eval.every_steps` steps; mean over seeds, main arm) beside the training reward (GRPO: "
                   "mean sampled reward of the step's groups) or loss (SFT), and the training seconds at that step "
                   "(intermediate evaluation excluded). sft-grpo shows both of its phases. At most "
                   f"{CURVE_POINTS} evenly spaced rows per curve; `study_curves.png` has every point.", ""]
        out += [f"### {task}: {metric}", "",
                f"| variant | phase | step | train s | seeds | {metric} (greedy) | reward (train) | loss (train) |",
                "|---|---|---|---|---|---|---|---|"]
        for (variant, phase), g in df.groupby(["variant", "phase"], sort=False):
            idx = np.unique(np.linspace(0, len(g) - 1, min(CURVE_POINTS, len(g))).round().astype(int))
            for r in g.iloc[idx].itertuples(index=False):
                out.append(f"| {variant} | {phase} | {r.step} | {_f(r.seconds, 1)} | {r.seeds} | {_f(r.metric)} | "
                           f"{_f(r.reward)} | {_f(r.loss)} |")
        out.append("")
    return out


def diagnostics_frame(d: StudyData, task: str, kind: str) -> Any:
    """Per variant and bucket (main arm, every seed's images pooled): counting bias or detection P/R."""
    import pandas as pd

    s = d.samples
    if s is None or len(s) == 0 or "n" not in s.columns:
        return pd.DataFrame()
    runs = d.metrics[(d.metrics.task == task) & (d.metrics.arm == "main")][["run_id", "variant"]].drop_duplicates()
    s = s.merge(runs, on="run_id")
    if s.empty:
        return pd.DataFrame()
    s = s.assign(n=s["n"].astype(float))
    rows = []
    order = {v: i for i, v in enumerate(VARIANTS)}
    labels = buckets_of(d, task)
    for variant, gv in sorted(s.groupby("variant"), key=lambda kv: order.get(kv[0], 99)):
        for bucket in [*labels, "all"]:
            g = gv if bucket == "all" else gv[gv.bucket == bucket]
            if g.empty:
                continue
            row: dict[str, Any] = {"variant": variant, "bucket": bucket, "images": len(g)}
            if kind == "counting":
                pc = g["pred_count"].astype(float)
                ok = pc.notna()
                row.update(parsed=float(ok.mean()), true=float(g.loc[ok, "n"].mean()) if ok.any() else math.nan,
                           pred=float(pc[ok].mean()) if ok.any() else math.nan,
                           bias=float((pc[ok] - g.loc[ok, "n"]).mean()) if ok.any() else math.nan)
            else:
                pb = g["pred_boxes"].astype(float).fillna(0.0)
                tp = g["score"].astype(float).fillna(0.0) * (pb + g["n"]) / 2.0
                row.update(true=float(g["n"].mean()), pred=float(pb.mean()), bias=float((pb - g["n"]).mean()),
                           precision=float(tp.sum() / pb.sum()) if pb.sum() > 0 else math.nan,
                           recall=float(tp.sum() / g["n"].sum()) if g["n"].sum() > 0 else math.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def _task_type(task: str) -> str:
    try:
        from pr1bench.spec import load_task

        return str(load_task(task).type)
    except Exception:  # a task file that moved: fall back on the name
        return task


def diagnostics_tables(d: StudyData, tasks: list[str]) -> list[str]:
    """Counting bias and detection precision/recall per variant and complexity bucket."""
    out: list[str] = []
    for task in tasks:
        kind = _task_type(task)
        if kind not in ("counting", "detection"):
            continue
        df = diagnostics_frame(d, task, kind)
        if df.empty:
            continue
        if not out:
            out = ["## Diagnostics", "",
                   "Per variant and complexity bucket, every seed's evaluation images pooled (main arm). Counting: "
                   "mean predicted minus true count over the answers that parsed (a reward that teaches "
                   "over-counting shows as a positive bias). Detection: predicted minus true boxes per image, and "
                   "precision / recall of boxes at IoU 0.5 with the right label (matched one to one; from the "
                   "stored per-image F1 and box counts).", ""]
        if kind == "counting":
            out += [f"### {task}: counting bias", "",
                    "| variant | bucket | images | parsed | mean true | mean predicted | bias |",
                    "|---|---|---|---|---|---|---|"]
            out += [f"| {r.variant} | {r.bucket} | {r.images} | {_f(r.parsed, 2)} | {_f(r.true, 2)} | "
                    f"{_f(r.pred, 2)} | {r.bias:+.2f} |" if math.isfinite(r.bias) else
                    f"| {r.variant} | {r.bucket} | {r.images} | {_f(r.parsed, 2)} | - | - | - |"
                    for r in df.itertuples(index=False)]
        else:
            out += [f"### {task}: box count bias, precision and recall", "",
                    "| variant | bucket | images | mean true | mean predicted | bias | precision | recall |",
                    "|---|---|---|---|---|---|---|---|"]
            out += [f"| {r.variant} | {r.bucket} | {r.images} | {_f(r.true, 2)} | {_f(r.pred, 2)} | {r.bias:+.2f} | "
                    f"{_f(r.precision)} | {_f(r.recall)} |" for r in df.itertuples(index=False)]
        out.append("")
    return out


def plot_curves(d: StudyData, tasks: list[str], out: Path) -> list[Path]:
    """Learning curves against training seconds: greedy metric (top) and training reward (bottom) per task."""
    from pr1bench.report.plots import COLORS, _plt, _save

    frames = {t: curve_frame(d, t) for t in tasks}
    frames = {t: f for t, f in frames.items() if not f.empty}
    if not frames:
        return []
    plt = _plt()
    fig, axes = plt.subplots(2, len(frames), figsize=(3.6 * len(frames), 5.2), squeeze=False, layout="constrained")
    for j, (task, df) in enumerate(frames.items()):
        for (variant, phase), g in df.groupby(["variant", "phase"], sort=False):
            style = "--" if variant == "sft-grpo" and phase == "sft" else "-"
            label = f"{variant}" + (f" ({phase})" if variant == "sft-grpo" else "")
            color = COLORS.get(variant, "#555")
            axes[0][j].plot(g["seconds"], g["metric"], style, marker=".", color=color, label=label)
            if g["reward"].notna().any():
                axes[1][j].plot(g["seconds"], g["reward"], style, marker=".", color=color, label=label)
        axes[0][j].set_title(f"{task}: {d.primary[task]} (greedy, intermediate)")
        axes[1][j].set_title(f"{task}: training reward")
        for ax in axes[:, j]:
            ax.set_xlabel("training seconds")
        axes[0][j].legend(loc="best")
    return _save(fig, out, "study_curves")


def compute_table(compute: dict[str, dict[str, dict[str, float]]], tasks: list[str]) -> list[str]:
    """What each variant was given to train on: the claim "same compute for SFT and GRPO" as numbers."""
    if not compute:
        return []
    out = ["## Training compute per variant", "",
           "Mean over seeds, main arm, from the trainers' logs: optimizer steps, sequences trained on (GRPO: sampled "
           "completions), tokens, and seconds in the training loop (GRPO's rollouts included; model loading, "
           "final evaluation and intermediate evaluations not). sft-grpo counts its parent SFT run too (or, with a "
           "budget, both of its own phases).", "",
           "| task | variant | steps | sequences | tokens | train seconds | processes |",
           "|---|---|---|---|---|---|---|"]
    for task in tasks:
        for v in VARIANTS:
            c = compute.get(task, {}).get(v)
            if c:
                out.append(f"| {task} | {v} | {c['steps']:.0f} | {c['sequences']:.0f} | {c['tokens']:,.0f} | "
                           f"{c['seconds']:.1f} | {c.get('layout') or '1 process'} |")
    return [*out, ""]


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def plot_gains(findings: list[Finding], out: Path) -> list[Path]:
    """GRPO - SFT per bucket, random vs sorted order, one panel per task."""
    from pr1bench.report.plots import _grid, _plt, _save

    grow = next((f for f in findings if f.key == "gain_grows"), None)
    if grow is None:
        return []
    tasks = [t for t in grow.extra if t != "x"]
    if not tasks:
        return []
    plt = _plt()
    fig, axes = _grid(plt, len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for arm, per in grow.extra[task].items():
            labels = list(per)
            ys = [per[b] if per[b] is not None else math.nan for b in labels]
            ax.plot(range(len(labels)), ys, marker="o", label=arm)
            ax.set_xticks(range(len(labels)), labels)
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_title(task)
        ax.set_xlabel("objects per image (bucket)")
        ax.set_ylabel("GRPO - SFT (greedy)")
        ax.legend(loc="best")
    return _save(fig, out, "study_gain_vs_complexity")


def plot_variants(d: StudyData, tasks: list[str], out: Path) -> list[Path]:
    """Greedy primary metric and sampled reward per variant (mean and 95% CI over seeds), one panel per task."""
    from pr1bench.report.plots import COLORS, _grid, _plt, _save

    if not tasks:
        return []
    plt = _plt()
    fig, axes = _grid(plt, 2 * len(tasks), w=3.2, h=2.6)
    for i, task in enumerate(tasks):
        for j, metric in enumerate((d.primary[task], "reward_sampled")):
            ax = axes[2 * i + j]
            for k, v in enumerate(VARIANTS):
                est = mean_ci(values_of(d, arm="main", task=task, variant=v, metric=metric))
                if est is None:
                    continue
                err = None
                if est.has_interval:
                    err = [[est.value - est.lo], [est.hi - est.value]]
                ax.bar(k, est.value, color=COLORS.get(v, "#555"), yerr=err, capsize=3)
            ax.set_xticks(range(len(VARIANTS)), [v.replace("-", "-\n") for v in VARIANTS], fontsize=7)
            ax.set_title(f"{task}: {metric}{' (greedy)' if j == 0 else ''}")
    return _save(fig, out, "study_variants")


# ----------------------------------------------------------------------------------------------- reference


def reference_numbers(d: StudyData, high: dict[str, str] | None = None) -> dict[str, float]:
    """Mean value per (arm, task, variant, metric, bucket) of the primary metric and the sampled reward, over
    all samples and in each task's high-complexity bucket (other buckets hold too few samples to pin down)."""
    out: dict[str, float] = {}
    df = d.metrics
    for (arm, task, variant, metric, bucket), grp in df.groupby(["arm", "task", "variant", "metric", "bucket"]):
        if metric not in (d.primary.get(task), "reward_sampled") or bucket not in ("all", (high or {}).get(task)):
            continue
        v = grp["value"].astype(float)
        v = v[np.isfinite(v)]
        if len(v):
            out[f"{arm}/{task}/{variant}/{metric}/{bucket}"] = round(float(v.mean()), 6)
    return dict(sorted(out.items()))


def eval_counts(d: StudyData) -> dict[str, int]:
    """Task -> the most images any of its runs was evaluated on (primary metric, all images)."""
    df = d.metrics
    if "n" not in df.columns:
        return {}
    out = {}
    for task, metric in d.primary.items():
        sel = df[(df.task == task) & (df.bucket == "all") & (df.metric == metric)]["n"].dropna()
        if not sel.empty:
            out[task] = int(sel.max())
    return out


def check_reference_doc(ref: dict[str, Any], path: Any) -> list[str]:
    """Raise ValueError for a reference this version cannot read; return warnings for an older one."""
    version = ref.get("version")
    if not isinstance(version, int) or "values" not in ref or not isinstance(ref["values"], dict):
        raise ValueError(f"{path} is not a study reference (no version/values); write one with "
                         "`pr1bench study report NAME --write-reference PATH`")
    if version > REFERENCE_VERSION:
        raise ValueError(f"{path} is reference version {version}, newer than this pr1bench reads "
                         f"({REFERENCE_VERSION}); update pr1bench, or rewrite the reference with this version")
    notes = []
    if version < 2:
        notes.append(f"{path} is a version-{version} reference (before two-level intervals, floors and per-task "
                     "verdicts): its values are compared as before; its verdicts were made by the older rules")
    return notes


def write_reference(path: Path, study: Any, d: StudyData, findings: list[Finding], *, quick: bool,
                    meta: dict[str, Any]) -> Path:
    doc = {"version": REFERENCE_VERSION, "study": study.study, "quick": quick, "seeds": d.seeds,
           "model": model_text(meta), "packages": meta.get("packages", {}),
           "statistics": "two-level bootstrap (seeds, then evaluation images shared by the compared runs)",
           "eval_n": eval_counts(d),
           "verdicts": {f.key: f.verdict for f in findings},
           "task_verdicts": {f.key: task_verdicts(f) for f in findings},
           "values": reference_numbers(d, study.high_complexity)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


TOLERANCES = {"reward_sampled": 0.15, "default": 0.10}
"""Absolute tolerances of a fresh run against the reference: a CPU rerun with the same pinned packages repeats the
numbers up to thread scheduling and BLAS differences; 0.10 on metrics in [0, 1] and 0.15 on summed rewards (up to 3
terms) allow another machine's float differences to change a few greedy answers out of the 60-100 evaluated."""


def compare_reference(ref: dict[str, Any], new: dict[str, float], tol: dict[str, float] | None = None
                      ) -> list[dict[str, Any]]:
    tol = {**TOLERANCES, **(tol or {})}
    if "*" in tol:
        tol["default"] = tol.pop("*")
    rows = []
    for key, want in ref["values"].items():
        metric = key.split("/")[3]
        t = tol.get(metric, tol["default"])
        got = new.get(key)
        ok = got is not None and abs(got - want) <= t
        rows.append({"key": key, "reference": want, "new": got, "tolerance": t, "ok": ok,
                     "diff": None if got is None else round(got - want, 6)})
    return rows
